-- The index service: records, their queryable side tables, aliases and basic-auth users.
-- Mirrors weft-store-sqlite's 0001_index.sql: same tables, columns and indexes. Text columns
-- use the "C" collation so ordering and comparisons are bytewise, as in SQLite, whatever
-- locale the cluster was initialised with (did keyset paging and the naive ISO timestamps
-- compared as text depend on it). Collections are JSON stored as TEXT, as in SQLite.
CREATE TABLE index_record (
    did TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    baseid TEXT COLLATE "C" NOT NULL,
    rev TEXT COLLATE "C" NOT NULL,
    form TEXT COLLATE "C",
    size BIGINT,
    file_name TEXT COLLATE "C",
    version TEXT COLLATE "C",
    uploader TEXT COLLATE "C",
    description TEXT COLLATE "C",
    created_date TEXT COLLATE "C" NOT NULL,
    updated_date TEXT COLLATE "C" NOT NULL,
    content_created_date TEXT COLLATE "C",
    content_updated_date TEXT COLLATE "C",
    urls TEXT NOT NULL,
    urls_metadata TEXT NOT NULL,
    acl TEXT NOT NULL,
    authz TEXT NOT NULL,
    hashes TEXT NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX index_record_baseid_idx ON index_record (baseid, created_date);
CREATE INDEX index_record_updated_idx ON index_record (updated_date, did);
CREATE INDEX index_record_created_idx ON index_record (created_date);
CREATE INDEX index_record_size_idx ON index_record (size);
CREATE INDEX index_record_file_name_idx ON index_record (file_name);

CREATE TABLE index_record_hash (
    did TEXT COLLATE "C" NOT NULL,
    hash_type TEXT COLLATE "C" NOT NULL,
    hash_value TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (did, hash_type)
);
CREATE INDEX index_record_hash_value_idx ON index_record_hash (hash_value, hash_type);

CREATE TABLE index_record_url (
    did TEXT COLLATE "C" NOT NULL,
    url TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (did, url)
);
CREATE INDEX index_record_url_url_idx ON index_record_url (url);

CREATE TABLE index_record_ace (
    did TEXT COLLATE "C" NOT NULL,
    ace TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (did, ace)
);
CREATE INDEX index_record_ace_ace_idx ON index_record_ace (ace);

CREATE TABLE index_record_authz (
    did TEXT COLLATE "C" NOT NULL,
    resource TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (did, resource)
);
CREATE INDEX index_record_authz_resource_idx ON index_record_authz (resource);

CREATE TABLE index_record_metadata (
    did TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (did, key)
);
CREATE INDEX index_record_metadata_kv_idx ON index_record_metadata (key, value);

CREATE TABLE index_record_url_metadata (
    did TEXT COLLATE "C" NOT NULL,
    url TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (did, url, key)
);
CREATE INDEX index_record_url_metadata_kv_idx ON index_record_url_metadata (key, value);

CREATE TABLE index_record_alias (
    name TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    did TEXT COLLATE "C" NOT NULL
);
CREATE INDEX index_record_alias_did_idx ON index_record_alias (did);

CREATE TABLE index_user (
    username TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    created_date TEXT COLLATE "C" NOT NULL
);
