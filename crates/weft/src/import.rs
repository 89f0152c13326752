//! `weft index import`: Gen3 indexing manifests (TSV) into the index, all or nothing.
//!
//! Two passes over the file keep memory proportional to the number of rows, not to the size
//! of their records. [`check_manifest`] reads every row, checks it as the import will build
//! it, and keeps only its did (given or minted), where the row is and its line. Then
//! [`Manifest::stream`] reads the rows again in did order, builds the records and hands
//! them to the store in batches through a bounded channel, so building and inserting run
//! at the same time.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;

use anyhow::Context as _;
use weft_indexd::{IndexService, ManifestRow};
use weft_store::{ImportBatch, IndexRecord};

/// Records per batch handed to the store.
pub const BATCH: usize = 1024;

/// One problem in a manifest, with the 1-based line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

/// Split a multi-valued manifest cell: `a b`, `a,b` or `['a', 'b']`.
fn values(cell: &str) -> Vec<String> {
    let cell = cell.trim().trim_start_matches('[').trim_end_matches(']');
    cell.split(|c: char| c.is_whitespace() || c == ',')
        .map(|v| v.trim_matches(|c| c == '\'' || c == '"'))
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The manifest columns weft reads, in [`Columns`] order.
const GUID: usize = 0;
const MD5: usize = 1;
const SIZE: usize = 2;
const AUTHZ: usize = 3;
const ACL: usize = 4;
const URL: usize = 5;
const FILE_NAME: usize = 6;

/// Positions of the columns weft reads ([`GUID`] … [`FILE_NAME`]), found by header name
/// (case-insensitive, with Gen3's aliases), and how many fields every row has.
#[derive(Debug, Clone)]
struct Columns {
    at: [Option<usize>; 7],
    fields: usize,
}

fn columns(header: &str) -> anyhow::Result<Columns> {
    let headers: Vec<&str> = header.split('\t').collect();
    let find = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
    };
    Ok(Columns {
        at: [
            find(&["guid", "did", "id"]),
            Some(find(&["md5", "md5sum", "md5_hash"]).context("manifest line 1: no md5 column")?),
            Some(find(&["size", "file_size"]).context("manifest line 1: no size column")?),
            find(&["authz"]),
            find(&["acl"]),
            find(&["url", "urls"]),
            find(&["file_name", "filename"]),
        ],
        fields: headers.len(),
    })
}

/// A line without its terminator (`\n` or `\r\n`).
fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The cells of one row, trimmed, in [`Columns`] order (`""` for a column the file lacks).
fn cells<'a>(cols: &Columns, line: &'a [u8]) -> Result<[&'a str; 7], String> {
    let line = std::str::from_utf8(line).map_err(|e| format!("invalid UTF-8: {e}"))?;
    let mut out = [""; 7];
    let mut n = 0;
    for (i, field) in line.split('\t').enumerate() {
        for (slot, at) in out.iter_mut().zip(cols.at) {
            if at == Some(i) {
                *slot = field.trim();
            }
        }
        n = i + 1;
    }
    if n != cols.fields {
        return Err(format!(
            "found a row with {n} fields, but the header has {}",
            cols.fields
        ));
    }
    Ok(out)
}

fn row(c: &[&str; 7]) -> Result<ManifestRow, String> {
    let size = c[SIZE]
        .parse()
        .map_err(|_| format!("size \"{}\" is not an integer", c[SIZE]))?;
    Ok(ManifestRow {
        guid: Some(c[GUID].to_owned()).filter(|g| !g.is_empty()),
        hashes: BTreeMap::from([("md5".to_owned(), c[MD5].to_ascii_lowercase())]),
        size,
        authz: values(c[AUTHZ]),
        acl: values(c[ACL]),
        urls: values(c[URL]),
        file_name: Some(c[FILE_NAME].to_owned()).filter(|f| !f.is_empty()),
    })
}

/// Where one checked row is: its did (in [`Manifest::dids`]), its bytes and its line.
#[derive(Debug, Clone, Copy)]
struct Entry {
    did_start: usize,
    did_len: usize,
    offset: u64,
    len: usize,
    line: u64,
}

/// A checked manifest: every row valid, every did once; its rows in did order.
#[derive(Debug)]
pub struct Manifest {
    path: PathBuf,
    cols: Columns,
    /// Every did, one after another.
    dids: String,
    entries: Vec<Entry>,
}

