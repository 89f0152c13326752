-- Migration 0011 on SQLite stores metadata documents as JSONB. Here `metadata.data` has been
-- JSONB since 0007 (a filter's `data #>> '{a,b}'` reads the stored tree without parsing
-- text), so nothing changes; the number is kept so that both backends' lists stay the same.
SELECT 1;
