-- Side tables keyed by what queries look up: one B-tree per table, its primary key
-- (value, did), instead of a primary key (did, value) plus an index on the value. Half the
-- index entries per record. The per-did direction (an update or delete removing a record's
-- old side rows, the `acl=`/`authz=` "none" filters) reads the record's own JSON columns
-- instead. Mirrors weft-store-sqlite's 0009_side_keys.sql.
-- `index_record_created_idx` served only `/_stats?month=&year=` (a count and a sum over every
-- record created before a date), which reads most of the table either way; it is dropped.
DROP INDEX index_record_created_idx;

ALTER TABLE index_record_hash RENAME TO index_record_hash_0008;
ALTER INDEX index_record_hash_pkey RENAME TO index_record_hash_0008_pkey;
CREATE TABLE index_record_hash (
    hash_value TEXT COLLATE "C" NOT NULL,
    hash_type TEXT COLLATE "C" NOT NULL,
    did TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (hash_value, hash_type, did)
);
INSERT INTO index_record_hash (hash_value, hash_type, did)
    SELECT hash_value, hash_type, did FROM index_record_hash_0008;
DROP TABLE index_record_hash_0008;

ALTER TABLE index_record_url RENAME TO index_record_url_0008;
ALTER INDEX index_record_url_pkey RENAME TO index_record_url_0008_pkey;
CREATE TABLE index_record_url (
    url TEXT COLLATE "C" NOT NULL,
    did TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (url, did)
);
INSERT INTO index_record_url (url, did) SELECT url, did FROM index_record_url_0008;
DROP TABLE index_record_url_0008;

ALTER TABLE index_record_ace RENAME TO index_record_ace_0008;
ALTER INDEX index_record_ace_pkey RENAME TO index_record_ace_0008_pkey;
CREATE TABLE index_record_ace (
    ace TEXT COLLATE "C" NOT NULL,
    did TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (ace, did)
);
INSERT INTO index_record_ace (ace, did) SELECT ace, did FROM index_record_ace_0008;
DROP TABLE index_record_ace_0008;

ALTER TABLE index_record_authz RENAME TO index_record_authz_0008;
ALTER INDEX index_record_authz_pkey RENAME TO index_record_authz_0008_pkey;
CREATE TABLE index_record_authz (
    resource TEXT COLLATE "C" NOT NULL,
    did TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (resource, did)
);
INSERT INTO index_record_authz (resource, did)
    SELECT resource, did FROM index_record_authz_0008;
DROP TABLE index_record_authz_0008;

ALTER TABLE index_record_metadata RENAME TO index_record_metadata_0008;
ALTER INDEX index_record_metadata_pkey RENAME TO index_record_metadata_0008_pkey;
CREATE TABLE index_record_metadata (
    key TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    did TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (key, value, did)
);
INSERT INTO index_record_metadata (key, value, did)
    SELECT key, value, did FROM index_record_metadata_0008;
DROP TABLE index_record_metadata_0008;

ALTER TABLE index_record_url_metadata RENAME TO index_record_url_metadata_0008;
ALTER INDEX index_record_url_metadata_pkey RENAME TO index_record_url_metadata_0008_pkey;
CREATE TABLE index_record_url_metadata (
    key TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    url TEXT COLLATE "C" NOT NULL,
    did TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (key, value, url, did)
);
INSERT INTO index_record_url_metadata (key, value, url, did)
    SELECT key, value, url, did FROM index_record_url_metadata_0008;
DROP TABLE index_record_url_metadata_0008;
