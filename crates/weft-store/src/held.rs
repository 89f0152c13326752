//! Side rows held back by a bulk load and handed out sorted by each side table's primary key.
//!
//! Every side table is keyed `(value…, did)` (migration 0009), so the rows of records made
//! in did order land all over its B-tree; sorted by that key, they append. A load holds a
//! record's side rows here ([`HeldSideRows::hold`]), sorts them once the records are in
//! ([`HeldSideRows::sort`]) and writes each table's rows in order. Records must be held in
//! did order: a row's did is stood for by its record's position.

use crate::model::IndexRecord;
use crate::sql::{self, SideRow};

/// The side tables, in [`SideRow`] order (hashes, URLs, ACEs, authz resources, metadata, URL
/// metadata), each with its columns in primary-key order, the did last.
pub const KEYED_TABLES: [(&str, &[&str]); 6] = [
    ("index_record_hash", &["hash_value", "hash_type", "did"]),
    ("index_record_url", &["url", "did"]),
    ("index_record_ace", &["ace", "did"]),
    ("index_record_authz", &["resource", "did"]),
    ("index_record_metadata", &["key", "value", "did"]),
    ("index_record_url_metadata", &["key", "value", "url", "did"]),
];

/// Fields per row (the did aside), per table.
const FIELDS: [usize; 6] = [2, 1, 1, 1, 2, 3];

/// A side row's table (its index in [`KEYED_TABLES`]) and its fields in the table's
/// primary-key order, the did left out.
fn keyed<'r>(row: &'r SideRow<'_>) -> (usize, [&'r str; 3]) {
    match row {
        SideRow::Hash(k, v) => (0, [v, k, ""]),
        SideRow::Url(v) => (1, [v, "", ""]),
        SideRow::Ace(v) => (2, [v, "", ""]),
        SideRow::Authz(v) => (3, [v, "", ""]),
        SideRow::Metadata(k, v) => (4, [k, v.as_ref(), ""]),
        SideRow::UrlMetadata(u, k, v) => (5, [k, v.as_ref(), u]),
    }
}

/// One held row: where its fields start in its table's data, and its record's position.
#[derive(Debug, Clone, Copy)]
pub struct HeldRow {
    start: u32,
    seq: u32,
}

/// Side rows of one table.
#[derive(Debug, Default)]
struct HeldTable {
    /// The rows' fields in key order, each as its length (`u32`, little endian) and bytes.
    data: Vec<u8>,
    rows: Vec<HeldRow>,
}

/// The fields of the row at `start` of `data`.
fn fields_at(data: &[u8], start: u32, n: usize) -> [&[u8]; 3] {
    let mut out: [&[u8]; 3] = [&[], &[], &[]];
    let mut at = start as usize;
    for f in out.iter_mut().take(n) {
        let len_bytes: [u8; 4] = data
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .unwrap_or_default();
        let len = u32::from_le_bytes(len_bytes) as usize;
        *f = data.get(at + 4..at + 4 + len).unwrap_or_default();
        at += 4 + len;
    }
    out
}

/// Side rows held back, table by table (see the module documentation).
#[derive(Debug, Default)]
pub struct HeldSideRows {
    /// The dids of the records held, one after another, and where each starts.
    dids: String,
    did_starts: Vec<usize>,
    tables: [HeldTable; 6],
    /// Bytes held, about.
    bytes: usize,
}

