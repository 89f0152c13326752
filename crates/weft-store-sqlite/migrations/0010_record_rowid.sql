-- index_record becomes an ordinary rowid table; `did` stays its PRIMARY KEY, now served by
-- SQLite's automatic unique index. As a WITHOUT ROWID table the whole row was the B-tree key,
-- so interior pages held copies of whole rows (~600 bytes): on 1M records 23,814 interior
-- pages (93 MiB) over 142,858 leaves, which no read connection's cache could hold and which a
-- bulk load kept splitting. Now the did index holds (did, rowid) pairs and the table's
-- interior pages only integer keys: a few MiB in all (docs/benchmarks.md).
CREATE TABLE index_record_0010 (
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
);
INSERT INTO index_record_0010 SELECT * FROM index_record ORDER BY did;
DROP TABLE index_record;
ALTER TABLE index_record_0010 RENAME TO index_record;
CREATE INDEX index_record_baseid_idx ON index_record (baseid, created_date);
CREATE INDEX index_record_updated_idx ON index_record (updated_date, did);
CREATE INDEX index_record_size_idx ON index_record (size);
CREATE INDEX index_record_file_name_idx ON index_record (file_name);
