//! Peregrine's API: GraphQL over the graph of a commons, with its schema generated from the
//! data dictionary (`schema`), every filter, page and link resolved in the database
//! (`args`, `loader`), and results only from the projects the caller may read — decided once
//! per request from the policy engine's mapping, as peregrine's `read_access_projects`.

pub mod args;
pub mod extra;
pub mod loader;
pub mod paths;
pub mod schema;
pub mod summary;
pub mod transactions;

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::dynamic::Schema;
use serde::Deserialize;
use serde_json::{Value, json};
use weft_auth::{Authorizer, Credentials};
use weft_core::WeftError;
use weft_dictionary::Dictionary;
use weft_store::{GraphStore, NodeFilter, NodeQuery};

use crate::loader::{Counts, Links, Nodes};

/// The service name of the policy engine's grants that let a caller query.
pub const SERVICE: &str = "peregrine";

/// How deep a query may nest.
pub const MAX_DEPTH: usize = 24;

/// How many fields a query may select in all (async-graphql's complexity: one a field).
pub const MAX_COMPLEXITY: usize = 2000;

/// What the resolvers of one request share.
pub struct Request {
    pub store: Arc<dyn GraphStore>,
    /// The projects the caller may read; `None`: every project.
    pub readable: Option<Vec<String>>,
    /// Every project (what `readable: None` stands for where a list is needed).
    pub all_projects: Vec<String>,
    pub links: Arc<Links>,
    pub nodes: DataLoader<Nodes>,
    pub counts: DataLoader<Counts>,
}

/// A GraphQL request body.
#[derive(Deserialize)]
struct Body {
    query: Option<Value>,
    #[serde(default)]
    variables: Option<Value>,
}

/// The answer of a query: its HTTP status and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    fn errors(status: u16, data: Value, errors: Vec<String>) -> Self {
        Self {
            status,
            body: json!({"data": data, "errors": errors}),
        }
    }
}

pub struct Peregrine {
    dictionary: Arc<Dictionary>,
    store: Arc<dyn GraphStore>,
    authorizer: Arc<dyn Authorizer>,
    schema: Schema,
    /// Per project its node counts, with the change feed's head they were taken at.
    counts: summary::CountsCache,
}

impl Peregrine {
    /// The service of a dictionary; fails when the dictionary makes no valid schema.
    pub fn new(
        dictionary: Arc<Dictionary>,
        store: Arc<dyn GraphStore>,
        authorizer: Arc<dyn Authorizer>,
    ) -> Result<Self, WeftError> {
        let schema = schema::build(&dictionary)
            .map_err(|e| WeftError::internal(format!("GraphQL schema of the dictionary: {e}")))?;
        Ok(Self {
            dictionary,
            store,
            authorizer,
            schema,
            counts: summary::CountsCache::default(),
        })
    }

    pub fn dictionary(&self) -> &Arc<Dictionary> {
        &self.dictionary
    }

    /// The projects `creds` may read (`None`: all) and every project: granted `read` of
    /// peregrine on `/`, `/programs`, a program (all its projects) or a project, or an
    /// `Open` project.
    async fn readable(
        &self,
        creds: &Credentials,
    ) -> Result<(Option<Vec<String>>, Vec<String>), WeftError> {
        let paths = self.authorizer.permitted(creds, SERVICE, "read").await?;
        let projects = self
            .store
            .graph_query(NodeQuery {
                filter: NodeFilter {
                    node_types: vec!["project".into()],
                    ..NodeFilter::default()
                },
                ..NodeQuery::default()
            })
            .await
            .map_err(WeftError::from)?;
        let all: Vec<String> = projects
            .iter()
            .filter_map(|p| p.project_id.clone())
            .collect();
        if paths.iter().any(|p| p == "/" || p == "/programs") {
            return Ok((None, all));
        }
        let mut readable = Vec::new();
        for p in &projects {
            let Some(pid) = &p.project_id else { continue };
            let code = p.props.get("code").and_then(Value::as_str).unwrap_or("");
            let program = pid
                .strip_suffix(code)
                .and_then(|r| r.strip_suffix('-'))
                .unwrap_or("");
            let open = p.props.get("availability_type").and_then(Value::as_str) == Some("Open");
            let granted = paths.iter().any(|path| {
                *path == format!("/programs/{program}")
                    || *path == format!("/programs/{program}/projects")
                    || *path == format!("/programs/{program}/projects/{code}")
            });
            if open || granted {
                readable.push(pid.clone());
            }
        }
        Ok((Some(readable), all))
    }

