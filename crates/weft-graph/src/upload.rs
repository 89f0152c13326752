//! A submission to a project (`POST`/`PUT /{program}/{project}[/_dry_run]`): sheepdog's
//! upload transaction.
//!
//! Every entity is checked before anything is written, with the store read in a few batched
//! lookups (existing entities by id and by unique key, their parent links, the link targets),
//! not once per entity; then the whole submission — nodes, links, the index records of file
//! nodes and the log entry — is one store transaction. Any invalid entity, and nothing is
//! written.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value, json};
use weft_auth::Credentials;
use weft_core::WeftError;
use weft_dictionary::{Node, ViolationKind};
use weft_store::{GraphChange, GraphEdge, GraphNode, NodeWrite, StoreError, UniqueKey};

use crate::parse::{self, Format};
use crate::report::{EntityError, EntityReport, TransactionReport, kinds};
use crate::{Project, Run, SubmissionService, display, log_entry, now, store_error};

/// Create only (`POST`) or create and update (`PUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Create,
    Update,
}

/// How a submission is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub role: Role,
    /// Check everything and write nothing, write, or commit a dry run.
    pub run: Run,
}

/// Keys that are never properties of the stored node.
const SPECIAL: [&str; 4] = ["type", "id", "created_datetime", "updated_datetime"];

/// What a reference to a link target names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Target {
    Id(String),
    Key(String, UniqueKey),
}

pub(crate) struct Entity<'d> {
    pub(crate) doc: Map<String, Value>,
    pub(crate) node: Option<&'d Node>,
    pub(crate) id: Option<String>,
    pub(crate) unique: Vec<UniqueKey>,
    pub(crate) unique_dicts: Vec<Map<String, Value>>,
    pub(crate) existing: Option<GraphNode>,
    pub(crate) action: Option<&'static str>,
    pub(crate) errors: Vec<EntityError>,
    pub(crate) warnings: Vec<EntityError>,
    pub(crate) props: Map<String, Value>,
    /// Link name → the targets given (resolved to ids later).
    refs: BTreeMap<String, Vec<Target>>,
    /// Links given as `null` (cleared on update).
    cleared: BTreeSet<String>,
    /// Every link's targets after the submission (given, plus stored ones kept).
    pub(crate) links: BTreeMap<String, BTreeSet<String>>,
    /// Edges to add and to remove.
    add: Vec<GraphEdge>,
    remove: Vec<GraphEdge>,
    pub(crate) line: Option<u64>,
}

impl Entity<'_> {
    fn error(&mut self, kind: &str, keys: &[&str], message: impl Into<String>) {
        let mut message = message.into();
        if let Some(line) = self.line {
            message = format!("line {line}: {message}");
        }
        self.errors.push(EntityError::new(kind, keys, message));
    }

    fn node_type(&self) -> Option<&str> {
        self.doc.get("type").and_then(Value::as_str)
    }

    pub(crate) fn report(&self) -> EntityReport {
        EntityReport {
            valid: self.errors.is_empty(),
            action: self.action.map(str::to_owned),
            node_type: self.node_type().map(str::to_owned),
            id: self.id.clone(),
            unique_keys: self.unique_dicts.clone(),
            errors: self.errors.clone(),
            warnings: self.warnings.clone(),
            related_cases: Vec::new(),
        }
    }
}

/// The unique keys (other than `[id]`) a document fills, for a node of `project_id`.
pub(crate) fn unique_keys(
    node: &Node,
    doc: &Map<String, Value>,
    project_id: &str,
) -> (Vec<UniqueKey>, Vec<Map<String, Value>>) {
    let mut keys = Vec::new();
    let mut dicts = Vec::new();
    let project = Value::from(project_id);
    for names in &node.unique_keys {
        if names.len() == 1 && names[0] == "id" {
            continue;
        }
        let values: Vec<&Value> = names
            .iter()
            .map(|n| {
                if n == "project_id" && node.in_project() {
                    &project
                } else {
                    doc.get(n).unwrap_or(&Value::Null)
                }
            })
            .collect();
        let dict: Map<String, Value> = names
            .iter()
            .zip(&values)
            .map(|(n, v)| (n.clone(), (*v).clone()))
            .collect();
        dicts.push(dict);
        if values.iter().all(|v| !v.is_null()) {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            keys.push(UniqueKey::new(&names, &values));
        }
    }
    (keys, dicts)
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok() && s.len() == 36
}

