-- The metadata service (Gen3 MDS): one JSON object per GUID, kept as JSON text. `authz` is
-- the record's authz document (MDS keeps it beside the data and never returns it from
-- /metadata). Indexes on key paths are expression indexes the service creates on demand
-- (metadata_index_path lists them; see weft-store-sqlite/src/metadata.rs for the expression).
CREATE TABLE metadata (
    guid  TEXT PRIMARY KEY,
    data  TEXT NOT NULL,
    authz TEXT NOT NULL
);

CREATE TABLE metadata_alias (
    alias TEXT PRIMARY KEY,
    guid  TEXT NOT NULL REFERENCES metadata (guid) ON DELETE CASCADE
);
CREATE INDEX metadata_alias_guid ON metadata_alias (guid);

CREATE TABLE metadata_index_path (
    path       TEXT PRIMARY KEY,
    index_name TEXT NOT NULL
);
