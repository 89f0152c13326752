//! `weft index import`: Gen3 indexing manifests (TSV) into the index, all or nothing.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use weft_indexd::IndexService;
use weft_store::IndexRecord;

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

/// Column positions, found by header name (case-insensitive, with Gen3's aliases).
struct Columns {
    guid: Option<usize>,
    md5: usize,
    size: usize,
    authz: Option<usize>,
    acl: Option<usize>,
    url: Option<usize>,
    file_name: Option<usize>,
}

fn columns(headers: &csv::StringRecord) -> anyhow::Result<Columns> {
    let find = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
    };
    Ok(Columns {
        guid: find(&["guid", "did", "id"]),
        md5: find(&["md5", "md5sum", "md5_hash"]).context("manifest line 1: no md5 column")?,
        size: find(&["size", "file_size"]).context("manifest line 1: no size column")?,
        authz: find(&["authz"]),
        acl: find(&["acl"]),
        url: find(&["url", "urls"]),
        file_name: find(&["file_name", "filename"]),
    })
}

/// Every record of a manifest with its aliases, or the errors of its bad rows.
pub type ParsedManifest = Result<Vec<(IndexRecord, Vec<String>)>, Vec<RowError>>;

/// Parse and validate every row; either all records or every row error (up to `max_errors`).
pub fn parse_manifest(
    service: &IndexService,
    path: &Path,
    max_errors: usize,
) -> anyhow::Result<ParsedManifest> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .flexible(false)
        .quoting(false)
        .from_path(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let cols = columns(
        reader
            .headers()
            .context("manifest line 1: unreadable header")?,
    )?;
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for row in reader.records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                errors.push(RowError {
                    line,
                    message: e.to_string(),
                });
                if errors.len() >= max_errors {
                    break;
                }
                continue;
            }
        };
        let line = row.position().map_or(0, csv::Position::line);
        let cell = |i: Option<usize>| i.and_then(|i| row.get(i)).unwrap_or("").trim();
        let result = (|| -> Result<(IndexRecord, Vec<String>), String> {
            let size: i64 = cell(Some(cols.size))
                .parse()
                .map_err(|_| format!("size \"{}\" is not an integer", cell(Some(cols.size))))?;
            let md5 = cell(Some(cols.md5)).to_ascii_lowercase();
            let guid = Some(cell(cols.guid).to_owned()).filter(|g| !g.is_empty());
            let file_name = Some(cell(cols.file_name).to_owned()).filter(|f| !f.is_empty());
            service
                .manifest_record(
                    guid,
                    BTreeMap::from([("md5".to_owned(), md5)]),
                    size,
                    values(cell(cols.authz)),
                    values(cell(cols.acl)),
                    values(cell(cols.url)),
                    file_name,
                )
                .map_err(|e| e.message)
        })();
        match result {
            Ok((r, aliases)) => {
                if !seen.insert(r.did.clone()) {
                    errors.push(RowError {
                        line,
                        message: format!("guid {} appears twice in the manifest", r.did),
                    });
                } else {
                    records.push((r, aliases));
                }
            }
            Err(message) => errors.push(RowError { line, message }),
        }
        if errors.len() >= max_errors {
            break;
        }
    }
    if errors.is_empty() {
        if records.is_empty() {
            bail!("{}: the manifest has no records", path.display());
        }
        Ok(Ok(records))
    } else {
        Ok(Err(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::values;

    #[test]
    fn multi_values() {
        assert_eq!(values("a b"), vec!["a", "b"]);
        assert_eq!(values("['s3://x', 'gs://y']"), vec!["s3://x", "gs://y"]);
        assert_eq!(values("a,b"), vec!["a", "b"]);
        assert!(values("").is_empty());
    }
}