impl SubmissionService {
    /// A submission to a project. `creds` must be allowed `create` (POST) or `create` or
    /// `update` (PUT) on the project (else 401/403 before the body is read); each entity is
    /// then checked against the role it needs.
    pub async fn submit(
        &self,
        creds: &Credentials,
        program: &str,
        code: &str,
        mode: Mode,
        format: Format,
        body: &[u8],
    ) -> Result<TransactionReport, WeftError> {
        let (project, user, allowed) = self.writer(creds, program, code, mode.role).await?;
        let parsed = parse::documents(&self.dictionary, format, body)?;
        let lines: Vec<Option<u64>> = match parsed.lines {
            Some(l) => l.into_iter().map(Some).collect(),
            None => vec![None; parsed.docs.len()],
        };
        let documents = json!([{"doc_format": format.as_str(), "doc_size": body.len(),
                                "doc": String::from_utf8_lossy(body)}]);
        self.apply_documents(
            &project,
            user,
            &allowed,
            mode,
            parsed.docs,
            lines,
            documents,
        )
        .await
    }

    /// Who may submit to a project, as sheepdog's `authorize_for_project` decides it: valid
    /// credentials (401), an existing project (404), then any of the methods `role` may need
    /// (403 when none): `(project, caller's name, allowed methods)`.
    async fn writer(
        &self,
        creds: &Credentials,
        program: &str,
        code: &str,
        role: Role,
    ) -> Result<(Project, String, Vec<&'static str>), WeftError> {
        self.authenticate(creds).await?;
        let project = self.project(program, code).await?;
        let methods: &[&'static str] = match role {
            Role::Create => &["create"],
            Role::Update => &["create", "update"],
        };
        let (user, allowed) = self
            .allowed_any(creds, methods, &project.resource())
            .await?;
        Ok((project, user, allowed))
    }