    /// `POST .../graphql`: `{"query", "variables"}` answered as peregrine answers it — 200
    /// `{"data"}`, or 400 `{"data", "errors": [text]}` for any error.
    pub async fn query(&self, creds: &Credentials, body: &[u8]) -> Result<Answer, WeftError> {
        let body: Body = match serde_json::from_slice::<Value>(body) {
            Ok(v @ Value::Object(_)) => serde_json::from_value(v)
                .map_err(|e| WeftError::invalid(format!("Unable to parse json: {e}")))?,
            Ok(other) => {
                return Err(WeftError::invalid(format!(
                    "JSON parsed from request is an invalid type: {}",
                    match other {
                        Value::Array(_) => "list",
                        Value::String(_) => "str",
                        Value::Number(_) => "number",
                        Value::Bool(_) => "bool",
                        _ => "null",
                    }
                )));
            }
            Err(e) => return Err(WeftError::invalid(format!("Unable to parse json: {e}"))),
        };
        let Some(Value::String(query)) = body.query else {
            return Ok(Answer::errors(
                400,
                Value::Null,
                vec!["The query must be a string".into()],
            ));
        };
        let variables = match body.variables {
            None | Some(Value::Null) => json!({}),
            Some(Value::String(s)) if s.is_empty() => json!({}),
            Some(v @ Value::Object(_)) => v,
            Some(Value::String(s)) => match serde_json::from_str::<Value>(&s) {
                Ok(v @ Value::Object(_)) => v,
                Ok(_) => {
                    return Ok(Answer::errors(
                        400,
                        Value::Null,
                        vec![
                            "Unable to parse variables".into(),
                            "not a JSON object".into(),
                        ],
                    ));
                }
                Err(e) => {
                    return Ok(Answer::errors(
                        400,
                        Value::Null,
                        vec!["Unable to parse variables".into(), e.to_string()],
                    ));
                }
            },
            Some(_) => {
                return Ok(Answer::errors(
                    400,
                    Value::Null,
                    vec![
                        "Unable to parse variables".into(),
                        "variables must be a JSON object".into(),
                    ],
                ));
            }
        };
        let (readable, all_projects) = self.readable(creds).await?;
        Ok(self
            .execute(&query, variables, readable, all_projects)
            .await)
    }

    async fn execute(
        &self,
        query: &str,
        variables: Value,
        readable: Option<Vec<String>>,
        all_projects: Vec<String>,
    ) -> Answer {
        let links = Arc::new(Links::new(Arc::clone(&self.store)));
        let request = Request {
            store: Arc::clone(&self.store),
            readable,
            all_projects,
            nodes: DataLoader::new(Nodes(Arc::clone(&links)), tokio::spawn),
            counts: DataLoader::new(Counts(Arc::clone(&links)), tokio::spawn),
            links,
        };
        let gql = async_graphql::Request::new(query)
            .variables(async_graphql::Variables::from_json(variables))
            .data(request);
        let response = self.schema.execute(gql).await;
        let data = response.data.into_json().unwrap_or(Value::Null);
        if response.errors.is_empty() {
            Answer {
                status: 200,
                body: json!({ "data": data }),
            }
        } else {
            let errors = response.errors.into_iter().map(|e| e.message).collect();
            Answer::errors(400, data, errors)
        }
    }

    /// `GET .../getschema`: the result of the standard introspection query.
    pub async fn introspection(&self) -> Value {
        let response = self
            .schema
            .execute(async_graphql::Request::new(INTROSPECTION))
            .await;
        let data = response.data.into_json().unwrap_or(Value::Null);
        if response.errors.is_empty() {
            json!({ "data": data })
        } else {
            let errors: Vec<String> = response.errors.into_iter().map(|e| e.message).collect();
            json!({ "data": data, "errors": errors })
        }
    }
}

/// The introspection query GraphQL clients send for a whole schema.
const INTROSPECTION: &str = "query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description
    args { ...InputValue }
    type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}";
