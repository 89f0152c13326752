-- indexd bundles: named, ordered sets of records and other bundles. Mirrors
-- weft-store-sqlite's 0002_bundles.sql. Text columns use the "C" collation, as in 0001, so
-- keyset paging by id and merged listings with records order bytewise. Members, checksums
-- and aliases are JSON stored as TEXT. Bundle ids share one namespace with record dids
-- (checked when a bundle is created).
CREATE TABLE index_bundle (
    bundle_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL,
    checksums TEXT NOT NULL,
    members TEXT NOT NULL,
    description TEXT COLLATE "C" NOT NULL,
    version TEXT COLLATE "C" NOT NULL,
    aliases TEXT NOT NULL,
    created_time TEXT COLLATE "C" NOT NULL,
    updated_time TEXT COLLATE "C" NOT NULL
);
CREATE INDEX index_bundle_updated_idx ON index_bundle (updated_time, bundle_id);
