//! Submission bodies: JSON (one object or a list) or delimited text (TSV, CSV) turned into
//! entity documents the way sheepdog reads them.
//!
//! Delimited text: the first row names the columns (a leading `*` is dropped); a row without
//! a `type` is skipped; an empty cell or `null` clears the property (`null`); a column
//! `<link>.<property>` is a link (`cases.submitter_id`), several targets in one cell split by
//! `,` in TSV and `#` in CSV; other cells are read as the dictionary types the property
//! (integers, numbers, booleans `true`/`false`, arrays split by `,`), and anything that does
//! not read as its type is kept as text, so validation names it.

use serde_json::{Map, Number, Value};
use weft_core::WeftError;
use weft_dictionary::{Dictionary, ValueKinds};

/// What a body is, by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Tsv,
    Csv,
}

impl Format {
    /// Sheepdog's reading of the header: `text/csv`, `text/tab-separated-values` or
    /// `text/tsv`, else JSON.
    pub fn from_content_type(content_type: &str) -> Self {
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "text/csv" => Self::Csv,
            "text/tab-separated-values" | "text/tsv" => Self::Tsv,
            _ => Self::Json,
        }
    }

    /// The name used in `doc_format` and file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Tsv => "tsv",
            Self::Csv => "csv",
        }
    }

    /// From `doc_format` of a bulk body or a `format` parameter.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "json" => Some(Self::Json),
            "tsv" => Some(Self::Tsv),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    /// The column separator of delimited text (JSON has none: a tab).
    pub fn delimiter(self) -> u8 {
        if self == Self::Csv { b',' } else { b'\t' }
    }

    /// What separates several values in one cell.
    pub fn sub_delimiter(self) -> char {
        if self == Self::Csv { '#' } else { ',' }
    }
}

/// The documents of a body, with the line each came from for delimited text.
#[derive(Debug, Clone, PartialEq)]
pub struct Documents {
    pub docs: Vec<Value>,
    /// For delimited text: the 1-based line of each document.
    pub lines: Option<Vec<u64>>,
}

/// Parse a body into entity documents.
pub fn documents(dict: &Dictionary, format: Format, body: &[u8]) -> Result<Documents, WeftError> {
    match format {
        Format::Json => {
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| WeftError::invalid(format!("Unable to parse the JSON body: {e}")))?;
            let docs = match value {
                Value::Array(items) => items,
                other => vec![other],
            };
            Ok(Documents { docs, lines: None })
        }
        Format::Tsv | Format::Csv => delimited(dict, format, body),
    }
}

fn delimited(dict: &Dictionary, format: Format, body: &[u8]) -> Result<Documents, WeftError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| WeftError::invalid("Unable to parse document: it is not UTF-8 text"))?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(format.delimiter())
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.trim().as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| WeftError::invalid(format!("Unable to parse document: {e}")))?
        .iter()
        .map(|h| h.trim().trim_start_matches('*').to_owned())
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err(WeftError::invalid(
            "Unable to parse document: it has no header row",
        ));
    }
    let mut docs = Vec::new();
    let mut lines = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| WeftError::invalid(format!("Unable to parse document: {e}")))?;
        let line = row.position().map_or(0, csv::Position::line);
        if row.len() > headers.len() {
            return Err(WeftError::invalid(format!(
                "Unable to parse document: line {line} has {} cells but the header names {} columns",
                row.len(),
                headers.len()
            )));
        }
        let cells: Vec<(&str, &str)> = headers.iter().map(String::as_str).zip(row.iter()).collect();
        let Some(node_type) = cells
            .iter()
            .find(|(h, _)| *h == "type")
            .map(|(_, v)| *v)
            .filter(|v| !v.is_empty())
        else {
            continue;
        };
        let node = dict.node(node_type);
        let mut doc = Map::new();
        let mut links: Map<String, Value> = Map::new();
        for (header, cell) in cells {
            if header.is_empty() {
                continue;
            }
            if let Some((link, prop)) = header.split_once('.') {
                if link.is_empty() || prop.is_empty() {
                    return Err(WeftError::invalid(format!(
                        "Unable to parse document: `{header}` is not a link column (`<link>.<property>`)"
                    )));
                }
                let entry = links
                    .entry(link.to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                let target = node
                    .and_then(|n| n.link(link))
                    .and_then(|l| dict.node(&l.target_type));
                let kinds = target.and_then(|t| t.property(prop)).map(|p| &p.kinds);
                for part in cell.split(format.sub_delimiter()) {
                    let part = part.trim();
                    if part.is_empty() || part == "null" {
                        continue;
                    }
                    if let Value::Array(items) = entry {
                        let mut one = Map::new();
                        one.insert(prop.to_owned(), typed(part, kinds));
                        items.push(Value::Object(one));
                    }
                }
                continue;
            }
            let value = if cell.is_empty() || cell == "null" {
                Value::Null
            } else if header == "type" {
                Value::from(cell)
            } else {
                let kinds = node.and_then(|n| n.property(header)).map(|p| &p.kinds);
                typed(cell, kinds)
            };
            doc.insert(header.to_owned(), value);
        }
        for (name, targets) in links {
            doc.insert(name, targets);
        }
        docs.push(Value::Object(doc));
        lines.push(line);
    }
    Ok(Documents {
        docs,
        lines: Some(lines),
    })
}

