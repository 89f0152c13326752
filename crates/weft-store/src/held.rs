//! Side rows held back by a bulk load and handed out sorted by each side table's primary key.
//!
//! Every side table is keyed `(value…, did)` (migration 0009), so the rows of records made
//! in did order land all over its B-tree; sorted by that key, they append. A load holds a
//! record's side rows here ([`HeldSideRows::hold`]), sorts them once the records are in
//! ([`HeldSideRows::sort_each`]) and writes each table's rows in order. Records must be held in
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
struct HeldRow {
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
        (*f, at) = field_at(data, at);
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

    /// Sort every table's rows by its primary key, each table on a thread of its own, and
    /// hand each table to `each` (on the calling thread) as soon as it is sorted, in the
    /// order the sorts finish. `meanwhile` runs on the calling thread first, while the sorts
    /// run: a load does its other work there (SQLite rebuilds the record indexes) instead
    /// of waiting for the slowest sort. The first error, of `meanwhile` or of `each`, ends
    /// the work and is returned (after the sorts already started have finished). The rows
    /// are used up either way.
    ///
    /// The key is the fields in order, then the did (the records came in did order, so
    /// their position stands for it). Text compares bytewise, as SQLite's `BINARY` and
    /// PostgreSQL's `"C"` collations do. Each table's thread then copies its rows, dids
    /// included, in key order into chunks of [`SORTED_CHUNK`] rows while the caller takes
    /// the chunks before ([`Sorted::chunks`]): the caller reads each chunk front to back
    /// instead of reading rows at random places of all that is held (cache misses that cost
    /// the SQLite writer about an eighth of its time while it appended them), and only a
    /// few chunks per table exist at a time.
    pub fn sort_each<E>(
        self,
        meanwhile: impl FnOnce() -> Result<(), E>,
        mut each: impl FnMut(Sorted) -> Result<(), E>,
    ) -> Result<(), E> {
        let Self {
            dids,
            did_starts,
            tables,
            ..
        } = self;
        let (dids, did_starts) = (dids.as_str(), did_starts.as_slice());
        let did = |seq: u32| {
            let i = seq as usize;
            let start = did_starts.get(i).copied().unwrap_or_default();
            let end = did_starts.get(i + 1).copied().unwrap_or(dids.len());
            dids.get(start..end).unwrap_or_default()
        };
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::channel();
            for (t, (table, n)) in tables.into_iter().zip(FIELDS).enumerate() {
                if table.rows.is_empty() {
                    continue;
                }
                let tx = tx.clone();
                scope.spawn(move || {
                    // rows are held in did order: a stable sort by the fields keeps it
                    // among equal fields (and runs of them cost little to merge)
                    let HeldTable { data, mut rows } = table;
                    rows.sort_by(|a, b| compare_fields(&data, a.start, b.start, n));
                    let (chunks, taken) = std::sync::mpsc::sync_channel(1);
                    if tx.send(Sorted { table: t, taken }).is_err() {
                        return; // the caller stopped
                    }
                    for rows in rows.chunks(SORTED_CHUNK) {
                        if chunks.send(SortedChunk::pack(n, &data, rows, did)).is_err() {
                            return; // the caller stopped taking this table
                        }
                    }
                });
            }
            drop(tx);
            meanwhile()?;
            for sorted in rx {
                each(sorted)?;
            }
            Ok(())
        })
    }
}

/// Rows per [`SortedChunk`]. (Small in tests, so that the tests take several.)
pub const SORTED_CHUNK: usize = if cfg!(test) { 2 } else { 16_384 };

/// One held table, sorted by its primary key ([`HeldSideRows::sort_each`]): its rows come
/// in chunks, in key order.
#[derive(Debug)]
pub struct Sorted {
    table: usize,
    taken: std::sync::mpsc::Receiver<SortedChunk>,
}

impl Sorted {
    /// The table: its index in [`KEYED_TABLES`].
    #[must_use]
    pub fn table(&self) -> usize {
        self.table
    }

    /// The table's rows, [`SORTED_CHUNK`] at a time (the last chunk may hold fewer), each
    /// chunk made while the one before is used.
    pub fn chunks(&self) -> impl Iterator<Item = SortedChunk> + '_ {
        self.taken.iter()
    }
}

/// Consecutive rows of a [`Sorted`] table: their fields and dids one after another in one
/// text.
#[derive(Debug)]
pub struct SortedChunk {
    /// Fields per row, the did included.
    width: usize,
    text: String,
    /// Where each field of each row ends in `text` (`width` per row).
    ends: Vec<usize>,
    rows: Vec<SortedRow>,
}

