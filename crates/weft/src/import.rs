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
use std::io::{BufRead as _, BufReader, Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
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

/// What one thread found in its part of a manifest ([`check_part`]). Lines count from the
/// part's first line (1); `dids` and `entries` are as in [`Manifest`].
struct Part {
    dids: String,
    entries: Vec<Entry>,
    errors: Vec<RowError>,
    /// Lines read; all of the part's unless it stopped at `max_errors` errors.
    lines: u64,
}

/// Manifests smaller than this are checked by one thread. (Small in tests, so that the
/// unit tests check in parts.)
const PARALLEL_FROM: u64 = if cfg!(test) { 1 } else { 4 << 20 };

/// Check the rows from byte `start` of the file (the start of a line) to byte `end`; stop
/// after `max_errors` bad rows. Adds the bytes read to `read`; `progress`, if given, gets
/// `read`'s total now and then.
#[allow(clippy::too_many_arguments)]
fn check_part(
    service: &IndexService,
    path: &Path,
    cols: &Columns,
    start: u64,
    end: u64,
    max_errors: usize,
    read: &AtomicU64,
    progress: Option<&dyn Fn(u64)>,
) -> anyhow::Result<Part> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    file.seek(SeekFrom::Start(start))
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file.take(end - start));
    let mut buf = Vec::new();
    let mut part = Part {
        dids: String::new(),
        entries: Vec::new(),
        errors: Vec::new(),
        lines: 0,
    };
    let mut offset = start;
    while part.errors.len() < max_errors {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        part.lines += 1;
        let line = part.lines;
        let at = offset;
        offset += n as u64;
        let total = read.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if let Some(p) = progress.filter(|_| line.is_multiple_of(65_536)) {
            p(total);
        }
        let text = trim_eol(&buf);
        if text.is_empty() {
            continue;
        }
        let checked = cells(cols, text)
            .and_then(|c| row(&c))
            .and_then(|r| service.manifest_check(r).map_err(|e| e.message));
        match checked {
            Ok(did) => {
                part.entries.push(Entry {
                    did_start: part.dids.len(),
                    did_len: did.len(),
                    offset: at,
                    len: n,
                    line,
                });
                part.dids.push_str(&did);
            }
            Err(message) => part.errors.push(RowError { line, message }),
        }
    }
    Ok(part)
}

/// Where the first line starting at or after byte `at` of `file` starts (`size` if none).
fn line_start(file: &File, at: u64, size: u64) -> std::io::Result<u64> {
    let mut pos = at.saturating_sub(1);
    let mut buf = vec![0u8; 64 << 10];
    while pos < size {
        let n = file.read_at(&mut buf, pos)?;
        if n == 0 {
            break;
        }
        if let Some(i) = buf[..n].iter().position(|b| *b == b'\n') {
            return Ok(pos + i as u64 + 1);
        }
        pos += n as u64;
    }
    Ok(size)
}

