//! guppy's endpoints over the explorer: `graphql`, `download`, `_status`.

use std::sync::Arc;

use async_graphql::dynamic::Schema;
use serde::Deserialize;
use serde_json::{Value, json};
use weft_auth::Credentials;
use weft_core::WeftError;

use crate::config::Tier;
use crate::filter::{self, Missing};
use crate::schema::{self, NO_ACCESS, Request, mapping_names, page, parse_sort};
use crate::service::Explorer;
use crate::table::Table;

/// An answer: its HTTP status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// A refused download: its status and guppy's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub text: String,
}

fn refused(status: u16, text: impl Into<String>) -> Refused {
    Refused {
        status,
        text: text.into(),
    }
}

#[derive(Deserialize)]
struct GraphqlBody {
    query: Option<String>,
    #[serde(default)]
    variables: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DownloadBody {
    #[serde(rename = "type")]
    doc_type: Option<String>,
    #[serde(default)]
    filter: Option<Value>,
    #[serde(default)]
    sort: Option<Value>,
    #[serde(default)]
    fields: Option<Vec<String>>,
    #[serde(default)]
    accessibility: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

/// How a download is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON array of objects (guppy's).
    Json,
    /// A header of the fields, then a line per document; lists joined by `,`, nested
    /// fields as JSON text.
    Tsv,
    Csv,
}

impl Format {
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json; charset=utf-8",
            Self::Tsv => "text/tab-separated-values; charset=utf-8",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|i| !i.is_object()) => {
            items.iter().map(cell).collect::<Vec<_>>().join(",")
        }
        other => other.to_string(),
    }
}

/// The rows a download streams, in order, with the fields to write.
pub struct Download {
    pub table: Arc<tokio::sync::RwLock<Table>>,
    pub rows: Vec<usize>,
    pub fields: Vec<String>,
    pub format: Format,
    /// Keeps the rows' numbers while the download runs.
    pub pin: Option<crate::service::RowsPinned>,
}

impl Download {
    /// What comes before the rows: `[`, or the header line.
    #[must_use]
    pub fn head(&self) -> Vec<u8> {
        match self.format {
            Format::Json => b"[".to_vec(),
            Format::Tsv | Format::Csv => self.line(self.fields.iter().cloned()),
        }
    }

    /// What comes after them.
    #[must_use]
    pub fn tail(&self) -> &'static [u8] {
        match self.format {
            Format::Json => b"]",
            Format::Tsv | Format::Csv => b"",
        }
    }

    fn line(&self, cells: impl IntoIterator<Item = String>) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new()
            .delimiter(if self.format == Format::Tsv {
                b'\t'
            } else {
                b','
            })
            .from_writer(Vec::new());
        let _ = w.write_record(cells.into_iter().collect::<Vec<_>>());
        w.into_inner().unwrap_or_default()
    }

    /// Rows `from..from + n`, read under the table's lock for this piece only.
    pub async fn piece(&self, from: usize, n: usize) -> Vec<u8> {
        let table = self.table.read().await;
        self.render(&table, from, n)
    }

    /// Rows `from..from + n` of `table`: JSON array items (`,` before each but the first),
    /// or lines.
    #[must_use]
    pub fn render(&self, table: &Table, from: usize, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, r) in self.rows.iter().enumerate().skip(from).take(n) {
            let doc = table.select(*r, &self.fields);
            if self.format == Format::Json {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, &doc).unwrap_or_default();
            } else {
                let top = |f: &String| f.split('.').next().unwrap_or(f).to_owned();
                out.extend(
                    self.line(
                        self.fields
                            .iter()
                            .map(|f| cell(doc.get(&top(f)).unwrap_or(&Value::Null))),
                    ),
                );
            }
        }
        out
    }
}

pub struct Guppy {
    explorer: Arc<Explorer>,
    schema: Schema,
}

impl Guppy {
    pub fn new(explorer: Arc<Explorer>) -> Result<Self, WeftError> {
        let schema = schema::build(&explorer)
            .map_err(|e| WeftError::internal(format!("guppy's GraphQL schema: {e}")))?;
        Ok(Self { explorer, schema })
    }

    #[must_use]
    pub fn explorer(&self) -> &Arc<Explorer> {
        &self.explorer
    }

