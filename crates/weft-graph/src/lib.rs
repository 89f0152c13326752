//! weft-graph: a commons' graph submission, as Gen3's sheepdog serves it.
//!
//! Programs and projects, then entities of any node type the data dictionary defines,
//! submitted as JSON or TSV/CSV ([`parse`]), checked against the dictionary, linked to their
//! parents by id or unique key, created or updated by `submitter_id`, written with the index
//! records their file nodes register in one transaction ([`upload`]), exported as JSON or
//! TSV ([`export`]), described by templates, and deleted without orphaning children
//! ([`delete`]).
//!
//! Authorization is Gen3's: `sheepdog` actions on `/programs/{program}/projects/{project}`,
//! decided once per request (not once per entity), and `*` on
//! `/services/sheepdog/submission/program` (or `/project`) to create programs and projects.

pub mod delete;
pub mod export;
mod files;
pub mod manifest;
pub mod parse;
pub mod report;
pub mod state;
pub mod template;
pub mod transactions;
pub mod upload;

use std::sync::Arc;

use serde_json::{Map, Value, json};
use weft_auth::{Authorizer, Credentials};
use weft_core::WeftError;
use weft_dictionary::Dictionary;
use weft_indexd::IndexService;
use weft_store::{
    GraphChange, GraphEdge, GraphListQuery, GraphLogEntry, GraphNode, GraphStore, NodeWrite,
    StoreError, UniqueKey,
};

pub use parse::Format;

/// How a request writes: checked only, written, or written as the commit of an earlier dry
/// run (whose log entry then names the transaction that wrote it, in the same database
/// transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    Write,
    DryRun,
    Commit(i64),
}

impl Run {
    /// A dry run or a write.
    #[must_use]
    pub fn checked_only(dry_run: bool) -> Self {
        if dry_run { Self::DryRun } else { Self::Write }
    }

    #[must_use]
    pub fn is_dry(self) -> bool {
        self == Self::DryRun
    }

    /// The dry run this write commits.
    #[must_use]
    pub fn commits(self) -> Option<i64> {
        match self {
            Self::Commit(id) => Some(id),
            _ => None,
        }
    }
}
pub use report::{EntityError, EntityReport, TransactionReport};

/// The policy-engine service sheepdog's actions belong to.
pub const SERVICE: &str = "sheepdog";
/// Where creating or deleting a program is allowed (`*`).
pub const PROGRAM_ADMIN: &str = "/services/sheepdog/submission/program";
/// Where creating or deleting a project is allowed (`*`).
pub const PROJECT_ADMIN: &str = "/services/sheepdog/submission/project";
/// Sheepdog's namespace for program node ids: `uuid5(PROGRAM_SEED, name)`.
const PROGRAM_SEED: uuid::Uuid = uuid::uuid!("85b08c6a-56a6-4474-9c30-b65abfd214a8");
/// Sheepdog's namespace for project node ids: `uuid5(PROJECT_SEED, code)`.
const PROJECT_SEED: uuid::Uuid = uuid::uuid!("249b4405-2c69-45d9-96bc-7410333d5d80");

/// The most entities one request may submit or delete.
pub const MAX_ENTITIES: usize = 100_000;

/// The graph submission service.
pub struct SubmissionService {
    dictionary: Arc<Dictionary>,
    store: Arc<dyn GraphStore>,
    index: Arc<IndexService>,
    authorizer: Arc<dyn Authorizer>,
}

/// A project, found.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub program: String,
    pub code: String,
    /// `program-code`.
    pub project_id: String,
    pub node: GraphNode,
    pub program_node: GraphNode,
}

impl Project {
    /// The policy-engine resource of the project.
    pub fn resource(&self) -> String {
        resource(&self.program, &self.code)
    }
}

/// `/programs/{program}/projects/{project}`.
pub fn resource(program: &str, project: &str) -> String {
    format!("/programs/{program}/projects/{project}")
}