/// Check every row of the manifest at `path`: either the [`Manifest`] to import, or the
/// first `max_errors` problems in line order (bad rows, guids that appear twice).
/// `progress` gets the number of bytes read so far, now and then. A large manifest is
/// checked in parts, a thread per core.
pub fn check_manifest(
    service: &IndexService,
    path: &Path,
    max_errors: usize,
    progress: &dyn Fn(u64),
) -> anyhow::Result<Result<Manifest, Vec<RowError>>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let mut reader = BufReader::with_capacity(64 << 10, &file);
    let mut buf = Vec::new();
    reader
        .read_until(b'\n', &mut buf)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let body = buf.len() as u64;
    let header = trim_eol(&buf);
    let header = header.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(header);
    let header = std::str::from_utf8(header).context("manifest line 1: invalid UTF-8")?;
    let cols = columns(header)?;
    // the parts: [cuts[i], cuts[i + 1]), each starting at a line
    let threads = if size - body >= PARALLEL_FROM {
        std::thread::available_parallelism().map_or(2, |n| usize::from(n).clamp(2, 8))
    } else {
        1
    };
    let mut cuts = vec![body];
    for i in 1..threads as u64 {
        let at = body + (size - body) * i / threads as u64;
        let cut = line_start(&file, at, size)
            .with_context(|| format!("cannot read {}", path.display()))?
            .max(*cuts.last().unwrap_or(&body));
        cuts.push(cut);
    }
    cuts.push(size);
    let read = AtomicU64::new(body);
    let parts: Vec<anyhow::Result<Part>> = std::thread::scope(|scope| {
        let (cols, read) = (&cols, &read);
        let others: Vec<_> = cuts
            .windows(2)
            .skip(1)
            .map(|w| {
                let (start, end) = (w[0], w[1]);
                scope.spawn(move || {
                    check_part(service, path, cols, start, end, max_errors, read, None)
                })
            })
            .collect();
        let first = check_part(
            service,
            path,
            cols,
            cuts[0],
            cuts[1],
            max_errors,
            read,
            Some(progress),
        );
        std::iter::once(first)
            .chain(others.into_iter().map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a manifest check failed")))
            }))
            .collect()
    });
    progress(read.load(Ordering::Relaxed));
    // Put the parts together: lines and dids continue where the previous part's ended. A
    // part that stopped at max_errors errors ends the report: every later error comes after.
    let mut manifest = Manifest {
        path: path.to_owned(),
        cols,
        dids: String::new(),
        entries: Vec::new(),
    };
    let mut errors = Vec::new();
    let mut lines_before = 1u64;
    for part in parts {
        let part = part?;
        let full = part.errors.len() >= max_errors;
        let dids_before = manifest.dids.len();
        manifest.dids.push_str(&part.dids);
        manifest
            .entries
            .extend(part.entries.into_iter().map(|e| Entry {
                did_start: e.did_start + dids_before,
                line: e.line + lines_before,
                ..e
            }));
        errors.extend(part.errors.into_iter().map(|e| RowError {
            line: e.line + lines_before,
            message: e.message,
        }));
        lines_before += part.lines;
        if full {
            break;
        }
    }
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
    use std::sync::Arc;

    use super::*;

    #[test]
    fn multi_values() {
        assert_eq!(values("a b"), vec!["a", "b"]);
        assert_eq!(values("['s3://x', 'gs://y']"), vec!["s3://x", "gs://y"]);
        assert_eq!(values("a,b"), vec!["a", "b"]);
        assert!(values("").is_empty());
    }

    /// A manifest checked in parts reports lines and duplicates as one read would.
    #[test]
    fn parts_number_lines_across_the_whole_file() {
        const MD5: &str = "8b9942cf415384b27cadf1f4d2d682e5";
        let guid = |i: u32| format!("00000000-0000-4000-8000-{i:012}");
        let dir = tempfile::tempdir().unwrap();
        let store = weft_store_sqlite::SqliteStore::open(&dir.path().join("t.db"), 1).unwrap();
        let service = crate::index_service(&weft_config::Config::default(), Arc::new(store));
        let write = |name: &str, bad: &[(u32, &str)]| {
            let mut text = "guid\tmd5\tsize\tauthz\tacl\turl\tfile_name\n".to_owned();
            for i in 1..=200u32 {
                let row = bad.iter().find(|(at, _)| *at == i).map_or_else(
                    || {
                        format!(
                            "{}\t{MD5}\t{i}\t/programs/p\tp\ts3://b/{i}\tf{i}\n",
                            guid(i)
                        )
                    },
                    |(_, row)| (*row).to_owned(),
                );
                text.push_str(&row);
            }
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let check = |path: &Path, max| check_manifest(&service, path, max, &|_| {}).unwrap();

        let good = write("good.tsv", &[]);
        let manifest = check(&good, 20).unwrap();
        assert_eq!(manifest.len(), 200);
        for (i, e) in manifest.entries.iter().enumerate() {
            let n = u32::try_from(i).unwrap() + 1;
            assert_eq!(
                (manifest.did(e), e.line),
                (guid(n).as_str(), u64::from(n) + 1)
            );
        }

        let dup = format!("{}\t{MD5}\t1\t\t\ts3://b/x\tx\n", guid(10));
        let bad = write(
            "bad.tsv",
            &[
                (50, &format!("{}\t{MD5}\t-1\t\t\ts3://b/x\tx\n", guid(50))),
                (
                    150,
                    &format!("{}\tnot-md5\t1\t\t\ts3://b/x\tx\n", guid(150)),
                ),
                (190, &dup),
            ],
        );
        let lines = |max| -> Vec<u64> {
            check(&bad, max)
                .unwrap_err()
                .iter()
                .map(|e| e.line)
                .collect()
        };
        assert_eq!(lines(20), vec![51, 151, 191]);
        assert_eq!(lines(2), vec![51, 151]);
        assert_eq!(lines(1), vec![51]);
        let errors = check(&bad, 20).unwrap_err();
        assert!(errors[0].message.contains("size"), "{errors:?}");
        assert_eq!(
            errors[2].message,
            format!("guid {} appears twice in the manifest", guid(10))
        );
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