    /// Check and (unless a dry run) write the documents of one submission; `documents` is
    /// what the transaction log records of the request.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn apply_documents(
        &self,
        project: &Project,
        user: String,
        allowed: &[&str],
        mode: Mode,
        docs: Vec<Value>,
        lines: Vec<Option<u64>>,
        documents: Value,
    ) -> Result<TransactionReport, WeftError> {
        let Mode { role, run } = mode;
        let dry_run = run.is_dry();
        if docs.len() > crate::MAX_ENTITIES {
            return Err(WeftError::invalid(format!(
                "A submission may hold at most {} entities; this one holds {}",
                crate::MAX_ENTITIES,
                docs.len()
            )));
        }
        if docs.is_empty() {
            let mut report = TransactionReport::refused("Nothing to submit");
            let entry = log_entry(
                Some(project.project_id.clone()),
                role_name(role),
                Some(user),
                dry_run,
                "FAILED",
                documents,
            );
            report.transaction_id = self.store.graph_log(entry).await.ok();
            return Ok(report);
        }
        let mut entities = self.entities(project, docs, &lines);
        self.find_existing(project, role, allowed, &mut entities)
            .await?;
        self.resolve_links(project, &mut entities).await?;
        let index_writes = self.file_records(project, &mut entities).await?;
        self.validate(&mut entities);

        let reports: Vec<EntityReport> = entities.iter().map(Entity::report).collect();
        let success_code = if role == Role::Create { 201 } else { 200 };
        let mut report = TransactionReport::new(reports, Vec::new(), success_code, dry_run);
        let role_name = role_name(role);
        if !report.success || dry_run {
            let state = crate::log_state(report.success);
            let entry = log_entry(
                Some(project.project_id.clone()),
                role_name,
                Some(user),
                dry_run,
                state,
                documents,
            );
            report.transaction_id = self.store.graph_log(entry).await.ok();
            return Ok(report);
        }
        let change = self.change(
            project,
            &entities,
            index_writes,
            log_entry(
                Some(project.project_id.clone()),
                role_name,
                Some(user),
                false,
                "SUCCEEDED",
                documents,
            ),
        );
        let change = GraphChange {
            commits: run.commits(),
            ..change
        };
        match self.store.graph_apply(change).await {
            Ok(id) => report.transaction_id = Some(id),
            Err(StoreError::AlreadyExists(m) | StoreError::Invalid(m)) => {
                // Another submission took a key between the checks and the write.
                let mut failed = TransactionReport::new(
                    report.entities,
                    vec![json!({"message": m})],
                    success_code,
                    false,
                );
                failed.transaction_id = None;
                return Ok(failed);
            }
            Err(StoreError::RevisionMismatch) => {
                return Ok(TransactionReport::new(
                    report.entities,
                    vec![
                        json!({"message": "an index record changed during the submission; submit again"}),
                    ],
                    success_code,
                    false,
                ));
            }
            Err(e) => return Err(store_error(e)),
        }
        Ok(report)
    }

    /// Parse each document into an entity: its type, id and unique keys; duplicates within
    /// the submission are refused here.
    fn entities<'d>(
        &'d self,
        project: &Project,
        docs: Vec<Value>,
        lines: &[Option<u64>],
    ) -> Vec<Entity<'d>> {
        let mut seen: HashMap<Target, usize> = HashMap::new();
        let mut out = Vec::with_capacity(docs.len());
        for (i, doc) in docs.into_iter().enumerate() {
            let line = lines.get(i).copied().flatten();
            let mut e = Entity {
                doc: Map::new(),
                node: None,
                id: None,
                unique: Vec::new(),
                unique_dicts: Vec::new(),
                existing: None,
                action: None,
                errors: Vec::new(),
                warnings: Vec::new(),
                props: Map::new(),
                refs: BTreeMap::new(),
                cleared: BTreeSet::new(),
                links: BTreeMap::new(),
                add: Vec::new(),
                remove: Vec::new(),
                line,
            };
            let Value::Object(doc) = doc else {
                e.error(
                    kinds::INVALID_VALUE,
                    &[],
                    format!("Entity document must be an object, not {}", json_kind(&doc)),
                );
                out.push(e);
                continue;
            };
            if map_has_nul(&doc) {
                e.error(
                    kinds::INVALID_VALUE,
                    &[],
                    "The entity contains a NUL character, which no value may hold",
                );
                e.doc = doc;
                out.push(e);
                continue;
            }
            e.doc = doc;
            let Some(node_type) = e.doc.get("type") else {
                e.error(kinds::INVALID_TYPE, &["type"], "missing 'type'");
                out.push(e);
                continue;
            };
            let Some(node_type) = node_type.as_str().map(str::to_owned) else {
                e.error(kinds::INVALID_TYPE, &["type"], "'type' must be a string");
                out.push(e);
                continue;
            };
            let Some(node) = self.dictionary.node(&node_type) else {
                e.error(
                    kinds::INVALID_TYPE,
                    &["type"],
                    format!("Invalid entity type: {node_type}."),
                );
                out.push(e);
                continue;
            };
            if !node.in_project() {
                e.error(
                    kinds::INVALID_TYPE,
                    &["id"],
                    format!(
                        "{node_type} is not an entity that can be upload via the project endpoint."
                    ),
                );
                out.push(e);
                continue;
            }
            e.node = Some(node);
            match e.doc.get("id") {
                None | Some(Value::Null) => {}
                Some(Value::String(id)) if is_uuid(id) => e.id = Some(id.to_lowercase()),
                Some(other) => {
                    let v = display(other);
                    e.error(
                        kinds::INVALID_VALUE,
                        &["id"],
                        format!("Cannot create entity with custom id that is not a UUID: {v}"),
                    );
                }
            }
            let (unique, dicts) = unique_keys(node, &e.doc, &project.project_id);
            e.unique = unique;
            e.unique_dicts = dicts;
            if e.id.is_none() && e.unique.is_empty() && e.errors.is_empty() {
                let keys: Vec<String> = node
                    .unique_keys
                    .iter()
                    .flatten()
                    .filter(|k| *k != "id")
                    .cloned()
                    .collect();
                let names: Vec<&str> = keys.iter().map(String::as_str).collect();
                e.error(
                    kinds::MISSING_PROPERTY,
                    &names,
                    format!(
                        "Either an id or required unique fields ({}) required",
                        keys.join(", ")
                    ),
                );
            }
            let mut mine: Vec<Target> = e
                .unique
                .iter()
                .map(|k| Target::Key(node_type.clone(), k.clone()))
                .collect();
            if let Some(id) = &e.id {
                mine.push(Target::Id(id.clone()));
            }
            for t in mine {
                if let Some(first) = seen.get(&t) {
                    let what = match &t {
                        Target::Id(id) => format!("id {id}"),
                        Target::Key(_, k) => format!("{} {}", k.names, k.value),
                    };
                    let first = first + 1;
                    e.error(kinds::NOT_UNIQUE, &["submitter_id"], format!(
                        "Entity is not unique: entity {first} of this submission has the same {what}"
                    ));
                    break;
                }
                seen.insert(t, i);
            }
            out.push(e);
        }
        out
    }

    /// Look the entities up in the store (by id, by unique key), decide create or update,
    /// and compute their properties.
    async fn find_existing(
        &self,
        project: &Project,
        role: Role,
        allowed: &[&str],
        entities: &mut [Entity<'_>],
    ) -> Result<(), WeftError> {
        let ids: Vec<String> = entities
            .iter()
            .filter(|e| e.errors.is_empty())
            .filter_map(|e| e.id.clone())
            .collect();
        let by_id: HashMap<String, GraphNode> = self
            .store
            .graph_nodes(ids)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|n| (n.id.clone(), n))
            .collect();
        let mut asks = Vec::new();
        let mut owners = Vec::new();
        for (i, e) in entities.iter().enumerate() {
            if !e.errors.is_empty() {
                continue;
            }
            for k in &e.unique {
                asks.push((e.node_type().unwrap_or_default().to_owned(), k.clone()));
                owners.push(i);
            }
        }
        let found = self
            .store
            .graph_find_unique(asks)
            .await
            .map_err(store_error)?;
        let mut by_key: Vec<Vec<GraphNode>> = vec![Vec::new(); entities.len()];
        for (owner, node) in owners.into_iter().zip(found) {
            if let Some(node) = node {
                by_key[owner].push(node);
            }
        }
        let now = now();
        for (i, e) in entities.iter_mut().enumerate() {
            if !e.errors.is_empty() {
                continue;
            }
            let mut candidates: Vec<GraphNode> = Vec::new();
            if let Some(n) = e.id.as_ref().and_then(|id| by_id.get(id)) {
                candidates.push(n.clone());
            }
            for n in by_key[i].drain(..) {
                if !candidates.iter().any(|c| c.id == n.id) {
                    candidates.push(n);
                }
            }
            let node_type = e.node_type().unwrap_or_default().to_owned();
            match (role, candidates.len()) {
                (_, 0) => {
                    if !allowed.contains(&"create") {
                        e.error(
                            kinds::INVALID_PERMISSIONS,
                            &[],
                            format!(
                                "You do not have create permission for project {}",
                                project.project_id
                            ),
                        );
                        continue;
                    }
                    e.action = Some("create");
                    if e.id.is_none() {
                        e.id = Some(uuid::Uuid::now_v7().to_string());
                    }
                }
                (Role::Create, _) => {
                    e.error(kinds::NOT_UNIQUE, &["id"],
                        "Cannot create entity that already exists. Try updating entity (PUT instead of POST)");
                    continue;
                }
                (Role::Update, 1) => {
                    let Some(node) = candidates.pop() else {
                        continue;
                    };
                    if !allowed.contains(&"update") {
                        e.error(
                            kinds::INVALID_PERMISSIONS,
                            &[],
                            format!(
                                "You do not have update permission for project {}",
                                project.project_id
                            ),
                        );
                        continue;
                    }
                    if node.node_type != node_type {
                        e.error(
                            kinds::NOT_UNIQUE,
                            &["id"],
                            format!(
                                "Existing {} entity found with type different from {node_type}",
                                node.node_type
                            ),
                        );
                        continue;
                    }
                    if node.project_id.as_deref() != Some(project.project_id.as_str()) {
                        e.error(
                            kinds::INVALID_PERMISSIONS,
                            &["project_id"],
                            format!(
                                "Entity is owned by project {}, not {}",
                                node.project_id.as_deref().unwrap_or("(none)"),
                                project.project_id
                            ),
                        );
                        continue;
                    }
                    e.action = Some("update");
                    e.id = Some(node.id.clone());
                    e.existing = Some(node);
                }
                (Role::Update, _) => {
                    e.error(
                        kinds::NOT_UNIQUE,
                        &["id"],
                        format!(
                            "Entity is not unique, multiple entities found with {}",
                            e.unique
                                .iter()
                                .map(|k| k.value.clone())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                    continue;
                }
            }
            self.set_properties(project, e, &now);
        }
        Ok(())
    }

    /// The node's properties: the document's (over the stored ones on update), system
    /// properties defaulted and never taken from the submitter.
    fn set_properties(&self, project: &Project, e: &mut Entity<'_>, now: &str) {
        let Some(node) = e.node else { return };
        let mut props = e
            .existing
            .as_ref()
            .map(|n| n.props.clone())
            .unwrap_or_default();
        let doc = std::mem::take(&mut e.doc);
        for (key, value) in &doc {
            if SPECIAL.contains(&key.as_str()) || node.link(key).is_some() || key == "urls" {
                continue;
            }
            if node.system_properties.contains(key) {
                let current = props.get(key).cloned().unwrap_or(Value::Null);
                if !value.is_null() && *value != current && key != "project_id" {
                    e.warnings.push(EntityError::new(
                        kinds::INVALID_PROPERTY,
                        &[key],
                        format!(
                            "Property '{key}' ({}) is a system property and will be ignored.",
                            display(value)
                        ),
                    ));
                }
                continue;
            }
            props.insert(key.clone(), value.clone());
        }
        e.doc = doc;
        for p in &node.properties {
            if node.system_properties.contains(&p.name)
                && !matches!(
                    p.name.as_str(),
                    "id" | "type" | "project_id" | "created_datetime" | "updated_datetime"
                )
                && props.get(&p.name).is_none_or(Value::is_null)
                && let Some(default) = &p.default
            {
                props.insert(p.name.clone(), default.clone());
            }
        }
        if node.property("project_id").is_some() {
            props.insert(
                "project_id".into(),
                Value::from(project.project_id.as_str()),
            );
        }
        if e.existing.is_none() {
            props.insert("created_datetime".into(), Value::from(now));
        }
        props.insert("updated_datetime".into(), Value::from(now));
        e.props = props;
    }

    /// Resolve every link target: entities of this submission first, then the store (one
    /// batched lookup by id and one by unique key); merge the stored links of updated
    /// entities as sheepdog does (a link not named in the document is kept; `null` clears).
    async fn resolve_links(
        &self,
        project: &Project,
        entities: &mut [Entity<'_>],
    ) -> Result<(), WeftError> {
        // What this submission itself provides.
        let mut local: HashMap<Target, (String, String)> = HashMap::new();
        for e in entities.iter().filter(|e| e.errors.is_empty()) {
            let (Some(id), Some(t)) = (&e.id, e.node_type()) else {
                continue;
            };
            local.insert(Target::Id(id.clone()), (id.clone(), t.to_owned()));
            for k in &e.unique {
                local.insert(
                    Target::Key(t.to_owned(), k.clone()),
                    (id.clone(), t.to_owned()),
                );
            }
        }
        // Parse each link value into targets.
        for e in entities.iter_mut().filter(|e| e.errors.is_empty()) {
            let Some(node) = e.node else { continue };
            for link in &node.links {
                let Some(value) = e.doc.get(&link.name).cloned() else {
                    continue;
                };
                let items = match value {
                    Value::Null => {
                        e.cleared.insert(link.name.clone());
                        continue;
                    }
                    Value::Array(items) => items,
                    other => vec![other],
                };
                let Some(target_node) = self.dictionary.node(&link.target_type) else {
                    continue;
                };
                let mut targets = Vec::new();
                for item in items {
                    let Value::Object(obj) = item else {
                        // The schema check names the value.
                        continue;
                    };
                    if let Some(id) = obj.get("id").and_then(Value::as_str) {
                        targets.push(Target::Id(id.to_lowercase()));
                        continue;
                    }
                    let (keys, _) = unique_keys(target_node, &obj, &project.project_id);
                    match keys.into_iter().next() {
                        Some(k) => targets.push(Target::Key(link.target_type.clone(), k)),
                        None => {
                            let m = format!(
                                "No link destination found for {}: give its id or its unique keys",
                                link.name
                            );
                            e.error(kinds::INVALID_LINK, &[&link.name], m);
                        }
                    }
                }
                e.refs.insert(link.name.clone(), targets);
            }
        }
        // One lookup for everything the submission does not provide.
        let mut ask_ids = BTreeSet::new();
        let mut ask_keys = BTreeSet::new();
        for e in entities.iter() {
            for t in e.refs.values().flatten() {
                if local.contains_key(t) {
                    continue;
                }
                match t {
                    Target::Id(id) => {
                        ask_ids.insert(id.clone());
                    }
                    Target::Key(ty, k) => {
                        ask_keys.insert((ty.clone(), k.clone()));
                    }
                }
            }
        }
        let mut stored: HashMap<Target, GraphNode> = HashMap::new();
        for n in self
            .store
            .graph_nodes(ask_ids.into_iter().collect())
            .await
            .map_err(store_error)?
        {
            stored.insert(Target::Id(n.id.clone()), n);
        }
        let keys: Vec<(String, UniqueKey)> = ask_keys.into_iter().collect();
        let found = self
            .store
            .graph_find_unique(keys.clone())
            .await
            .map_err(store_error)?;
        for ((ty, k), n) in keys.into_iter().zip(found) {
            if let Some(n) = n {
                stored.insert(Target::Key(ty, k), n);
            }
        }
        // The stored parents of updated entities.
        let updated: Vec<String> = entities
            .iter()
            .filter(|e| e.errors.is_empty() && e.existing.is_some())
            .filter_map(|e| e.id.clone())
            .collect();
        let mut parents: HashMap<String, Vec<GraphEdge>> = HashMap::new();
        for l in self
            .store
            .graph_parents(updated)
            .await
            .map_err(store_error)?
        {
            parents.entry(l.edge.src.clone()).or_default().push(l.edge);
        }

        for e in entities.iter_mut() {
            if !e.errors.is_empty() {
                continue;
            }
            let Some(node) = e.node else { continue };
            let id = e.id.clone().unwrap_or_default();
            let mut resolved: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            let refs = std::mem::take(&mut e.refs);
            for (name, targets) in &refs {
                let Some(link) = node.link(name) else {
                    continue;
                };
                let set = resolved.entry(name.clone()).or_default();
                for t in targets {
                    let (target_id, target_type, target_project) = if let Some((tid, tt)) =
                        local.get(t)
                    {
                        (tid.clone(), tt.clone(), Some(project.project_id.clone()))
                    } else if let Some(n) = stored.get(t) {
                        (n.id.clone(), n.node_type.clone(), n.project_id.clone())
                    } else {
                        let what = match t {
                            Target::Id(i) => format!("id='{i}'"),
                            Target::Key(_, k) => format!("unique_keys='{}: {}'", k.names, k.value),
                        };
                        e.error(
                            kinds::INVALID_LINK,
                            &[name],
                            format!("No link destination found for {name}, {what}"),
                        );
                        continue;
                    };
                    if target_type != link.target_type {
                        e.error(
                            kinds::INVALID_LINK,
                            &[name],
                            format!(
                                "{name} must link to a {}, and {target_id} is a {target_type}",
                                link.target_type
                            ),
                        );
                        continue;
                    }
                    if let Some(p) = target_project.filter(|p| *p != project.project_id) {
                        e.error(kinds::INVALID_LINK, &[name], format!(
                            "Relationship to {target_type} {target_id} in project {p} not allowed"
                        ));
                        continue;
                    }
                    set.insert(target_id);
                }
            }
            e.refs = refs;
            // What is new, then what is stored: kept unless the document cleared the link.
            for (name, dsts) in &resolved {
                for dst in dsts {
                    e.add.push(GraphEdge {
                        src: id.clone(),
                        link: name.clone(),
                        dst: dst.clone(),
                    });
                }
            }
            for edge in parents.remove(&id).unwrap_or_default() {
                if e.cleared.contains(&edge.link) {
                    e.remove.push(edge);
                    continue;
                }
                e.add.retain(|a| *a != edge);
                resolved
                    .entry(edge.link.clone())
                    .or_default()
                    .insert(edge.dst);
            }
            for link in &node.links {
                let n = resolved.get(&link.name).map_or(0, BTreeSet::len);
                if link.multiplicity.to_one() && n > 1 {
                    e.error(
                        kinds::INVALID_LINK,
                        &[&link.name],
                        format!(
                            "{} is a {} link: an entity may link to one {} only, not {n}",
                            link.name,
                            link.multiplicity.as_str(),
                            link.target_type
                        ),
                    );
                }
            }
            for group in &node.link_groups {
                let given: Vec<&String> = group
                    .links
                    .iter()
                    .filter(|l| resolved.get(*l).is_some_and(|s| !s.is_empty()))
                    .collect();
                let names: Vec<&str> = group.links.iter().map(String::as_str).collect();
                if group.required && given.is_empty() {
                    e.error(
                        kinds::MISSING_PROPERTY,
                        &names,
                        format!(
                            "At least one of the links {} is required",
                            group.links.join(", ")
                        ),
                    );
                }
                if group.exclusive && given.len() > 1 {
                    e.error(
                        kinds::INVALID_LINK,
                        &names,
                        format!(
                            "Only one of the links {} may be given",
                            group.links.join(", ")
                        ),
                    );
                }
            }
            e.links = resolved;
        }
        Ok(())
    }

    /// Check every entity against its node's schema: the stored properties, the links given
    /// (or kept), `type` and `id`.
    fn validate(&self, entities: &mut [Entity<'_>]) {
        for e in entities.iter_mut() {
            if !e.errors.is_empty() {
                continue;
            }
            let Some(node) = e.node else { continue };
            let mut check = e.props.clone();
            check.insert("type".into(), Value::from(node.id.as_str()));
            if let Some(id) = &e.id {
                check.insert("id".into(), Value::from(id.as_str()));
            }
            for link in &node.links {
                match e.doc.get(&link.name) {
                    Some(given) if !given.is_null() => {
                        check.insert(link.name.clone(), given.clone());
                    }
                    Some(_) => {
                        check.insert(link.name.clone(), Value::Null);
                    }
                    None => {
                        if let Some(ids) = e.links.get(&link.name).filter(|ids| !ids.is_empty()) {
                            let refs: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
                            check.insert(link.name.clone(), Value::Array(refs));
                        }
                    }
                }
            }
            // `submitter_id` absent on update means "keep it".
            let violations = self
                .dictionary
                .validate(&node.id, &Value::Object(check))
                .unwrap_or_default();
            for v in violations {
                let kind = match v.kind {
                    ViolationKind::MissingProperty => kinds::MISSING_PROPERTY,
                    ViolationKind::InvalidValue => kinds::INVALID_VALUE,
                    ViolationKind::InvalidProperty => kinds::INVALID_PROPERTY,
                    ViolationKind::InvalidLink => kinds::INVALID_LINK,
                };
                let keys: Vec<&str> = v.keys.iter().map(String::as_str).collect();
                e.error(kind, &keys, v.message);
            }
        }
    }

    /// The store change of a valid submission.
    fn change(
        &self,
        project: &Project,
        entities: &[Entity<'_>],
        index: crate::files::IndexWrites,
        log: weft_store::GraphLogEntry,
    ) -> GraphChange {
        let mut change = GraphChange {
            log,
            index_records: index.create,
            index_aliases: index.aliases,
            index_updates: index.update,
            ..GraphChange::default()
        };
        for e in entities {
            let (Some(node), Some(id)) = (e.node, &e.id) else {
                continue;
            };
            let props = e.props.clone();
            let submitter_id = props
                .get("submitter_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let (unique, _) = unique_keys(node, &props, &project.project_id);
            change.nodes.push(NodeWrite {
                node: GraphNode {
                    id: id.clone(),
                    node_type: node.id.clone(),
                    project_id: Some(project.project_id.clone()),
                    submitter_id,
                    props,
                },
                unique,
                create: e.existing.is_none(),
            });
            change.add_edges.extend(e.add.iter().cloned());
            change.remove_edges.extend(e.remove.iter().cloned());
        }
        change
    }
}

/// Whether a NUL character is in any key or string of `v` (refused on both backends alike,
/// as PostgreSQL cannot store it).
fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map_has_nul(map),
        _ => false,
    }
}

/// [`has_nul`] of an object's keys and values.
pub(crate) fn map_has_nul(map: &Map<String, Value>) -> bool {
    map.iter().any(|(k, v)| k.contains('\0') || has_nul(v))
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Create => "create",
        Role::Update => "update",
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// What a bulk body must be.
const BULK_FORMAT: &str = "Bulk transfers must be an array of JSON objects of format: \
                           {\"name\": string, \"doc_format\": string, \"doc\": string}";

/// One document of a bulk submission.
#[derive(serde::Deserialize)]
struct BulkDoc {
    #[serde(default)]
    name: Option<String>,
    doc_format: String,
    doc: String,
}

impl SubmissionService {
    /// `POST|PUT .../bulk[/_dry_run]`: several documents (`[{"name", "doc_format", "doc"}]`,
    /// each JSON, TSV or CSV) submitted as one transaction, links resolving across them;
    /// answered as sheepdog's bulk transaction with one subtransaction per document.
    pub async fn submit_bulk(
        &self,
        creds: &Credentials,
        program: &str,
        code: &str,
        mode: Mode,
        body: &[u8],
    ) -> Result<Value, WeftError> {
        let (project, user, allowed) = self.writer(creds, program, code, mode.role).await?;
        let wrappers: Vec<Value> = match serde_json::from_slice(body) {
            Ok(Value::Array(items)) => items,
            _ => return Err(WeftError::invalid(BULK_FORMAT)),
        };
        let mut docs = Vec::new();
        let mut lines = Vec::new();
        let mut parts = Vec::new();
        let mut logged = Vec::new();
        for (i, wrapper) in wrappers.into_iter().enumerate() {
            let doc: BulkDoc =
                serde_json::from_value(wrapper).map_err(|_| WeftError::invalid(BULK_FORMAT))?;
            let name = doc
                .name
                .clone()
                .unwrap_or_else(|| format!("document {}", i + 1));
            let format = Format::parse(&doc.doc_format).ok_or_else(|| {
                WeftError::invalid(format!(
                    "{name}: doc_format must be json, tsv or csv, not {}",
                    doc.doc_format
                ))
            })?;
            let parsed = parse::documents(&self.dictionary, format, doc.doc.as_bytes())
                .map_err(|e| WeftError::invalid(format!("{name}: {}", e.message)))?;
            let start = docs.len();
            match parsed.lines {
                Some(l) => lines.extend(l.into_iter().map(Some)),
                None => lines.extend(std::iter::repeat_n(None, parsed.docs.len())),
            }
            docs.extend(parsed.docs);
            parts.push((name.clone(), start..docs.len()));
            logged.push(json!({"name": name, "doc_format": format.as_str(),
                               "doc_size": doc.doc.len(), "doc": doc.doc}));
        }
        let report = self
            .apply_documents(
                &project,
                user,
                &allowed,
                mode,
                docs,
                lines,
                Value::Array(logged),
            )
            .await?;
        let success_code = if mode.role == Role::Create { 201 } else { 200 };
        let mut document_errors = 0;
        let subtransactions: Vec<Value> = parts
            .into_iter()
            .map(|(name, range)| {
                let entities = report.entities.get(range).map(<[_]>::to_vec).unwrap_or_default();
                let mut errors = Vec::new();
                if !report.success && entities.iter().all(|e| e.valid) {
                    errors.push(json!({"message": "Transaction aborted: another document of the bulk transaction failed"}));
                }
                let mut sub = TransactionReport::new(entities, errors, success_code, mode.run.is_dry());
                sub.transaction_id = report.transaction_id;
                if !sub.success {
                    document_errors += 1;
                }
                json!({"name": name, "response_json": sub})
            })
            .collect();
        Ok(json!({
            "transaction_id": report.transaction_id,
            "transactional_errors": report.transactional_errors,
            "success": report.success,
            "message": if report.success { "Bulk Transaction succeeded." } else { "Bulk Transaction failed." },
            "entity_error_count": report.entity_error_count,
            "updated_entity_count": report.updated_entity_count,
            "created_entity_count": report.created_entity_count,
            "document_error_count": document_errors,
            "code": report.code,
            "subtransactions": subtransactions,
        }))
    }
}
