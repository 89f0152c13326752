-- A dry run can be closed, or committed later by a transaction that writes it
-- (sheepdog's `transactions/{id}/close` and `/commit`).
ALTER TABLE graph_transaction ADD COLUMN closed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE graph_transaction ADD COLUMN committed_by INTEGER;
