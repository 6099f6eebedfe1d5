-- Running library totals per company (store/totals.go's company_usage bucket), kept by a
-- trigger on every recording write so CompanyUsage is one row read whatever the company holds.
-- The row of a company is updated by each of its recording writes: they serialise on it at
-- commit, as every write does in the bbolt store.
CREATE TABLE company_usage (
    company_id text PRIMARY KEY,
    recordings bigint NOT NULL DEFAULT 0,
    ready      bigint NOT NULL DEFAULT 0,
    bytes      bigint NOT NULL DEFAULT 0
);

CREATE FUNCTION callrec_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE company_usage SET recordings = recordings - 1,
            ready = ready - (OLD.state = 'ready')::int,
            bytes = bytes - CASE WHEN OLD.state = 'ready' THEN OLD.file_size ELSE 0 END
        WHERE company_id = OLD.company_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO company_usage AS u (company_id, recordings, ready, bytes)
            VALUES (NEW.company_id, 1, (NEW.state = 'ready')::int, CASE WHEN NEW.state = 'ready' THEN NEW.file_size ELSE 0 END)
        ON CONFLICT (company_id) DO UPDATE SET recordings = u.recordings + 1,
            ready = u.ready + excluded.ready, bytes = u.bytes + excluded.bytes;
    END IF;
    RETURN NULL;
END
$$;

-- Only the columns the totals depend on: masks, hashes and the like do not touch the row.
CREATE TRIGGER recordings_usage AFTER INSERT OR DELETE OR UPDATE OF company_id, state, file_size ON recordings
    FOR EACH ROW EXECUTE FUNCTION callrec_usage();

-- The totals of the rows already there (a store migrated from schema 3).
INSERT INTO company_usage (company_id, recordings, ready, bytes)
    SELECT company_id, count(*), count(*) FILTER (WHERE state = 'ready'),
        coalesce(sum(file_size) FILTER (WHERE state = 'ready'), 0)
    FROM recordings GROUP BY company_id;
