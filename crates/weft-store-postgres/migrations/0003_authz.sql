-- The policy engine: every object (resource, role, policy, user, group, client) is one row
-- with its JSON body; the whole set is held in memory, so no other index is needed.
CREATE TABLE authz_object (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);

-- Goes up by one with every committed change to authz_object; each change also sends
-- NOTIFY weft_authz with the new version, so other weft processes reload at once.
CREATE TABLE authz_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO authz_version (id, version) VALUES (1, 0);
