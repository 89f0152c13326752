-- Side tables keyed by what queries look up: one B-tree per table, keyed (value, did),
-- instead of a table keyed (did, value) plus an index on the value. Half the B-tree entries
-- per record. The per-did direction (an update or delete removing a record's old side rows,
-- the `acl=`/`authz=` "none" filters) reads the record's own JSON columns instead.
-- `index_record_created_idx` served only `/_stats?month=&year=` (a count and a sum over every
-- record created before a date), which reads most of the table either way; it is dropped.
DROP INDEX index_record_created_idx;

ALTER TABLE index_record_hash RENAME TO index_record_hash_0008;
CREATE TABLE index_record_hash (
    hash_value TEXT NOT NULL,
    hash_type TEXT NOT NULL,
    did TEXT NOT NULL,
    PRIMARY KEY (hash_value, hash_type, did)
) WITHOUT ROWID;
INSERT INTO index_record_hash (hash_value, hash_type, did)
    SELECT hash_value, hash_type, did FROM index_record_hash_0008 ORDER BY 1, 2, 3;
DROP TABLE index_record_hash_0008;

ALTER TABLE index_record_url RENAME TO index_record_url_0008;
CREATE TABLE index_record_url (
    url TEXT NOT NULL,
    did TEXT NOT NULL,
    PRIMARY KEY (url, did)
) WITHOUT ROWID;
INSERT INTO index_record_url (url, did) SELECT url, did FROM index_record_url_0008 ORDER BY 1, 2;
DROP TABLE index_record_url_0008;

ALTER TABLE index_record_ace RENAME TO index_record_ace_0008;
CREATE TABLE index_record_ace (
    ace TEXT NOT NULL,
    did TEXT NOT NULL,
    PRIMARY KEY (ace, did)
) WITHOUT ROWID;
INSERT INTO index_record_ace (ace, did) SELECT ace, did FROM index_record_ace_0008 ORDER BY 1, 2;
DROP TABLE index_record_ace_0008;

ALTER TABLE index_record_authz RENAME TO index_record_authz_0008;
CREATE TABLE index_record_authz (
    resource TEXT NOT NULL,
    did TEXT NOT NULL,
    PRIMARY KEY (resource, did)
) WITHOUT ROWID;
INSERT INTO index_record_authz (resource, did)
    SELECT resource, did FROM index_record_authz_0008 ORDER BY 1, 2;
DROP TABLE index_record_authz_0008;

ALTER TABLE index_record_metadata RENAME TO index_record_metadata_0008;
CREATE TABLE index_record_metadata (
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    did TEXT NOT NULL,
    PRIMARY KEY (key, value, did)
) WITHOUT ROWID;
INSERT INTO index_record_metadata (key, value, did)
    SELECT key, value, did FROM index_record_metadata_0008 ORDER BY 1, 2, 3;
DROP TABLE index_record_metadata_0008;

ALTER TABLE index_record_url_metadata RENAME TO index_record_url_metadata_0008;
CREATE TABLE index_record_url_metadata (
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    url TEXT NOT NULL,
    did TEXT NOT NULL,
    PRIMARY KEY (key, value, url, did)
) WITHOUT ROWID;
INSERT INTO index_record_url_metadata (key, value, url, did)
    SELECT key, value, url, did FROM index_record_url_metadata_0008 ORDER BY 1, 2, 3, 4;
DROP TABLE index_record_url_metadata_0008;
