-- The index service: records, their queryable side tables, aliases and basic-auth users.
CREATE TABLE index_record (
    did TEXT PRIMARY KEY NOT NULL,
    baseid TEXT NOT NULL,
    rev TEXT NOT NULL,
    form TEXT,
    size INTEGER,
    file_name TEXT,
    version TEXT,
    uploader TEXT,
    description TEXT,
    created_date TEXT NOT NULL,
    updated_date TEXT NOT NULL,
    content_created_date TEXT,
    content_updated_date TEXT,
    urls TEXT NOT NULL,
    urls_metadata TEXT NOT NULL,
    acl TEXT NOT NULL,
    authz TEXT NOT NULL,
    hashes TEXT NOT NULL,
    metadata TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX index_record_baseid_idx ON index_record (baseid, created_date);
CREATE INDEX index_record_updated_idx ON index_record (updated_date, did);
CREATE INDEX index_record_created_idx ON index_record (created_date);
CREATE INDEX index_record_size_idx ON index_record (size);
CREATE INDEX index_record_file_name_idx ON index_record (file_name);

CREATE TABLE index_record_hash (
    did TEXT NOT NULL,
    hash_type TEXT NOT NULL,
    hash_value TEXT NOT NULL,
    PRIMARY KEY (did, hash_type)
) WITHOUT ROWID;
CREATE INDEX index_record_hash_value_idx ON index_record_hash (hash_value, hash_type);

CREATE TABLE index_record_url (
    did TEXT NOT NULL,
    url TEXT NOT NULL,
    PRIMARY KEY (did, url)
) WITHOUT ROWID;
CREATE INDEX index_record_url_url_idx ON index_record_url (url);

CREATE TABLE index_record_ace (
    did TEXT NOT NULL,
    ace TEXT NOT NULL,
    PRIMARY KEY (did, ace)
) WITHOUT ROWID;
CREATE INDEX index_record_ace_ace_idx ON index_record_ace (ace);

CREATE TABLE index_record_authz (
    did TEXT NOT NULL,
    resource TEXT NOT NULL,
    PRIMARY KEY (did, resource)
) WITHOUT ROWID;
CREATE INDEX index_record_authz_resource_idx ON index_record_authz (resource);

CREATE TABLE index_record_metadata (
    did TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (did, key)
) WITHOUT ROWID;
CREATE INDEX index_record_metadata_kv_idx ON index_record_metadata (key, value);

CREATE TABLE index_record_url_metadata (
    did TEXT NOT NULL,
    url TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (did, url, key)
) WITHOUT ROWID;
CREATE INDEX index_record_url_metadata_kv_idx ON index_record_url_metadata (key, value);

CREATE TABLE index_record_alias (
    name TEXT PRIMARY KEY NOT NULL,
    did TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX index_record_alias_did_idx ON index_record_alias (did);

CREATE TABLE index_user (
    username TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    created_date TEXT NOT NULL
) WITHOUT ROWID;