/// A cell as the property's type reads it; text when it does not read as one.
pub fn typed(cell: &str, kinds: Option<&ValueKinds>) -> Value {
    let Some(kinds) = kinds else {
        return Value::from(cell);
    };
    if kinds.array {
        let items = kinds.items.as_deref();
        return Value::Array(
            cell.split(',')
                .map(|item| scalar(item.trim(), items))
                .collect(),
        );
    }
    scalar(cell, Some(kinds))
}

fn scalar(cell: &str, kinds: Option<&ValueKinds>) -> Value {
    let Some(kinds) = kinds else {
        return Value::from(cell);
    };
    if kinds.boolean {
        match cell.to_ascii_lowercase().as_str() {
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            _ => {}
        }
    }
    if kinds.integer {
        if let Ok(n) = cell.parse::<i64>() {
            return Value::from(n);
        }
        if let Ok(f) = cell.parse::<f64>()
            && f.is_finite()
            && f.fract() == 0.0
            && f.abs() < 9.0e15
        {
            #[allow(clippy::cast_possible_truncation)]
            return Value::from(f as i64);
        }
    }
    if kinds.number
        && let Ok(f) = cell.parse::<f64>()
        && f.is_finite()
    {
        if f.fract() == 0.0 && f.abs() < 9.0e15 {
            #[allow(clippy::cast_possible_truncation)]
            return Value::from(f as i64);
        }
        if let Some(n) = Number::from_f64(f) {
            return Value::Number(n);
        }
    }
    Value::from(cell)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kinds(schema: Value) -> ValueKinds {
        let files = [
            (
                "_definitions.yaml".to_owned(),
                json!({"UUID": {"type": "string"}, "datetime": {"type": ["string", "null"]},
                   "to_one": {"type": "object"}}),
            ),
            (
                "n.yaml".to_owned(),
                json!({"id": "n", "category": "clinical", "program": "*", "project": "*",
                   "uniqueKeys": [["id"]], "links": [], "validators": null, "systemProperties": [],
                   "properties": {"id": {"type": "string"}, "p": schema}}),
            ),
        ];
        let d = Dictionary::from_files(files.into_iter().collect()).unwrap();
        d.node("n").unwrap().property("p").unwrap().kinds.clone()
    }

    #[test]
    fn cells_read_as_their_types() {
        let int = kinds(json!({"type": "integer"}));
        assert_eq!(typed("12", Some(&int)), json!(12));
        assert_eq!(typed("12.0", Some(&int)), json!(12));
        assert_eq!(typed("twelve", Some(&int)), json!("twelve"));
        let num = kinds(json!({"type": "number"}));
        assert_eq!(typed("1.5", Some(&num)), json!(1.5));
        assert_eq!(typed("2", Some(&num)), json!(2));
        assert_eq!(typed("NaN", Some(&num)), json!("NaN"));
        let b = kinds(json!({"type": "boolean"}));
        assert_eq!(typed("TRUE", Some(&b)), json!(true));
        assert_eq!(typed("maybe", Some(&b)), json!("maybe"));
        let arr = kinds(json!({"type": "array", "items": {"type": "integer"}}));
        assert_eq!(typed("1, 2,3", Some(&arr)), json!([1, 2, 3]));
        let s = kinds(json!({"enum": ["1", "2"]}));
        assert_eq!(typed("1", Some(&s)), json!("1"));
        assert_eq!(
            Format::from_content_type("text/tab-separated-values; charset=utf-8"),
            Format::Tsv
        );
        assert_eq!(Format::from_content_type("text/csv"), Format::Csv);
        assert_eq!(Format::from_content_type("application/json"), Format::Json);
    }
}