impl Manifest {
    /// How many records the manifest holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the manifest holds no records.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn did(&self, e: &Entry) -> &str {
        &self.dids[e.did_start..e.did_start + e.did_len]
    }

    /// Read the rows again in did order, build their records and send them in batches of
    /// [`BATCH`]. A row that no longer reads as it did (the file changed) is sent as an
    /// `Err` batch, which aborts the import. Stops early when the receiver hangs up.
    pub fn stream(&self, service: &IndexService, tx: &SyncSender<ImportBatch>) {
        let fail = |message: String| {
            let _ = tx.send(Err(format!("{}: {message}", self.path.display())));
        };
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) => return fail(format!("cannot open: {e}")),
        };
        let mut buf = Vec::new();
        let mut batch = Vec::with_capacity(BATCH);
        for e in &self.entries {
            buf.resize(e.len, 0);
            let built = file
                .read_exact_at(&mut buf, e.offset)
                .map_err(|err| err.to_string())
                .and_then(|()| cells(&self.cols, trim_eol(&buf)))
                .and_then(|c| self.record(service, e, &c));
            match built {
                Ok(r) => batch.push(r),
                Err(message) => {
                    return fail(format!(
                        "line {}: {message} (the file changed during the import)",
                        e.line
                    ));
                }
            }
            if batch.len() == BATCH
                && tx
                    .send(Ok(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))))
                    .is_err()
            {
                return; // the import failed and stopped listening
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(Ok(batch));
        }
    }

    fn record(
        &self,
        service: &IndexService,
        e: &Entry,
        c: &[&str; 7],
    ) -> Result<IndexRecord, String> {
        let did = self.did(e);
        let r = row(c)?;
        if r.guid.as_deref().is_some_and(|g| g != did) {
            return Err(format!("guid is no longer {did}"));
        }
        let (record, _aliases) = service
            .manifest_record(ManifestRow {
                guid: Some(did.to_owned()),
                ..r
            })
            .map_err(|e| e.message)?;
        Ok(record)
    }
}

/// Check every row of the manifest at `path`: either the [`Manifest`] to import, or the
/// first `max_errors` problems in line order (bad rows, guids that appear twice).
/// `progress` gets the number of bytes read so far, now and then.
pub fn check_manifest(
    service: &IndexService,
    path: &Path,
    max_errors: usize,
    progress: &dyn Fn(u64),
) -> anyhow::Result<Result<Manifest, Vec<RowError>>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    reader
        .read_until(b'\n', &mut buf)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let header = trim_eol(&buf);
    let header = header.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(header);
    let header = std::str::from_utf8(header).context("manifest line 1: invalid UTF-8")?;
    let cols = columns(header)?;
    let mut offset = buf.len() as u64;
    let mut line = 1u64;
    let mut dids = String::new();
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    while errors.len() < max_errors {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        line += 1;
        let at = offset;
        offset += n as u64;
        if line.is_multiple_of(65_536) {
            progress(offset);
        }
        let text = trim_eol(&buf);
        if text.is_empty() {
            continue;
        }
        let checked = cells(&cols, text)
            .and_then(|c| row(&c))
            .and_then(|r| service.manifest_check(r).map_err(|e| e.message));
        match checked {
            Ok(did) => {
                entries.push(Entry {
                    did_start: dids.len(),
                    did_len: did.len(),
                    offset: at,
                    len: n,
                    line,
                });
                dids.push_str(&did);
            }
            Err(message) => errors.push(RowError { line, message }),
        }
    }
    progress(offset);
    let mut manifest = Manifest {
        path: path.to_owned(),
        cols,
        dids,
        entries,
    };
    let did_of = |e: &Entry| &manifest.dids[e.did_start..e.did_start + e.did_len];
    let mut entries = std::mem::take(&mut manifest.entries);
    entries.sort_unstable_by(|a, b| did_of(a).cmp(did_of(b)).then(a.line.cmp(&b.line)));
    for pair in entries.windows(2) {
        if did_of(&pair[0]) == did_of(&pair[1]) {
            errors.push(RowError {
                line: pair[1].line,
                message: format!("guid {} appears twice in the manifest", did_of(&pair[1])),
            });
        }
    }
    manifest.entries = entries;
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        errors.truncate(max_errors);
        return Ok(Err(errors));
    }
    anyhow::ensure!(
        !manifest.is_empty(),
        "{}: the manifest has no records",
        path.display()
    );
    Ok(Ok(manifest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_values() {
        assert_eq!(values("a b"), vec!["a", "b"]);
        assert_eq!(values("['s3://x', 'gs://y']"), vec!["s3://x", "gs://y"]);
        assert_eq!(values("a,b"), vec!["a", "b"]);
        assert!(values("").is_empty());
    }

    #[test]
    fn cells_by_header_name() {
        let cols = columns("GUID\tsize\tmd5sum\textra\turls").unwrap();
        assert_eq!(
            cells(&cols, b" g \t10\tabc\tx\ts3://a s3://b").unwrap(),
            ["g", "abc", "10", "", "", "s3://a s3://b", ""]
        );
        assert_eq!(
            cells(&cols, b"g\t10\tabc").unwrap_err(),
            "found a row with 3 fields, but the header has 5"
        );
        assert_eq!(trim_eol(b"a\tb\r\n"), b"a\tb");
        assert!(columns("guid\tsize").is_err());
    }
}
