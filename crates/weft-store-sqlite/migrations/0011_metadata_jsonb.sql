-- Metadata documents become SQLite's binary JSON (JSONB, SQLite >= 3.45). As text, every
-- filter on a path without an index parsed each scanned row's whole document again; the
-- JSON functions read a JSONB value's tree directly. The column keeps its name and declared
-- type (a BLOB is stored as it is in a TEXT column), so the key-path expression indexes made
-- through the admin API (`CASE json_type(data, ...) ...`, weft-store-sqlite/src/metadata.rs)
-- stay valid: they compute the same values from JSONB and are updated here with the rows.
-- Reads render the text with json(), the same compact text the service wrote.
UPDATE metadata SET data = jsonb(data) WHERE typeof(data) = 'text';
