-- indexd bundles: named, ordered sets of records and other bundles. Members, checksums and
-- aliases are JSON text, as the collections of records are. Bundle ids share one namespace
-- with record dids (checked when a bundle is created).
CREATE TABLE index_bundle (
    bundle_id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    checksums TEXT NOT NULL,
    members TEXT NOT NULL,
    description TEXT NOT NULL,
    version TEXT NOT NULL,
    aliases TEXT NOT NULL,
    created_time TEXT NOT NULL,
    updated_time TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX index_bundle_updated_idx ON index_bundle (updated_time, bundle_id);
