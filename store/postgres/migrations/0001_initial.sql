-- callrec's PostgreSQL schema, version 1: the entities of package store (store/entity.go,
-- hold.go, audit.go, webhook.go) as tables, the bbolt indexes (store/db.go) as SQL indexes,
-- the audio worker's queue (store/queue.go) and the rule-change notification.
-- Ids are store's ULIDs (26 characters, time-sortable); times are timestamptz (UTC, microseconds).
-- Optional strings are '' as in the Go structs, never NULL, so rows map 1:1 onto them.
-- Ids that order pages (recordings, jobs, deliveries) are COLLATE "C": byte order, which is
-- ULID time order, whatever the database's collation.

CREATE TABLE brands (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    sip_domain text NOT NULL DEFAULT ''
);
-- ix_brand_domain: sip_domain unique when set.
CREATE UNIQUE INDEX brands_sip_domain ON brands (sip_domain) WHERE sip_domain <> '';

CREATE TABLE companies (
    id                      text PRIMARY KEY,
    brand_id                text NOT NULL REFERENCES brands (id),
    name                    text NOT NULL,
    on_demand               text NOT NULL DEFAULT 'disabled' CHECK (on_demand IN ('disabled', 'key', 'key_dtmf')),
    on_demand_code          text NOT NULL DEFAULT '',
    mask_code               text NOT NULL DEFAULT '',
    allow_recording_removal boolean,          -- NULL: unset (true)
    stereo                  boolean NOT NULL DEFAULT false,
    retention_days          integer NOT NULL DEFAULT 0,
    quota_mb                integer NOT NULL DEFAULT 0,
    country                 text NOT NULL DEFAULT ''
);
CREATE INDEX companies_brand ON companies (brand_id); -- ix_company_brand

CREATE TABLE ddis (
    id           text PRIMARY KEY,
    company_id   text NOT NULL REFERENCES companies (id),
    number       text NOT NULL UNIQUE,           -- ix_ddi_number (E.164)
    record_calls text NOT NULL DEFAULT 'none' CHECK (record_calls IN ('none', 'inbound', 'outbound', 'all')),
    announcement text NOT NULL DEFAULT '',
    consent      text NOT NULL DEFAULT ''
);
CREATE INDEX ddis_company ON ddis (company_id); -- ix_ddi_company

-- brand_id is the company's, kept on the row so that (brand, sip_user) can be unique
-- (ix_user_sip) without a trigger; the write path sets it from the company.
CREATE TABLE users (
    id         text PRIMARY KEY,
    company_id text NOT NULL REFERENCES companies (id),
    brand_id   text NOT NULL REFERENCES brands (id),
    name       text NOT NULL DEFAULT '',
    extension  text NOT NULL,
    sip_user   text NOT NULL,
    email      text NOT NULL DEFAULT '',
    UNIQUE (company_id, extension),                -- ix_user_ext
    UNIQUE (brand_id, sip_user)                    -- ix_user_sip
);
CREATE INDEX users_sip_user ON users (sip_user);  -- Rules.UserBySIP's platform-wide lookup

-- Only the SHA-256 of a secret is stored (store.Token.Hash).
CREATE TABLE tokens (
    id           text PRIMARY KEY,
    name         text NOT NULL DEFAULT '',
    role         text NOT NULL CHECK (role IN ('platform', 'brand', 'company_admin', 'user')),
    brand_id     text NOT NULL DEFAULT '',
    company_id   text NOT NULL DEFAULT '',
    user_id      text NOT NULL DEFAULT '',
    hash         bytea NOT NULL UNIQUE CHECK (length(hash) = 32), -- ix_token_hash
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz
);

CREATE TABLE recordings (
    id            text COLLATE "C" PRIMARY KEY,
    company_id    text NOT NULL REFERENCES companies (id),
    call_id       text NOT NULL DEFAULT '',
    type          text NOT NULL CHECK (type IN ('ddi', 'ondemand')),
    trigger       text NOT NULL CHECK (trigger IN ('ddi', 'key', 'dtmf', 'transfer', 'api')),
    direction     text NOT NULL CHECK (direction IN ('inbound', 'outbound', 'internal')),
    ddi_id        text NOT NULL DEFAULT '',
    user_id       text NOT NULL DEFAULT '',
    recorder      text NOT NULL DEFAULT '',
    caller        text NOT NULL DEFAULT '',
    callee        text NOT NULL DEFAULT '',
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    duration_ms   bigint NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
    state         text NOT NULL CHECK (state IN ('recording', 'processing', 'ready', 'failed', 'discarded')),
    file_name     text NOT NULL DEFAULT '',
    file_size     bigint NOT NULL DEFAULT 0 CHECK (file_size >= 0),
    mime          text NOT NULL DEFAULT '',
    error         text NOT NULL DEFAULT '',
    sha256        text NOT NULL DEFAULT '',
    integrity     text NOT NULL DEFAULT '',
    masks         jsonb,                          -- []store.MaskSpan
    consent       jsonb,                          -- *store.Consent
    wav_path      text NOT NULL DEFAULT '',
    mp3_path      text NOT NULL DEFAULT '',
    recorded_leg  text NOT NULL DEFAULT '',
    requester_leg text NOT NULL DEFAULT ''
);
-- The listing's keyset indexes (ix_rec_company, ix_rec_user, ix_rec_ddi, ix_rec_state): newest
-- first by (started_at, id) under each equality prefix, so a page is one index range scan.
CREATE INDEX recordings_company ON recordings (company_id, started_at DESC, id DESC);
CREATE INDEX recordings_company_user ON recordings (company_id, user_id, started_at DESC, id DESC) WHERE user_id <> '';
CREATE INDEX recordings_company_ddi ON recordings (company_id, ddi_id, started_at DESC, id DESC) WHERE ddi_id <> '';
CREATE INDEX recordings_state ON recordings (state, started_at DESC, id DESC);
CREATE INDEX recordings_call ON recordings (call_id);
-- Exact caller/callee filters (store walks its number index, store/search.go, for these).
CREATE INDEX recordings_company_caller ON recordings (company_id, caller, started_at DESC, id DESC);
CREATE INDEX recordings_company_callee ON recordings (company_id, callee, started_at DESC, id DESC);