/// A row of a [`SortedChunk`]: its position there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortedRow(u32);

impl SortedChunk {
    /// Copy `rows` (`n` fields each in `data`) in their order, each with its did.
    fn pack<'d>(n: usize, data: &[u8], rows: &[HeldRow], did: impl Fn(u32) -> &'d str) -> Self {
        let width = n + 1;
        let mut text = String::new();
        let mut ends = Vec::with_capacity(rows.len() * width);
        for row in rows {
            for f in &fields_at(data, row.start, n)[..n] {
                // the bytes of a &str, cut at the lengths written with them
                text.push_str(std::str::from_utf8(f).unwrap_or_default());
                ends.push(text.len());
            }
            text.push_str(did(row.seq));
            ends.push(text.len());
        }
        let count = u32::try_from(rows.len()).unwrap_or(u32::MAX);
        Self {
            width,
            text,
            ends,
            rows: (0..count).map(SortedRow).collect(),
        }
    }

    /// The rows, in key order.
    #[must_use]
    pub fn rows(&self) -> &[SortedRow] {
        &self.rows
    }

    /// The fields of `row` in key order, then its did: as many as [`KEYED_TABLES`] names
    /// columns for the table.
    #[must_use]
    pub fn fields(&self, row: SortedRow) -> ([&str; 4], usize) {
        let mut out = [""; 4];
        let first = row.0 as usize * self.width;
        let mut start = first
            .checked_sub(1)
            .and_then(|i| self.ends.get(i))
            .copied()
            .unwrap_or_default();
        let ends = self.ends.get(first..first + self.width).unwrap_or_default();
        for (o, &end) in out.iter_mut().zip(ends) {
            *o = self.text.get(start..end).unwrap_or_default();
            start = end;
        }
        (out, ends.len())
    }
}

/// The field at `at` of `data` (its length, `u32` little endian, then its bytes) and where
/// the next one starts.
fn field_at(data: &[u8], at: usize) -> (&[u8], usize) {
    let len_bytes: [u8; 4] = data
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .unwrap_or_default();
    let len = u32::from_le_bytes(len_bytes) as usize;
    (
        data.get(at + 4..at + 4 + len).unwrap_or_default(),
        at + 4 + len,
    )
}

/// The rows at `a` and `b` of `data`, `n` fields each, compared field by field.
fn compare_fields(data: &[u8], a: u32, b: u32, n: usize) -> std::cmp::Ordering {
    let (mut a, mut b) = (a as usize, b as usize);
    for _ in 0..n {
        let (x, next_a) = field_at(data, a);
        let (y, next_b) = field_at(data, b);
        match x.cmp(y) {
            std::cmp::Ordering::Equal => (a, b) = (next_a, next_b),
            other => return other,
        }
    }
    std::cmp::Ordering::Equal
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
        let mut tables: Vec<Option<Vec<Vec<String>>>> = vec![None; KEYED_TABLES.len()];
        let mut ran = false;
        held.sort_each(
            || {
                ran = true;
                Ok::<(), ()>(())
            },
            |sorted| {
                let rows = sorted
                    .chunks()
                    .flat_map(|chunk| {
                        let rows: Vec<Vec<String>> = chunk
                            .rows()
                            .iter()
                            .map(|row| {
                                let (f, n) = chunk.fields(*row);
                                f[..n].iter().map(|s| (*s).to_owned()).collect()
                            })
                            .collect();
                        rows
                    })
                    .collect();
                assert!(tables[sorted.table()].replace(rows).is_none());
                Ok(())
            },
        )
        .unwrap();
        assert!(ran);
        // tables without rows are not handed out
        let table = |t: usize| -> Vec<Vec<String>> { tables[t].clone().unwrap_or_default() };
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
            assert_eq!(tables[t].is_some(), !expected.is_empty(), "{name}");
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
        let mut urls = 0;
        small
            .sort_each(
                || Ok::<(), ()>(()),
                |sorted| {
                    if sorted.table() == 1 {
                        urls = sorted.chunks().map(|c| c.rows().len()).sum();
                    }
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(urls, 1);
        // an error of `meanwhile` or `each` ends the work and is returned
        let held = || {
            let mut held = HeldSideRows::default();
            assert!(records.iter().all(|r| held.hold(r, usize::MAX)));
            held
        };
        assert_eq!(
            held().sort_each(|| Err("meanwhile"), |_| Ok(())),
            Err("meanwhile")
        );
        let mut calls = 0;
        assert_eq!(
            held().sort_each(
                || Ok(()),
                |_| {
                    calls += 1;
                    Err("each")
                }
            ),
            Err("each")
        );
        assert_eq!(calls, 1);
    }
}
