-- The data hub (aggregate MDS): per commons its info, tag summary and sync status, and the
-- studies pulled from it. Documents are stored as JSON text, exactly as served. A commons'
-- studies are replaced whole in one transaction.
CREATE TABLE hub_commons (
    name TEXT PRIMARY KEY NOT NULL,
    info TEXT NOT NULL DEFAULT '{}',
    summary TEXT NOT NULL DEFAULT '{}',
    study_count BIGINT NOT NULL DEFAULT 0,
    generation BIGINT NOT NULL DEFAULT 0,
    last_attempt BIGINT,
    last_success BIGINT,
    last_error TEXT,
    failures BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE hub_study (
    commons TEXT NOT NULL REFERENCES hub_commons (name) ON DELETE CASCADE,
    guid TEXT NOT NULL,
    commons_name TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (commons, guid)
);
CREATE INDEX hub_study_guid_idx ON hub_study (guid);
CREATE INDEX hub_study_name_idx ON hub_study (commons_name, commons, guid);
