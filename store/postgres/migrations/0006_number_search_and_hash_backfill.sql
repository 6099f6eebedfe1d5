-- Number search (store/search.go, store's schema 3) and the hash backfill's progress
-- (store/integrity.go, store's schema 4).
--
-- A number search looks for the query's digits inside the digits of a recording's caller,
-- callee or recorder (each when it is "+digits" or digits, 3–15 of them, as store's
-- partyDigits). Column number_digits holds the three joined with spaces (so a match never spans
-- two numbers), and a trigram GIN index over it (pg_trgm, a trusted extension shipped with
-- PostgreSQL) serves `number_digits LIKE '%digits%'` for queries of 3 digits or more: the index
-- gives the candidate rows, the LIKE recheck the exact rule. When most rows match (a short
-- query), the planner walks the company's time index instead and the LIKE is a filter.
--
-- A stored column, not an expression index, because a page that walks the time index
-- evaluates the condition on every row it passes: computing the digits per row made a page of
-- a number held by one row in 50 cost ~11 ms at 1M rows, reading them ~2.4 ms. The price is
-- paid once, here: adding the column rewrites the recordings table under an exclusive lock
-- (~17 s for 1M rows on the test machine, index builds included, against ~7 s for the
-- expression index alone), during which the other instances' reads and writes of recordings
-- wait.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- store's partyDigits: the digits of a party number (one leading '+' dropped), or '' when it is
-- not one. Written without a regular expression, which cost three times as much per row (a
-- search's page evaluates it on every row it looks at); d is spelled out three times so the
-- function stays one inlinable expression.
CREATE FUNCTION callrec_party_digits(p text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN length(CASE WHEN left(p, 1) = '+' THEN substr(p, 2) ELSE p END) BETWEEN 3 AND 15
            AND ltrim(CASE WHEN left(p, 1) = '+' THEN substr(p, 2) ELSE p END, '0123456789') = ''
        THEN CASE WHEN left(p, 1) = '+' THEN substr(p, 2) ELSE p END
        ELSE '' END
$$;

CREATE FUNCTION callrec_number_digits(caller text, callee text, recorder text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT callrec_party_digits(caller) || ' ' || callrec_party_digits(callee) || ' ' || callrec_party_digits(recorder)
$$;

ALTER TABLE recordings ADD COLUMN number_digits text GENERATED ALWAYS AS (callrec_number_digits(caller, callee, recorder)) STORED;
CREATE INDEX recordings_number ON recordings USING gin (number_digits gin_trgm_ops);

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
