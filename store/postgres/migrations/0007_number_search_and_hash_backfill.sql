-- Number search (store/search.go, store's schema 3) and the hash backfill's progress
-- (store/integrity.go, store's schema 4).
--
-- A number search looks for the query's digits inside the digits of a recording's caller,
-- callee or recorder (each when it is "+digits" or digits, 3–15 of them, as store's
-- partyDigits). callrec_number_digits joins the three with spaces, so a match never spans two
-- numbers, and a trigram GIN index over it (pg_trgm, a trusted extension shipped with
-- PostgreSQL) serves `LIKE '%digits%'` for queries of 3 digits or more: the index gives the
-- candidate rows, the LIKE recheck the exact rule. An expression index, not a stored column,
-- so this migration does not rewrite the recordings table.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- store's partyDigits: the digits of a party number, or '' when it is not one.
CREATE FUNCTION callrec_party_digits(p text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p ~ '^\+?[0-9]{3,15}$' THEN ltrim(p, '+') ELSE '' END
$$;

CREATE FUNCTION callrec_number_digits(caller text, callee text, recorder text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT callrec_party_digits(caller) || ' ' || callrec_party_digits(callee) || ' ' || callrec_party_digits(recorder)
$$;

CREATE INDEX recordings_number ON recordings USING gin (callrec_number_digits(caller, callee, recorder) gin_trgm_ops);

-- The hash backfill (library.HashBackfill) as store's meta key hash_backfill_pending: the one
-- row, while present, says the backfill is pending and holds the id of the last recording it
-- has passed ('' at the start); no row, nothing to backfill. A row, not instance memory, so
-- every instance resumes from the same place. Marked pending here as store's migration 4 does
-- (constant time: the rows are walked in the background).
CREATE TABLE hash_backfill (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    after text COLLATE "C" NOT NULL DEFAULT ''
);
INSERT INTO hash_backfill DEFAULT VALUES;