/// Now, as sheepdog writes `created_datetime` (ISO 8601 with the UTC offset).
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

fn store_error(e: StoreError) -> WeftError {
    WeftError::from(e)
}

/// A program's or project's creation body: one JSON object, or the one row of a TSV/CSV.
fn single_document(
    dict: &Dictionary,
    format: Format,
    body: &[u8],
) -> Result<Map<String, Value>, WeftError> {
    let mut docs = parse::documents(dict, format, body)?.docs;
    let doc = if docs.len() == 1 { docs.pop() } else { None };
    match doc {
        Some(Value::Object(map)) if upload::map_has_nul(&map) => Err(WeftError::invalid(
            "The document contains a NUL character, which no value may hold",
        )),
        Some(Value::Object(map)) => Ok(map),
        _ => Err(WeftError::invalid(
            "This endpoint only supports single documents (a JSON object, or one row)",
        )),
    }
}

impl SubmissionService {
    pub fn new(
        dictionary: Arc<Dictionary>,
        store: Arc<dyn GraphStore>,
        index: Arc<IndexService>,
        authorizer: Arc<dyn Authorizer>,
    ) -> Self {
        Self {
            dictionary,
            store,
            index,
            authorizer,
        }
    }

    pub fn dictionary(&self) -> &Arc<Dictionary> {
        &self.dictionary
    }

    /// The caller's name when `method` of sheepdog is allowed on `resource`.
    pub async fn allowed(
        &self,
        creds: &Credentials,
        method: &'static str,
        resource: &str,
    ) -> Result<String, WeftError> {
        self.authorizer
            .authorize(creds, SERVICE, method, &[resource.to_owned()])
            .await
            .map(|a| a.principal().to_owned())
    }

