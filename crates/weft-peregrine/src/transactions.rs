//! `transaction_log` and `_transaction_log_count`: the submission log, as peregrine serves it
//! (the portal's home page lists the last 20), only of readable projects.

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, TypeRef};
use async_graphql::{Error, Value as GqlValue};
use serde_json::{Map, Value};
use weft_store::{GraphTransaction, TransactionQuery};

use crate::Request;
use crate::schema::json_args;

/// One document of a logged transaction: `(name, format, text)`.
struct Document {
    name: Option<String>,
    format: String,
    doc: String,
}

fn documents(t: &GraphTransaction) -> Vec<Document> {
    match serde_json::from_str::<Value>(&t.entry.documents) {
        Ok(Value::Array(items)) => items
            .iter()
            .map(|d| Document {
                name: d["name"].as_str().map(str::to_owned),
                format: d["doc_format"].as_str().unwrap_or("json").to_owned(),
                doc: d["doc"]
                    .as_str()
                    .map_or_else(|| d["doc"].to_string(), str::to_owned),
            })
            .collect(),
        Ok(other) => vec![Document {
            name: None,
            format: "json".into(),
            doc: other.to_string(),
        }],
        Err(_) => Vec::new(),
    }
}

/// peregrine's `type` of a role: `create` and `update` are `upload`.
fn kind(role: &str) -> String {
    match role {
        "create" | "update" => "upload".into(),
        other => other.to_lowercase(),
    }
}

fn text(v: Option<String>) -> Option<FieldValue<'static>> {
    v.map(FieldValue::value)
}

fn log_field(t: &GraphTransaction, name: &str) -> Option<FieldValue<'static>> {
    let e = &t.entry;
    let (program, project) = match e.project_id.as_deref().and_then(|p| p.split_once('-')) {
        Some((a, b)) => (Some(a.to_owned()), Some(b.to_owned())),
        None => (None, None),
    };
    match name {
        "id" => text(Some(t.id.to_string())),
        "is_dry_run" => Some(FieldValue::value(e.dry_run)),
        "closed" => Some(FieldValue::value(e.closed)),
        "committed_by" => text(e.committed_by.map(|c| c.to_string())),
        "state" => text(Some(e.state.clone())),
        "type" => text(Some(kind(&e.role))),
        "submitter" => text(e.submitter.clone()),
        "role" => text(Some(e.role.clone())),
        "program" => text(program),
        "project" => text(project),
        "project_id" => text(e.project_id.clone()),
        "created_datetime" => text(Some(e.created.clone())),
        "canonical_json" => text(Some(e.documents.clone())),
        _ => None,
    }
}

const LOG_FIELDS: [(&str, &str); 13] = [
    ("id", TypeRef::ID),
    ("is_dry_run", TypeRef::BOOLEAN),
    ("closed", TypeRef::BOOLEAN),
    ("committed_by", TypeRef::ID),
    ("state", TypeRef::STRING),
    ("type", TypeRef::STRING),
    ("submitter", TypeRef::STRING),
    ("role", TypeRef::STRING),
    ("program", TypeRef::STRING),
    ("project", TypeRef::STRING),
    ("project_id", TypeRef::STRING),
    ("created_datetime", TypeRef::STRING),
    ("canonical_json", TypeRef::STRING),
];

