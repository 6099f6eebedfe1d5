-- A table without a key: a migration applied twice leaves two rows in it.
CREATE TABLE applied (n integer NOT NULL);
