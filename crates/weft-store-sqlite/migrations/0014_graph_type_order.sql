-- Nodes of a type in id order (with their project, so the index alone answers which
-- project a node is in): a query of one type over several projects pages in id order
-- without sorting every match, and stops at its page.
CREATE INDEX graph_node_type_idx ON graph_node (node_type, id, project_id);