/// The object types of the log.
pub fn types() -> [Object; 2] {
    let mut log = Object::new("TransactionLog");
    for (name, ty) in LOG_FIELDS {
        log = log.field(Field::new(name, TypeRef::named(ty), move |ctx| {
            FieldFuture::new(async move {
                let t = ctx.parent_value.try_downcast_ref::<GraphTransaction>()?;
                Ok(log_field(t, name))
            })
        }));
    }
    log = log.field(Field::new(
        "documents",
        TypeRef::named_list("TransactionDocument"),
        |ctx| {
            FieldFuture::new(async move {
                let t = ctx.parent_value.try_downcast_ref::<GraphTransaction>()?;
                let id = t.id;
                let docs = documents(t)
                    .into_iter()
                    .enumerate()
                    .map(move |(i, d)| FieldValue::owned_any((id, i, d.name, d.format, d.doc)));
                Ok(Some(FieldValue::list(docs)))
            })
        },
    ));
    for name in ["snapshots", "related_cases"] {
        log = log.field(Field::new(
            name,
            TypeRef::named_list(TypeRef::STRING),
            |_| {
                FieldFuture::new(async { Ok(Some(FieldValue::list(Vec::<FieldValue<'_>>::new()))) })
            },
        ));
    }
    type Doc = (i64, usize, Option<String>, String, String);
    let mut doc = Object::new("TransactionDocument");
    for (name, ty) in [
        ("id", TypeRef::ID),
        ("transaction_id", TypeRef::ID),
        ("name", TypeRef::STRING),
        ("doc_format", TypeRef::STRING),
        ("doc", TypeRef::STRING),
        ("doc_size", TypeRef::INT),
        ("response_json", TypeRef::STRING),
    ] {
        doc = doc.field(Field::new(name, TypeRef::named(ty), move |ctx| {
            FieldFuture::new(async move {
                let (id, i, doc_name, format, text) = ctx.parent_value.try_downcast_ref::<Doc>()?;
                Ok(match name {
                    "id" => Some(FieldValue::value(format!("{id}.{i}"))),
                    "transaction_id" => Some(FieldValue::value(id.to_string())),
                    "name" => doc_name.clone().map(FieldValue::value),
                    "doc_format" => Some(FieldValue::value(format.clone())),
                    "doc" => Some(FieldValue::value(text.clone())),
                    "doc_size" => Some(FieldValue::value(
                        i64::try_from(text.len()).unwrap_or(i64::MAX),
                    )),
                    _ => None,
                })
            })
        }));
    }
    [log, doc]
}

/// The query of a `transaction_log` field's arguments, within the readable projects.
fn query(req: &Request, args: &Map<String, Value>) -> Result<TransactionQuery, Error> {
    let s = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_owned);
    let b = |k: &str| args.get(k).and_then(Value::as_bool);
    let int = |k: &str| {
        args.get(k).and_then(|v| match v {
            Value::String(s) => s.parse::<i64>().ok(),
            other => other.as_i64(),
        })
    };
    let mut projects = req
        .readable
        .clone()
        .unwrap_or_else(|| req.all_projects.clone());
    if let Some(Value::Array(wanted)) = args.get("project_id") {
        projects.retain(|p| wanted.iter().any(|w| w.as_str() == Some(p)));
    }
    if let Some(program) = s("program") {
        projects.retain(|p| p.split_once('-').is_some_and(|(a, _)| a == program));
    }
    if let Some(project) = s("project") {
        projects.retain(|p| p.split_once('-').is_some_and(|(_, b)| b == project));
    }
    let mut q = TransactionQuery {
        projects: Some(projects),
        id: int("id"),
        dry_run: b("is_dry_run"),
        closed: b("closed"),
        state: s("state"),
        committed_by: int("committed_by"),
        committable: b("committable"),
        roles: s("type").map(|t| {
            if t == "upload" {
                vec!["create".into(), "update".into()]
            } else {
                vec![t]
            }
        }),
        newest_first: s("order_by_desc").is_some(),
        ..TransactionQuery::default()
    };
    if let Some(search) = s("quick_search") {
        // peregrine: a number names a transaction; anything else matches none
        q.id = Some(search.parse().unwrap_or(-1));
    }
    let first = int("first").unwrap_or(crate::args::DEFAULT_FIRST);
    q.limit = usize::try_from(first).ok().filter(|f| *f > 0);
    if let Some(last) = int("last") {
        q.newest_first = true;
        q.limit = usize::try_from(last).ok().filter(|l| *l > 0);
    }
    q.offset = int("offset")
        .and_then(|o| usize::try_from(o).ok())
        .unwrap_or(0);
    Ok(q)
}

fn with_args(mut field: Field) -> Field {
    for (name, ty) in [
        ("id", TypeRef::ID),
        ("type", TypeRef::STRING),
        ("project", TypeRef::STRING),
        ("program", TypeRef::STRING),
        ("state", TypeRef::STRING),
        ("committed_by", TypeRef::ID),
        ("quick_search", TypeRef::ID),
        ("order_by_asc", TypeRef::STRING),
        ("order_by_desc", TypeRef::STRING),
        ("is_dry_run", TypeRef::BOOLEAN),
        ("closed", TypeRef::BOOLEAN),
        ("committable", TypeRef::BOOLEAN),
        ("last", TypeRef::INT),
        ("offset", TypeRef::INT),
    ] {
        field = field.argument(InputValue::new(name, TypeRef::named(ty)));
    }
    field
        .argument(InputValue::new(
            "project_id",
            TypeRef::named_list(TypeRef::STRING),
        ))
        .argument(
            InputValue::new("first", TypeRef::named(TypeRef::INT))
                .default_value(GqlValue::from(crate::args::DEFAULT_FIRST)),
        )
}

/// The root fields `transaction_log` and `_transaction_log_count`.
pub fn root_fields() -> [Field; 2] {
    let list = Field::new(
        "transaction_log",
        TypeRef::named_list("TransactionLog"),
        |ctx| {
            FieldFuture::new(async move {
                let req = ctx.ctx.data::<Request>()?;
                let q = query(req, &json_args(&ctx)?)?;
                let logs = req
                    .store
                    .graph_transaction_query(q)
                    .await
                    .map_err(|e| Error::new(e.to_string()))?;
                Ok(Some(FieldValue::list(
                    logs.into_iter().map(FieldValue::owned_any),
                )))
            })
        },
    );
    let count = Field::new(
        "_transaction_log_count",
        TypeRef::named(TypeRef::INT),
        |ctx| {
            FieldFuture::new(async move {
                let req = ctx.ctx.data::<Request>()?;
                let q = query(req, &json_args(&ctx)?)?;
                let n = req
                    .store
                    .graph_transaction_count(q)
                    .await
                    .map_err(|e| Error::new(e.to_string()))?;
                Ok(Some(FieldValue::value(n)))
            })
        },
    );
    [with_args(list), with_args(count)]
}
