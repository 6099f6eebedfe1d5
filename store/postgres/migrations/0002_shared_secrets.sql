-- Secrets every instance must share (issue 16: signed links valid on every instance): the key
-- web signs audio and archive links with is created once, by whichever instance asks first.
CREATE TABLE shared_secrets (
    name       text PRIMARY KEY,
    value      bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
