-- Running library totals per company (store/totals.go's company_usage bucket), kept by
-- statement-level triggers on recordings so CompanyUsage is one row read whatever the company
-- holds. Statement-level with transition tables: a statement touching many rows (a COPY, a
-- bulk update) changes each company's row once, not once per recording (a row updated a
-- million times in one transaction leaves a million versions to walk). A company's row is
-- updated by each of its recording writes: they serialise on it at commit, as every write does
-- in the bbolt store.
CREATE TABLE company_usage (
    company_id text PRIMARY KEY,
    recordings bigint NOT NULL DEFAULT 0,
    ready      bigint NOT NULL DEFAULT 0,
    bytes      bigint NOT NULL DEFAULT 0
);

-- callrec_usage_add adds the rows' totals, signed by sign, to their companies.
CREATE FUNCTION callrec_usage_add(company_ids text[], states text[], sizes bigint[], sign int) RETURNS void LANGUAGE sql AS $$
    INSERT INTO company_usage AS u (company_id, recordings, ready, bytes)
        SELECT c, sign * count(*), sign * count(*) FILTER (WHERE s = 'ready'), sign * coalesce(sum(z) FILTER (WHERE s = 'ready'), 0)
        FROM unnest(company_ids, states, sizes) AS r(c, s, z) GROUP BY c
    ON CONFLICT (company_id) DO UPDATE SET recordings = u.recordings + excluded.recordings,
        ready = u.ready + excluded.ready, bytes = u.bytes + excluded.bytes
$$;

CREATE FUNCTION callrec_usage_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM callrec_usage_add(array_agg(company_id), array_agg(state), array_agg(file_size), 1) FROM new_rows HAVING count(*) > 0;
    RETURN NULL;
END
$$;

CREATE FUNCTION callrec_usage_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM callrec_usage_add(array_agg(company_id), array_agg(state), array_agg(file_size), -1) FROM old_rows HAVING count(*) > 0;
    RETURN NULL;
END
$$;

-- An update moves totals only when it changed a row's company, state or size (most updates,
-- masks or hashes, change none: nothing is written).
CREATE FUNCTION callrec_usage_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM callrec_usage_add(array_agg(o.company_id), array_agg(o.state), array_agg(o.file_size), -1),
            callrec_usage_add(array_agg(n.company_id), array_agg(n.state), array_agg(n.file_size), 1)
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.company_id, o.state, o.file_size) IS DISTINCT FROM (n.company_id, n.state, n.file_size)
        HAVING count(*) > 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER recordings_usage_insert AFTER INSERT ON recordings REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION callrec_usage_insert();
CREATE TRIGGER recordings_usage_delete AFTER DELETE ON recordings REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION callrec_usage_delete();
CREATE TRIGGER recordings_usage_update AFTER UPDATE ON recordings REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION callrec_usage_update();

-- The totals of the rows already there (a store migrated from schema 3).
INSERT INTO company_usage (company_id, recordings, ready, bytes)
    SELECT company_id, count(*), count(*) FILTER (WHERE state = 'ready'),
        coalesce(sum(file_size) FILTER (WHERE state = 'ready'), 0)
    FROM recordings GROUP BY company_id;
