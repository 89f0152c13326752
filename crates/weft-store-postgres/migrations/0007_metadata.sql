-- The metadata service (Gen3 MDS): one JSON object per GUID, as JSONB. `authz` is the
-- record's authz document (MDS keeps it beside the data and never returns it from
-- /metadata). Indexes on key paths are expression indexes on `data #>> '{a,b}'` that the
-- service creates on demand; metadata_index_path lists them.
CREATE TABLE metadata (
    guid  TEXT COLLATE "C" PRIMARY KEY,
    data  JSONB NOT NULL,
    authz JSONB NOT NULL
);

CREATE TABLE metadata_alias (
    alias TEXT COLLATE "C" PRIMARY KEY,
    guid  TEXT NOT NULL COLLATE "C" REFERENCES metadata (guid) ON DELETE CASCADE
);
CREATE INDEX metadata_alias_guid ON metadata_alias (guid);

CREATE TABLE metadata_index_path (
    path       TEXT PRIMARY KEY,
    index_name TEXT NOT NULL
);