-- The audio worker's durable queue (store.Job). claimable_at is store/queue.go's due-index key:
-- the later of not_before and lease_until (GREATEST ignores a NULL lease).
CREATE TABLE jobs (
    id           text COLLATE "C" PRIMARY KEY,
    recording_id text COLLATE "C" NOT NULL UNIQUE REFERENCES recordings (id) ON DELETE CASCADE, -- ix_job_rec
    wav_path     text NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    not_before   timestamptz NOT NULL,
    lease_until  timestamptz,
    last_error   text NOT NULL DEFAULT '',
    claimable_at timestamptz NOT NULL GENERATED ALWAYS AS (GREATEST(not_before, lease_until)) STORED
);
CREATE INDEX jobs_claimable ON jobs (claimable_at, id);

-- Legal holds (store.Hold).
CREATE TABLE holds (
    id           text PRIMARY KEY,
    company_id   text NOT NULL REFERENCES companies (id),
    kind         text NOT NULL,
    recording_id text NOT NULL DEFAULT '',
    call_id      text NOT NULL DEFAULT '',
    number       text NOT NULL DEFAULT '',
    from_at      timestamptz,
    to_at        timestamptz,
    reason       text NOT NULL DEFAULT '',
    created_by   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    released_by  text NOT NULL DEFAULT '',
    released_at  timestamptz
);
CREATE INDEX holds_company_active ON holds (company_id) WHERE released_at IS NULL;

-- The audit log (store.AuditEntry): one hash chain per chain name, seq dense within it.
CREATE TABLE audit (
    chain        text NOT NULL,
    seq          bigint NOT NULL,
    at           timestamptz NOT NULL,
    action       text NOT NULL,
    brand_id     text NOT NULL DEFAULT '',
    company_id   text NOT NULL DEFAULT '',
    recording_id text NOT NULL DEFAULT '',
    target       text NOT NULL DEFAULT '',
    detail       text NOT NULL DEFAULT '',
    token_id     text NOT NULL DEFAULT '',
    role         text NOT NULL DEFAULT '',
    address      text NOT NULL DEFAULT '',
    prev_hash    text NOT NULL,
    hash         text NOT NULL,
    PRIMARY KEY (chain, seq)
);

-- Webhooks (store.Webhook; secret stored as the bbolt store does) and their delivery outbox
-- (store.Delivery), a leased queue like jobs.
CREATE TABLE webhooks (
    id          text PRIMARY KEY,
    company_id  text NOT NULL REFERENCES companies (id),
    url         text NOT NULL,
    events      text[] NOT NULL DEFAULT '{}',
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL,
    secret_hint text NOT NULL DEFAULT '',
    secret      text NOT NULL
);
CREATE INDEX webhooks_company ON webhooks (company_id);

CREATE TABLE deliveries (
    id              text COLLATE "C" PRIMARY KEY,
    webhook_id      text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    company_id      text NOT NULL,
    event           text NOT NULL,
    recording_id    text NOT NULL DEFAULT '',
    call_id         text NOT NULL DEFAULT '',
    payload         jsonb NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    state           text NOT NULL,
    next_attempt_at timestamptz,
    last_status     integer NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz,
    lease_until     timestamptz,
    -- ix_delivery_due: a pending delivery is claimable at the later of its next attempt and its lease.
    claimable_at    timestamptz GENERATED ALWAYS AS (GREATEST(next_attempt_at, lease_until)) STORED
);
CREATE INDEX deliveries_due ON deliveries (claimable_at, id) WHERE state = 'pending';
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id DESC);                  -- ix_delivery_webhook
-- ix_delivery_once: recording.missing is sent once per webhook and call.
CREATE UNIQUE INDEX deliveries_once ON deliveries (webhook_id, event, call_id) WHERE event = 'recording.missing' AND call_id <> '';

-- Rule changes: every committed change of a row the call path's Rules snapshot is built from
-- (store/rules.go: brands, companies, DDIs, users) notifies channel callrec_rules, so every
-- instance rebuilds its snapshot. A trigger, not the write path, so no writer can forget it;
-- NOTIFY is delivered at commit and only then (PostgreSQL docs, NOTIFY).
CREATE FUNCTION callrec_notify_rules() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('callrec_rules', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
CREATE TRIGGER brands_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON brands
    FOR EACH STATEMENT EXECUTE FUNCTION callrec_notify_rules();
CREATE TRIGGER companies_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON companies
    FOR EACH STATEMENT EXECUTE FUNCTION callrec_notify_rules();
CREATE TRIGGER ddis_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ddis
    FOR EACH STATEMENT EXECUTE FUNCTION callrec_notify_rules();
CREATE TRIGGER users_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION callrec_notify_rules();