    /// `POST /guppy/graphql`: 200 with `data` (and `errors` a resolver raised), 400 for a
    /// body, query or variables that cannot run.
    pub async fn graphql(&self, creds: &Credentials, body: &[u8]) -> Result<Answer, WeftError> {
        let bad = |msg: String, code: &str| Answer {
            status: 400,
            body: json!({"errors": [{"message": msg, "extensions": {"code": code}}]}),
        };
        let body: GraphqlBody = match serde_json::from_slice(body) {
            Ok(b) => b,
            Err(e) => return Ok(bad(format!("invalid request body: {e}"), "BAD_REQUEST")),
        };
        let Some(query) = body.query.filter(|q| !q.trim().is_empty()) else {
            return Ok(bad(
                "GraphQL operations must contain a non-empty `query`".into(),
                "BAD_REQUEST",
            ));
        };
        let variables = match body.variables {
            None | Some(Value::Null) => json!({}),
            Some(v @ Value::Object(_)) => v,
            Some(_) => {
                return Ok(bad("`variables` must be an object".into(), "BAD_REQUEST"));
            }
        };
        let readable = self.explorer.readable(creds).await?;
        let request = Request {
            explorer: Arc::clone(&self.explorer),
            tables: self.explorer.tables().await,
            readable,
        };
        let gql = async_graphql::Request::new(query)
            .variables(async_graphql::Variables::from_json(variables))
            .data(request);
        let response = self.schema.execute(gql).await;
        // the resolvers' errors carry a code (guppy's); a query that could not run has none
        let executed = !matches!(response.data, async_graphql::Value::Null)
            || response.errors.iter().any(|e| e.extensions.is_some());
        let data = response.data.into_json().unwrap_or(Value::Null);
        if response.errors.is_empty() {
            return Ok(Answer {
                status: 200,
                body: json!({ "data": data }),
            });
        }
        let errors: Vec<Value> = response
            .errors
            .into_iter()
            .map(|e| serde_json::to_value(&e).unwrap_or_else(|_| json!({"message": e.message})))
            .collect();
        if executed {
            Ok(Answer {
                status: 200,
                body: json!({ "data": data, "errors": errors }),
            })
        } else {
            Ok(Answer {
                status: 400,
                body: json!({ "errors": errors }),
            })
        }
    }

    /// `POST /guppy/download`: every matching document (no page limit), or guppy's refusal.
    pub async fn download(&self, creds: &Credentials, body: &[u8]) -> Result<Download, Refused> {
        let body: DownloadBody =
            serde_json::from_slice(body).map_err(|e| refused(400, format!("Invalid body: {e}")))?;
        let doc_type = body
            .doc_type
            .ok_or_else(|| refused(400, "Invalid es type: \"undefined\""))?;
        let index = self
            .explorer
            .index_of(&doc_type)
            .filter(|_| self.explorer.config().serves(&doc_type))
            .ok_or_else(|| refused(400, format!("Invalid es type: \"{doc_type}\"")))?;
        let lock = self.explorer.table(index);
        let pin = self.explorer.pin_rows();
        let table = lock.read().await;
        let names = mapping_names(&table.mapping.fields, "");
        let fields = match body.fields {
            Some(f) if !f.is_empty() => {
                let bad: Vec<String> = f
                    .iter()
                    .filter(|n| !names.contains(n))
                    .map(|n| format!("\"{n}\""))
                    .collect();
                if !bad.is_empty() {
                    return Err(refused(400, format!("Invalid fields: {}", bad.join(", "))));
                }
                f
            }
            _ => table
                .mapping
                .fields
                .iter()
                .map(|f| f.name.clone())
                .collect(),
        };
        let c = self.explorer.config();
        let missing = Missing {
            include: c.aggs_include_missing_data,
            alias: c.missing_data_alias.clone(),
        };
        let cond = filter::compile(
            body.filter.as_ref().unwrap_or(&Value::Null),
            &table,
            &missing,
        )
        .map_err(|e| refused(400, e.0))?;
        let sort = parse_sort(body.sort.as_ref().unwrap_or(&Value::Null), &table)
            .map_err(|e| refused(400, e))?;
        let readable = self
            .explorer
            .readable(creds)
            .await
            .map_err(|e| refused(e.code.http_status(), e.message))?;
        let mut rows = cond.rows(&table, None);
        rows.intersect_with(table.live());
        match self.explorer.tier(index) {
            Tier::Libre => {}
            Tier::Private => rows.intersect_with(&self.explorer.accessible_rows(
                index,
                &table,
                readable.as_deref(),
            )),
            Tier::Regular => {
                let ok = self
                    .explorer
                    .accessible_rows(index, &table, readable.as_deref());
                if body.accessibility.as_deref() == Some("accessible") {
                    rows.intersect_with(&ok);
                } else {
                    let mut out = rows.clone();
                    out.difference_with(&ok);
                    if !out.is_clear() {
                        return Err(refused(401, NO_ACCESS));
                    }
                }
            }
        }
        let format = match body.format.as_deref() {
            None | Some("json" | "JSON") => Format::Json,
            Some("tsv" | "TSV") => Format::Tsv,
            Some("csv" | "CSV") => Format::Csv,
            Some(other) => {
                return Err(refused(
                    400,
                    format!("Invalid format: \"{other}\" (json, tsv or csv)"),
                ));
            }
        };
        let rows = page(&table, &rows, &sort, 0, None);
        drop(table);
        Ok(Download {
            table: lock,
            rows,
            fields,
            format,
            pin: Some(pin),
        })
    }

    /// `GET /guppy/_status`: the indices, their documents and array fields.
    pub async fn status(&self) -> Value {
        let mut indices = serde_json::Map::new();
        for (t, m) in self
            .explorer
            .tables()
            .await
            .iter()
            .zip(&self.explorer.mapping().indices)
        {
            indices.insert(
                m.name.clone(),
                json!({
                    "aliases": {},
                    "type": m.doc_type,
                    "documents": t.len(),
                    "arrayFields": crate::mapping::array_fields(&m.fields),
                }),
            );
        }
        let behind = self.explorer.behind().await.ok();
        json!({
            "statusCode": 200,
            "feed_behind": behind,
            "warnings": if self.explorer.ready() { Value::Null } else { json!(["the documents are still being built"]) },
            "indices": indices,
        })
    }
}
