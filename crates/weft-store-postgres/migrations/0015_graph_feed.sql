-- The graph's change feed: one row per node a change touched (written, deleted, or the
-- child of an edge added or removed), in the change's transaction, so followers such
-- as the explorer's live documents on every instance see each committed change. `at` is
-- Unix seconds; old rows are pruned.
CREATE TABLE graph_feed (
    seq BIGSERIAL PRIMARY KEY,
    node_id TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX graph_feed_at_idx ON graph_feed (at);