    /// The caller, when any of `methods` is allowed on `resource` (sheepdog's
    /// `authorize_for_project`): `(name, [allowed methods])`.
    pub async fn allowed_any(
        &self,
        creds: &Credentials,
        methods: &[&'static str],
        resource: &str,
    ) -> Result<(String, Vec<&'static str>), WeftError> {
        let mut allowed = Vec::new();
        let mut name = None;
        let mut last = None;
        for method in methods {
            match self.allowed(creds, method, resource).await {
                Ok(who) => {
                    name = Some(who);
                    allowed.push(*method);
                }
                Err(e) => last = Some(e),
            }
        }
        match name {
            Some(name) => Ok((name, allowed)),
            None => Err(last.unwrap_or_else(|| WeftError::forbidden("Permission denied"))),
        }
    }

    /// Check that the caller presents valid credentials at all (401 before anything else).
    pub async fn authenticate(&self, creds: &Credentials) -> Result<(), WeftError> {
        self.authorizer.authenticate(creds, SERVICE, "read").await
    }

    async fn find_one(
        &self,
        node_type: &str,
        names: &[&str],
        values: &[&Value],
    ) -> Result<Option<GraphNode>, WeftError> {
        let key = UniqueKey::new(names, values);
        let mut found = self
            .store
            .graph_find_unique(vec![(node_type.to_owned(), key)])
            .await
            .map_err(store_error)?;
        Ok(found.pop().flatten())
    }

    /// A program by name.
    pub async fn program(&self, name: &str) -> Result<GraphNode, WeftError> {
        self.find_one("program", &["name"], &[&Value::from(name)])
            .await?
            .ok_or_else(|| WeftError::not_found(format!("Program {name} not found")))
    }

    /// A project of a program, by code.
    pub async fn project(&self, program: &str, code: &str) -> Result<Project, WeftError> {
        let program_node = self.program(program).await?;
        let node = self
            .find_one("project", &["code"], &[&Value::from(code)])
            .await?
            .filter(|p| p.project_id.as_deref() == Some(format!("{program}-{code}").as_str()))
            .ok_or_else(|| WeftError::not_found(format!("Project {code} not found")))?;
        Ok(Project {
            program: program.to_owned(),
            code: code.to_owned(),
            project_id: format!("{program}-{code}"),
            node,
            program_node,
        })
    }

    /// Every program's name.
    pub async fn programs(&self) -> Result<Vec<String>, WeftError> {
        let nodes = self.list_all(None, Some("program")).await?;
        let mut names: Vec<String> = nodes
            .iter()
            .filter_map(|n| {
                n.props
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// The codes of a program's projects.
    pub async fn projects(&self, program: &str) -> Result<Vec<String>, WeftError> {
        let program_node = self.program(program).await?;
        let children = self
            .store
            .graph_children(vec![program_node.id])
            .await
            .map_err(store_error)?;
        let ids: Vec<String> = children
            .into_iter()
            .filter(|c| c.other_type == "project")
            .map(|c| c.edge.src)
            .collect();
        let nodes = self.store.graph_nodes(ids).await.map_err(store_error)?;
        let mut codes: Vec<String> = nodes
            .iter()
            .filter_map(|n| {
                n.props
                    .get("code")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        codes.sort();
        Ok(codes)
    }

    async fn list_all(
        &self,
        project_id: Option<String>,
        node_type: Option<&str>,
    ) -> Result<Vec<GraphNode>, WeftError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .graph_list(GraphListQuery {
                    project_id: project_id.clone(),
                    node_type: node_type.map(str::to_owned),
                    after: after.clone(),
                    limit: 1000,
                })
                .await
                .map_err(store_error)?;
            let done = page.len() < 1000;
            after = page.last().map(|n| n.id.clone());
            out.extend(page);
            if done {
                return Ok(out);
            }
        }
    }

    /// `POST|PUT|PATCH /` — create a program, or update its accession number.
    pub async fn put_program(
        &self,
        creds: &Credentials,
        format: Format,
        body: &[u8],
    ) -> Result<Value, WeftError> {
        let user = self.allowed(creds, "*", PROGRAM_ADMIN).await?;
        let doc = single_document(&self.dictionary, format, body)?;
        if doc.get("type").and_then(Value::as_str) != Some("program") {
            return Err(WeftError::invalid(format!(
                "Invalid type in key type='{}'",
                doc.get("type").map(display).unwrap_or_default()
            )));
        }
        let Some(name) = doc
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
        else {
            return Err(WeftError::invalid("No program specified in key 'name'"));
        };
        let name = name.as_str();
        check_name("program name", name)?;
        let phsid = doc
            .get("dbgap_accession_number")
            .cloned()
            .unwrap_or(Value::Null);
        if !phsid.is_string() {
            return Err(WeftError::invalid(
                "'dbgap_accession_number' is a required property (a string)",
            ));
        }
        let existing = self
            .find_one("program", &["name"], &[&Value::from(name)])
            .await?;
        let (id, create, message, mut props) = match existing {
            Some(node) => (node.id, false, "Program is updated!", node.props),
            None => (
                uuid::Uuid::new_v5(&PROGRAM_SEED, name.as_bytes()).to_string(),
                true,
                "Program registered.",
                Map::new(),
            ),
        };
        props.insert("name".into(), Value::from(name));
        props.insert("dbgap_accession_number".into(), phsid);
        let node = GraphNode {
            id: id.clone(),
            node_type: "program".into(),
            project_id: None,
            submitter_id: None,
            props,
        };
        let change = GraphChange {
            log: log_entry(
                None,
                "create",
                Some(user),
                false,
                "SUCCEEDED",
                Value::Object(doc),
            ),
            nodes: vec![NodeWrite {
                unique: vec![UniqueKey::new(&["name"], &[&Value::from(name)])],
                node,
                create,
            }],
            ..GraphChange::default()
        };
        self.store.graph_apply(change).await.map_err(store_error)?;
        Ok(json!({"id": id, "name": name, "message": message}))
    }

    /// `POST|PUT|PATCH /{program}` — create or update a project; answers a transaction.
    pub async fn put_project(
        &self,
        creds: &Credentials,
        program: &str,
        format: Format,
        body: &[u8],
    ) -> Result<TransactionReport, WeftError> {
        let user = self.allowed(creds, "*", PROJECT_ADMIN).await?;
        let program_node = self.program(program).await?;
        let mut doc = single_document(&self.dictionary, format, body)?;
        let mut errors = Vec::new();
        if doc.get("type").and_then(Value::as_str) != Some("project") {
            return Err(WeftError::invalid(format!(
                "Invalid type in key type='{}'",
                doc.get("type").map(display).unwrap_or_default()
            )));
        }
        let code = doc.get("code").and_then(Value::as_str).map(str::to_owned);
        let Some(code) = code.filter(|c| !c.is_empty()) else {
            return Err(WeftError::invalid("No project specified in key 'code'"));
        };
        check_name("project code", &code)?;
        let project_id = format!("{program}-{code}");
        let existing = self
            .find_one("project", &["code"], &[&Value::from(code.as_str())])
            .await?;
        if let Some(p) = &existing
            && p.project_id.as_deref() != Some(project_id.as_str())
        {
            errors.push(EntityError::new(
                report::kinds::NOT_UNIQUE,
                &["code"],
                format!("The project code {code} is taken by another program's project"),
            ));
        }
        // The link to the program is implied by the route.
        doc.insert("programs".into(), json!({"id": program_node.id}));
        let node_def = self.dictionary.node("project");
        let (id, create, mut props) = match existing.clone() {
            Some(node) => (node.id, false, node.props),
            None => (
                uuid::Uuid::new_v5(&PROJECT_SEED, code.as_bytes()).to_string(),
                true,
                Map::new(),
            ),
        };
        let system = node_def
            .map(|n| n.system_properties.clone())
            .unwrap_or_default();
        let mut warnings = Vec::new();
        for (k, v) in &doc {
            if matches!(k.as_str(), "type" | "id" | "programs") {
                continue;
            }
            if system.contains(k) && k != "state" {
                warnings.push(EntityError::new(
                    report::kinds::INVALID_PROPERTY,
                    &[k],
                    format!(
                        "Property '{k}' ({}) is a system property and will be ignored.",
                        display(v)
                    ),
                ));
                continue;
            }
            props.insert(k.clone(), v.clone());
        }
        // Sheepdog opens every project it writes.
        props.insert("state".into(), Value::from("open"));
        if let Some(def) = node_def {
            for p in &def.properties {
                if system.contains(&p.name)
                    && !props.contains_key(&p.name)
                    && let Some(d) = &p.default
                    && p.name != "id"
                {
                    props.insert(p.name.clone(), d.clone());
                }
            }
            let mut check = props.clone();
            check.insert("type".into(), Value::from("project"));
            check.insert("id".into(), Value::from(id.as_str()));
            check.insert("programs".into(), json!({"id": program_node.id}));
            for v in self
                .dictionary
                .validate("project", &Value::Object(check))
                .unwrap_or_default()
            {
                errors.push(EntityError {
                    message: v.message,
                    keys: v.keys,
                    kind: v.kind.as_str().to_owned(),
                });
            }
        }
        let entity = EntityReport {
            valid: errors.is_empty(),
            action: Some(if create { "create" } else { "update" }.to_owned()),
            node_type: Some("project".into()),
            id: Some(id.clone()),
            unique_keys: vec![Map::from_iter([(
                "code".to_owned(),
                Value::from(code.as_str()),
            )])],
            errors,
            warnings,
            related_cases: Vec::new(),
        };
        let mut report = TransactionReport::new(
            vec![entity],
            Vec::new(),
            if create { 201 } else { 200 },
            false,
        );
        let doc_value = Value::Object(doc);
        if !report.success {
            let entry = log_entry(
                Some(project_id),
                "create",
                Some(user),
                false,
                "FAILED",
                doc_value,
            );
            report.transaction_id = self.store.graph_log(entry).await.ok();
            return Ok(report);
        }
        let change = GraphChange {
            log: log_entry(
                Some(project_id.clone()),
                "create",
                Some(user),
                false,
                "SUCCEEDED",
                doc_value,
            ),
            nodes: vec![NodeWrite {
                node: GraphNode {
                    id: id.clone(),
                    node_type: "project".into(),
                    project_id: Some(project_id),
                    submitter_id: None,
                    props,
                },
                unique: vec![UniqueKey::new(&["code"], &[&Value::from(code.as_str())])],
                create,
            }],
            add_edges: if create {
                vec![GraphEdge {
                    src: id,
                    link: "programs".into(),
                    dst: program_node.id,
                }]
            } else {
                Vec::new()
            },
            ..GraphChange::default()
        };
        report.transaction_id = Some(self.store.graph_apply(change).await.map_err(store_error)?);
        Ok(report)
    }

    /// `DELETE /{program}` — only an empty program (no projects).
    pub async fn delete_program(
        &self,
        creds: &Credentials,
        program: &str,
    ) -> Result<(), WeftError> {
        let user = self.allowed(creds, "*", PROGRAM_ADMIN).await?;
        let node = self.program(program).await?;
        if !self.projects(program).await?.is_empty() {
            return Err(WeftError::invalid(
                "Program is not empty: delete its projects first",
            ));
        }
        let change = GraphChange {
            log: log_entry(
                None,
                "delete",
                Some(user),
                false,
                "SUCCEEDED",
                json!({"program": program}),
            ),
            delete: vec![node.id],
            ..GraphChange::default()
        };
        self.store.graph_apply(change).await.map_err(store_error)?;
        Ok(())
    }

    /// `DELETE /{program}/{project}` — only an empty project (no entities).
    pub async fn delete_project(
        &self,
        creds: &Credentials,
        program: &str,
        code: &str,
    ) -> Result<(), WeftError> {
        let user = self.allowed(creds, "*", PROJECT_ADMIN).await?;
        let project = self.project(program, code).await?;
        let counts = self
            .store
            .graph_counts(Some(project.project_id.clone()))
            .await
            .map_err(store_error)?;
        if counts.iter().any(|(t, n)| t != "project" && *n > 0) {
            return Err(WeftError::invalid(
                "Project is not empty: delete its entities first",
            ));
        }
        let change = GraphChange {
            log: log_entry(
                Some(project.project_id.clone()),
                "delete",
                Some(user),
                false,
                "SUCCEEDED",
                json!({"project": code}),
            ),
            delete: vec![project.node.id],
            ..GraphChange::default()
        };
        self.store.graph_apply(change).await.map_err(store_error)?;
        Ok(())
    }
}

/// A value as text in a message: strings without quotes.
pub(crate) fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Program names and project codes become path segments and `project_id`s: letters,
/// digits, `_`, `.` and `-` (the project's part may hold `-`, the program's may not, so that
/// `program-project` splits one way), at most 128 characters.
fn check_name(what: &str, name: &str) -> Result<(), WeftError> {
    let ok_char = |c: char| {
        c.is_ascii_alphanumeric() || c == '_' || c == '.' || (c == '-' && what == "project code")
    };
    if name.len() > 128 || !name.chars().all(ok_char) {
        return Err(WeftError::invalid(format!(
            "Invalid {what} '{name}': use letters, digits, '_' and '.'{} (at most 128)",
            if what == "project code" {
                " and '-'"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

/// The transaction log's state of an outcome.
pub(crate) fn log_state(success: bool) -> &'static str {
    if success { "SUCCEEDED" } else { "FAILED" }
}

pub(crate) fn log_entry(
    project_id: Option<String>,
    role: &str,
    submitter: Option<String>,
    dry_run: bool,
    state: &str,
    documents: Value,
) -> GraphLogEntry {
    GraphLogEntry {
        project_id,
        role: role.to_owned(),
        submitter,
        dry_run,
        state: state.to_owned(),
        created: now(),
        documents: documents.to_string(),
        ..GraphLogEntry::default()
    }
}
