-- Encryption at rest (issue 15 item 6) and store-held archive links (issue 16 item 2), as store's
-- schema 8 and 9: a company's setting, the data key a recording is sealed with, the wrapped data
-- keys, and the selections behind signed archive links.
ALTER TABLE companies ADD COLUMN encrypt_at_rest boolean NOT NULL DEFAULT false;
ALTER TABLE recordings ADD COLUMN encryption_key_id text NOT NULL DEFAULT '';

CREATE TABLE data_keys (
    company_id    text NOT NULL REFERENCES companies (id),
    id            text NOT NULL COLLATE "C",
    created_at    timestamptz NOT NULL,
    retired_at    timestamptz,
    master_key_id text NOT NULL,
    wrapped       bytea NOT NULL,
    PRIMARY KEY (company_id, id)
);
-- At most one current key per company.
CREATE UNIQUE INDEX data_keys_current ON data_keys (company_id) WHERE retired_at IS NULL;

CREATE TABLE archive_grants (
    handle     text PRIMARY KEY,
    token_id   text NOT NULL,
    ids        text[] NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX archive_grants_token ON archive_grants (token_id, expires_at);