impl HeldSideRows {
    /// Whether no record is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.did_starts.is_empty()
    }

    /// About how many bytes are held.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Hold `r`'s side rows (records in did order); `false`, holding nothing of it, when
    /// they would take more than `limit` bytes in all or overflow a table (write what is held
    /// first, then hold it again).
    pub fn hold(&mut self, r: &IndexRecord, limit: usize) -> bool {
        let Ok(seq) = u32::try_from(self.did_starts.len()) else {
            return false;
        };
        let mut need = 0usize;
        let _ = sql::for_each_side_row::<()>(r, |row| {
            let (t, fields) = keyed(&row);
            need += fields[..FIELDS[t]]
                .iter()
                .map(|f| 4 + f.len())
                .sum::<usize>()
                + 8;
            Ok(())
        });
        if self.bytes + need > limit && !self.is_empty() {
            return false;
        }
        if self
            .tables
            .iter()
            .any(|t| t.data.len() + need > u32::MAX as usize)
        {
            return false;
        }
        self.did_starts.push(self.dids.len());
        self.dids.push_str(&r.did);
        self.bytes += need + r.did.len() + 8;
        let tables = &mut self.tables;
        let _ = sql::for_each_side_row::<()>(r, |row| {
            let (t, fields) = keyed(&row);
            let table = &mut tables[t];
            // checked above: every table's data stays below u32::MAX bytes
            let start = u32::try_from(table.data.len()).unwrap_or(u32::MAX);
            for f in &fields[..FIELDS[t]] {
                let len = u32::try_from(f.len()).unwrap_or(u32::MAX);
                table.data.extend_from_slice(&len.to_le_bytes());
                table.data.extend_from_slice(f.as_bytes());
            }
            table.rows.push(HeldRow { start, seq });
            Ok(())
        });
        true
    }

    /// Sort every table's rows by its primary key: the fields in order, then the did (the
    /// records came in did order, so their position stands for it). Text compares bytewise,
    /// as SQLite's `BINARY` and PostgreSQL's `"C"` collations do. The tables are sorted on
    /// threads of their own, at the same time.
    pub fn sort(&mut self) {
        std::thread::scope(|scope| {
            for (table, n) in self.tables.iter_mut().zip(FIELDS) {
                if table.rows.len() > 1 {
                    scope.spawn(move || {
                        // rows are held in did order: a stable sort by the fields keeps it
                        // among equal fields (and runs of them cost little to merge)
                        let data = &table.data;
                        table.rows.sort_by(|a, b| {
                            fields_at(data, a.start, n).cmp(&fields_at(data, b.start, n))
                        });
                    });
                }
            }
        });
    }

    /// The rows of table `t` ([`KEYED_TABLES`] order), sorted once [`Self::sort`] ran.
    #[must_use]
    pub fn rows(&self, t: usize) -> &[HeldRow] {
        self.tables.get(t).map_or(&[], |table| &table.rows)
    }

    /// The fields of `row` of table `t` in key order, then its did: as many as
    /// [`KEYED_TABLES`] names columns for the table.
    #[must_use]
    pub fn fields(&self, t: usize, row: HeldRow) -> ([&str; 4], usize) {
        let mut out = [""; 4];
        let n = FIELDS.get(t).copied().unwrap_or(0);
        if let Some(table) = self.tables.get(t) {
            for (o, f) in out
                .iter_mut()
                .zip(&fields_at(&table.data, row.start, n)[..n])
            {
                // the bytes of a &str, cut at the lengths written with them
                *o = std::str::from_utf8(f).unwrap_or_default();
            }
        }
        out[n] = self.did(row.seq);
        (out, n + 1)
    }

    fn did(&self, seq: u32) -> &str {
        let i = seq as usize;
        let start = self.did_starts.get(i).copied().unwrap_or_default();
        let end = self
            .did_starts
            .get(i + 1)
            .copied()
            .unwrap_or(self.dids.len());
        self.dids.get(start..end).unwrap_or_default()
    }
}

#[cfg(all(test, feature = "test-suite"))]
mod tests {
    use super::*;
    use crate::test_suite::sample;

    #[test]
    fn rows_come_out_in_key_order_with_their_dids() {
        let mut held = HeldSideRows::default();
        let mut records: Vec<IndexRecord> = (0..5).map(sample).collect();
        records[1].urls_metadata.clear();
        records[3].hashes.insert("sha1".into(), "0".into());
        // the same URL under two records; a URL that is a prefix of another
        records[2].urls = vec!["s3://same".into(), "s3://bucket".into()];
        records[4].urls = vec!["s3://same".into()];
        for r in &records {
            assert!(held.hold(r, usize::MAX));
        }
        held.sort();
        let table = |t: usize| -> Vec<Vec<String>> {
            held.rows(t)
                .iter()
                .map(|row| {
                    let (f, n) = held.fields(t, *row);
                    f[..n].iter().map(|s| (*s).to_owned()).collect()
                })
                .collect()
        };
        // every table: the rows for_each_side_row gives, sorted by (fields in key order, did)
        for (t, (name, columns)) in KEYED_TABLES.iter().enumerate() {
            let mut expected: Vec<Vec<String>> = Vec::new();
            for r in &records {
                let _ = sql::for_each_side_row::<()>(r, |row| {
                    let (tt, fields) = keyed(&row);
                    if tt == t {
                        let mut v: Vec<String> = fields[..FIELDS[t]]
                            .iter()
                            .map(|s| (*s).to_owned())
                            .collect();
                        v.push(r.did.clone());
                        expected.push(v);
                    }
                    Ok(())
                });
            }
            expected.sort();
            assert_eq!(table(t), expected, "{name}");
            assert!(expected.iter().all(|row| row.len() == columns.len()));
        }
        assert_eq!(
            table(1)[0],
            vec!["s3://bucket".to_owned(), records[2].did.clone()]
        );
        assert_eq!(table(0)[0][1], "sha1");
        // a limit: the first record always goes in, the next waits
        let mut small = HeldSideRows::default();
        assert!(small.hold(&records[0], 1));
        assert!(!small.hold(&records[1], 1));
        assert_eq!(small.rows(1).len(), 1);
    }
}
