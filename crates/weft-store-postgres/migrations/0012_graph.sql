-- The graph of a commons (sheepdog's submission model): nodes of any dictionary type, the
-- links between them, the dictionary's unique keys, and the log of submission transactions.
-- Mirrors weft-store-sqlite's 0012_graph.sql. A node's properties are one JSON object's
-- text (not JSONB: exports serve them as they are); a new node type or property needs no
-- migration. Keys use the "C" collation, so ids page in the same bytewise order as SQLite.
CREATE TABLE graph_node (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    node_type TEXT COLLATE "C" NOT NULL,
    -- `program-project`; NULL for programs. A project's own project_id is itself.
    project_id TEXT COLLATE "C",
    submitter_id TEXT COLLATE "C",
    props TEXT NOT NULL
);
-- Listings per project and type in id order, and the counts per type.
CREATE INDEX graph_node_project_idx ON graph_node (project_id, node_type, id);

-- The unique keys other than the id: `names` the properties joined by `,`, `value` their
-- values as a JSON array's text. Unique per node type; they go with their node.
CREATE TABLE graph_unique (
    node_type TEXT COLLATE "C" NOT NULL,
    names TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    node_id TEXT COLLATE "C" NOT NULL REFERENCES graph_node (id) ON DELETE CASCADE,
    PRIMARY KEY (node_type, names, value)
);
CREATE INDEX graph_unique_node_idx ON graph_unique (node_id);

-- Links child (src) -> parent (dst), named by the child's link property. The edges out of a
-- node go with it; a parent that still has children cannot be deleted (no cascade on dst).
CREATE TABLE graph_edge (
    src TEXT COLLATE "C" NOT NULL REFERENCES graph_node (id) ON DELETE CASCADE,
    link TEXT COLLATE "C" NOT NULL,
    dst TEXT COLLATE "C" NOT NULL REFERENCES graph_node (id),
    PRIMARY KEY (src, link, dst)
);
CREATE INDEX graph_edge_dst_idx ON graph_edge (dst, link, src);

-- One row per submission transaction; `documents` is JSON text.
CREATE TABLE graph_transaction (
    id BIGSERIAL PRIMARY KEY,
    project_id TEXT COLLATE "C",
    role TEXT NOT NULL,
    submitter TEXT,
    is_dry_run BOOLEAN NOT NULL,
    state TEXT NOT NULL,
    created TEXT NOT NULL,
    documents TEXT NOT NULL
);
CREATE INDEX graph_transaction_project_idx ON graph_transaction (project_id, id);
