-- Nothing to do on PostgreSQL: its tables are heaps, and the primary key is already a
-- separate index. SQLite's 0010 turns its WITHOUT ROWID index_record into a rowid table;
-- this file keeps the two backends' migration numbers the same.
SELECT 1;
