-- The head of each audit chain (store/audit.go's audit_head bucket): the last sequence number
-- and hash, kept apart from the entries so that removing the last entry breaks verification.
-- Its row is also what appenders on every instance lock (FOR UPDATE) to extend a chain one at
-- a time.
CREATE TABLE audit_heads (
    chain text PRIMARY KEY,
    seq   bigint NOT NULL,
    hash  text NOT NULL
);
