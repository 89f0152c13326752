-- The policy engine: every object (resource, role, policy, user, group, client) is one row
-- with its JSON body; the whole set is held in memory, so no other index is needed.
CREATE TABLE authz_object (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;

-- Goes up by one with every committed change to authz_object.
CREATE TABLE authz_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO authz_version (id, version) VALUES (1, 0);
