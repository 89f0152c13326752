//! fence's user.yaml sync: read the file fence reads, unchanged, and make the policy set match
//! it.
//!
//! [`parse`] reads the YAML into typed entries and checks it the way fence does before a sync
//! (gen3users' `validate_user_yaml`: every policy, role, resource and user a file names is
//! defined in the same file, no duplicate ids, known methods, no `service: '*'` in public
//! policies). A file that is not YAML, or has the wrong shape, is reported with its line and
//! column; a file that names something it does not define is reported by key path
//! (`authz.policies[3].role_ids[0]: role "x" is not defined`).
//!
//! [`apply`] then changes a [`Txn`] so that the model matches the file, as fence's usersync
//! changes arborist (`fence/sync/sync_users.py`):
//!
//! - resources (merged: resources absent from the file stay), roles and policies are created or
//!   updated; none of them is ever deleted;
//! - groups absent from the file are deleted, except the built-in `anonymous` and `logged-in`,
//!   whose policies become `anonymous_policies` and `all_users_policies`;
//! - each user's direct grants *from `provider`* become exactly the file's (`policies` plus the
//!   legacy `projects`); grants from other providers are left alone;
//! - users the sync manages that end up with no grant and no group are deleted;
//! - each listed client gets exactly its listed policies.
//!
//! Applying the same file twice changes nothing the second time, and the [`SyncReport`] is
//! empty. Everything happens in one `Txn`, so a caller that drops the `Txn` on error (as
//! [`crate::AuthzService::change`] does) changes nothing at all.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::error::{AuthzError, AuthzResult};
use crate::model::{
    ANONYMOUS, Action, Grant, Kind, LOGGED_IN, Model, Permission, Policy, ResourceIn, Role, Txn,
    normalize_path, user_key,
};

/// The provider fence's usersync names itself with (`X-AuthZ-Provider: user-sync`).
pub const PROVIDER: &str = "user-sync";

/// The description fence gives the policies it makes from `projects`.
const LEGACY_POLICY_DESCRIPTION: &str = "policy created by fence sync";

/// The methods gen3users accepts in a role or a legacy privilege; anything else is most
/// likely a typo (`read_storage`).
pub const KNOWN_METHODS: [&str; 12] = [
    "*",
    "read",
    "read-storage",
    "write",
    "write-storage",
    "create",
    "update",
    "delete",
    "file_upload",
    "access",
    "upload",
    "launch",
];

// ----- the file -----

/// A parsed and checked user.yaml.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserYaml {
    /// The policy set (`authz`, or its old name `rbac`, or only root `resources` in the oldest
    /// format). `None` when the file has none: sync then leaves resources, roles, policies and
    /// groups alone, as fence does, and only syncs users and clients.
    pub authz: Option<Authz>,
    /// Where `authz` came from, for key paths in messages.
    pub section: Section,
    /// Users in file order, names as written.
    pub users: Vec<(String, UserEntry)>,
    /// Clients by name, in file order.
    pub clients: Vec<(String, ClientEntry)>,
    /// Keys fence ignores and so does this sync (deprecated sections, unknown keys), by key path.
    pub warnings: Vec<String>,
}

/// The key the policy set was read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Section {
    #[default]
    Authz,
    /// The old name of `authz`, read when `authz` is missing or empty.
    Rbac,
    /// The oldest format: `resources` at the root, and no other part of a policy set.
    RootResources,
}

impl Section {
    /// The key path of `field` inside the section.
    #[must_use]
    pub fn key(self, field: &str) -> String {
        match self {
            Self::Authz => format!("authz.{field}"),
            Self::Rbac => format!("rbac.{field}"),
            Self::RootResources => field.to_owned(),
        }
    }
}

/// The `authz` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Authz {
    pub resources: Vec<ResourceEntry>,
    pub roles: Vec<Role>,
    pub policies: Vec<Policy>,
    pub groups: Vec<GroupEntry>,
    /// Policies of the built-in group `anonymous` (everyone, with or without a token).
    pub anonymous_policies: Vec<String>,
    /// Policies of the built-in group `logged-in` (everyone with a user name).
    pub all_users_policies: Vec<String>,
    /// Legacy `projects[].auth_id` → resource path.
    pub user_project_to_resource: BTreeMap<String, String>,
}

/// A node of the resource tree.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResourceEntry {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub subresources: Vec<ResourceEntry>,
}

/// A group: its members and its policies (all three keys are required, as in fence).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GroupEntry {
    pub name: String,
    pub users: Vec<String>,
    pub policies: Vec<String>,
    /// Accepted and ignored (arborist groups have no description).
    #[serde(default)]
    pub description: Option<String>,
}

/// A user. Only `policies` and `projects` reach the policy engine; the rest is fence's user
/// record (kept here for the identity service).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct UserEntry {
    /// fence's `is_admin` (the deprecated way to grant program/project CRUD).
    #[serde(default, deserialize_with = "null_default")]
    pub admin: bool,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_default")]
    pub policies: Vec<String>,
    /// The legacy access form.
    #[serde(default, deserialize_with = "null_default")]
    pub projects: Vec<ProjectEntry>,
}

impl UserEntry {
    /// The email fence records: the `email` key, else the user name when it is an address.
    #[must_use]
    pub fn email_or_name<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        match self.email.as_deref() {
            Some(e) if !e.is_empty() => Some(e),
            _ => looks_like_email(name).then_some(name),
        }
    }
}

fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// A legacy `projects` entry: privileges on a project named by `auth_id`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProjectEntry {
    pub auth_id: String,
    #[serde(default)]
    pub resource: Option<String>,
    pub privilege: Vec<String>,
}

/// A client, by its name in fence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ClientEntry {
    pub policies: Vec<String>,
}

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A mapping read in file order.
struct Ordered<T>(Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, T>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Ordered(Vec::new()))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

impl<T> Default for Ordered<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

#[derive(Default, Deserialize)]
struct RawAuthz {
    #[serde(default)]
    resources: Option<Vec<ResourceEntry>>,
    #[serde(default)]
    roles: Option<Vec<Role>>,
    #[serde(default)]
    policies: Option<Vec<Policy>>,
    #[serde(default)]
    groups: Option<Vec<GroupEntry>>,
    #[serde(default)]
    anonymous_policies: Option<Vec<String>>,
    #[serde(default)]
    all_users_policies: Option<Vec<String>>,
    #[serde(default)]
    user_project_to_resource: Option<BTreeMap<String, String>>,
}

impl RawAuthz {
    /// fence falls back on `rbac`, then root `resources`, when this is missing or empty.
    const fn is_empty(&self) -> bool {
        self.resources.is_none()
            && self.roles.is_none()
            && self.policies.is_none()
            && self.groups.is_none()
            && self.anonymous_policies.is_none()
            && self.all_users_policies.is_none()
            && self.user_project_to_resource.is_none()
    }

    fn into_authz(self) -> Authz {
        Authz {
            resources: self.resources.unwrap_or_default(),
            roles: self.roles.unwrap_or_default(),
            policies: self.policies.unwrap_or_default(),
            groups: self.groups.unwrap_or_default(),
            anonymous_policies: self.anonymous_policies.unwrap_or_default(),
            all_users_policies: self.all_users_policies.unwrap_or_default(),
            user_project_to_resource: self.user_project_to_resource.unwrap_or_default(),
        }
    }
}

/// The root. Keys not named here (`cloud_providers`, the deprecated root `groups` mapping, …)
/// are ignored, as fence ignores them.
#[derive(Default, Deserialize)]
struct RawFile {
    #[serde(default)]
    authz: Option<RawAuthz>,
    #[serde(default)]
    rbac: Option<RawAuthz>,
    #[serde(default)]
    users: Option<Ordered<Option<UserEntry>>>,
    #[serde(default)]
    clients: Option<Ordered<ClientEntry>>,
    #[serde(default)]
    resources: Option<Vec<ResourceEntry>>,
}

// ----- errors -----

/// One thing wrong with a file, by key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// e.g. `authz.policies[3].role_ids[0]` or `users.bob@example.org.policies[1]`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a user.yaml was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsersyncError {
    /// Not YAML, or YAML of the wrong shape (a missing required key, a list where a mapping
    /// belongs). `line` and `column` count from 1 (0: unknown).
    Syntax {
        line: u64,
        column: u64,
        message: String,
        /// The message with the offending lines quoted, for a terminal.
        snippet: String,
    },
    /// Well-formed YAML that fence would refuse: every problem, by key path.
    Invalid(Vec<Problem>),
}

impl fmt::Display for UsersyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax {
                line,
                column,
                message,
                ..
            } => {
                if *line > 0 {
                    write!(f, "line {line} column {column}: {message}")
                } else {
                    f.write_str(message)
                }
            }
            Self::Invalid(problems) => {
                for (i, p) in problems.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for UsersyncError {}

impl From<UsersyncError> for AuthzError {
    fn from(e: UsersyncError) -> Self {
        Self::bad_request(format!("invalid user.yaml: {e}"))
    }
}

fn syntax_error(e: &serde_saphyr::Error) -> UsersyncError {
    let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
    let plain = e.without_snippet().to_string();
    let suffix = format!(" at line {line}, column {column}");
    let message = plain.strip_suffix(&suffix).unwrap_or(&plain).to_owned();
    UsersyncError::Syntax {
        line,
        column,
        message,
        snippet: e.to_string(),
    }
}

// ----- parsing -----

/// The parser's resource limits: a consortium's user.yaml (100,000 resources, tens of
/// thousands of users) is far beyond the library's defaults for configuration files, and
/// the file comes from the operator. Aliases stay limited (no billion laughs).
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_events: 200_000_000,
            max_nodes: 100_000_000,
            max_total_scalar_bytes: 1 << 30,
        },
    }
}

/// Read and check a user.yaml.
pub fn parse(text: &str) -> Result<UserYaml, UsersyncError> {
    let raw: RawFile =
        serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|e| syntax_error(&e))?;
    // A second, untyped read finds what the typed one skipped; the typed read succeeded, so
    // this one can only fail on exotic keys, and then there is simply nothing to warn about.
    let tree: Option<serde_json::Value> =
        serde_saphyr::from_str_with_options(text, yaml_options()).ok();
    let empty = match &tree {
        Some(tree) => tree.as_object().is_none_or(serde_json::Map::is_empty),
        None => {
            raw.authz.is_none()
                && raw.rbac.is_none()
                && raw.users.is_none()
                && raw.clients.is_none()
                && raw.resources.is_none()
        }
    };
    if empty {
        return Err(UsersyncError::Invalid(vec![Problem {
            path: "(file)".into(),
            message: "the file is empty; fence refuses to sync an empty user.yaml".into(),
        }]));
    }
    let mut warnings = Vec::new();
    if let Some(tree) = &tree {
        ignored_keys(tree, &mut warnings);
    }

    let authz_raw = raw.authz.filter(|a| !a.is_empty());
    let rbac_raw = raw.rbac.filter(|a| !a.is_empty());
    let root_resources = raw.resources.filter(|r| !r.is_empty());
    let (authz, section) = match (authz_raw, rbac_raw, root_resources) {
        (Some(a), rbac, resources) => {
            if rbac.is_some() {
                warnings.push("rbac: ignored, the file has `authz`".into());
            }
            if resources.is_some() {
                warnings.push("resources: ignored, the file has `authz`".into());
            }
            (Some(a.into_authz()), Section::Authz)
        }
        (None, Some(r), resources) => {
            if resources.is_some() {
                warnings.push("resources: ignored, the file has `rbac`".into());
            }
            (Some(r.into_authz()), Section::Rbac)
        }
        (None, None, Some(resources)) => (
            Some(Authz {
                resources,
                ..Authz::default()
            }),
            Section::RootResources,
        ),
        _ => (None, Section::Authz),
    };
    let file = UserYaml {
        authz,
        section,
        users: raw
            .users
            .unwrap_or_default()
            .0
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect(),
        clients: raw.clients.unwrap_or_default().0,
        warnings,
    };
    let problems = validate(&file);
    if problems.is_empty() {
        Ok(file)
    } else {
        Err(UsersyncError::Invalid(problems))
    }
}

const ROOT_KEYS: &[&str] = &["authz", "rbac", "users", "clients", "resources"];
const DEPRECATED_ROOT_KEYS: &[&str] = &["cloud_providers", "groups"];
const AUTHZ_KEYS: &[&str] = &[
    "resources",
    "roles",
    "policies",
    "groups",
    "anonymous_policies",
    "all_users_policies",
    "user_project_to_resource",
];
const RESOURCE_KEYS: &[&str] = &["name", "description", "subresources"];
const ROLE_KEYS: &[&str] = &["id", "description", "permissions"];
const PERMISSION_KEYS: &[&str] = &["id", "description", "action", "constraints"];
const ACTION_KEYS: &[&str] = &["service", "method"];
const POLICY_KEYS: &[&str] = &["id", "description", "role_ids", "resource_paths"];
const GROUP_KEYS: &[&str] = &["name", "users", "policies", "description"];
const USER_KEYS: &[&str] = &[
    "admin",
    "email",
    "display_name",
    "phone_number",
    "tags",
    "policies",
    "projects",
];
const PROJECT_KEYS: &[&str] = &["auth_id", "resource", "privilege"];
const CLIENT_KEYS: &[&str] = &["policies"];

fn is_blank(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Object(m) => m.is_empty(),
        serde_json::Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Unknown keys of a mapping at `path`; returns the mapping.
fn unknown<'a>(
    v: &'a serde_json::Value,
    path: &str,
    known: &[&str],
    out: &mut Vec<String>,
) -> Option<&'a serde_json::Map<String, serde_json::Value>> {
    let map = v.as_object()?;
    for k in map.keys() {
        if !known.contains(&k.as_str()) {
            out.push(format!("{path}.{k}: unknown key, ignored"));
        }
    }
    Some(map)
}

fn each(v: Option<&serde_json::Value>) -> impl Iterator<Item = (usize, &serde_json::Value)> {
    v.and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

fn ignored_resource_keys(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    if let Some(m) = unknown(v, path, RESOURCE_KEYS, out) {
        for (i, sub) in each(m.get("subresources")) {
            ignored_resource_keys(sub, &format!("{path}.subresources[{i}]"), out);
        }
    }
}

fn ignored_authz_keys(v: &serde_json::Value, key: &str, out: &mut Vec<String>) {
    let Some(a) = v.as_object() else {
        return;
    };
    for k in a.keys() {
        if !AUTHZ_KEYS.contains(&k.as_str()) {
            out.push(format!("{key}.{k}: unknown key, ignored"));
        }
    }
    for (i, r) in each(a.get("resources")) {
        ignored_resource_keys(r, &format!("{key}.resources[{i}]"), out);
    }
    for (i, r) in each(a.get("roles")) {
        let path = format!("{key}.roles[{i}]");
        if let Some(m) = unknown(r, &path, ROLE_KEYS, out) {
            for (j, p) in each(m.get("permissions")) {
                let ppath = format!("{path}.permissions[{j}]");
                if let Some(pm) = unknown(p, &ppath, PERMISSION_KEYS, out)
                    && let Some(action) = pm.get("action")
                {
                    unknown(action, &format!("{ppath}.action"), ACTION_KEYS, out);
                }
            }
        }
    }
    for (i, p) in each(a.get("policies")) {
        unknown(p, &format!("{key}.policies[{i}]"), POLICY_KEYS, out);
    }
    for (i, g) in each(a.get("groups")) {
        unknown(g, &format!("{key}.groups[{i}]"), GROUP_KEYS, out);
    }
}

/// Keys fence ignores, so that a typo (`polices:`) is at least reported.
fn ignored_keys(tree: &serde_json::Value, out: &mut Vec<String>) {
    let Some(root) = tree.as_object() else {
        return;
    };
    for (k, v) in root {
        if DEPRECATED_ROOT_KEYS.contains(&k.as_str()) {
            if !is_blank(v) {
                out.push(format!("{k}: deprecated section, ignored"));
            }
        } else if !ROOT_KEYS.contains(&k.as_str()) {
            out.push(format!("{k}: unknown key, ignored"));
        }
    }
    for key in ["authz", "rbac"] {
        if let Some(v) = root.get(key) {
            ignored_authz_keys(v, key, out);
        }
    }
    for (i, r) in each(root.get("resources")) {
        ignored_resource_keys(r, &format!("resources[{i}]"), out);
    }
    if let Some(users) = root.get("users").and_then(serde_json::Value::as_object) {
        for (name, u) in users {
            let path = format!("users.{name}");
            if let Some(m) = unknown(u, &path, USER_KEYS, out) {
                for (i, p) in each(m.get("projects")) {
                    unknown(p, &format!("{path}.projects[{i}]"), PROJECT_KEYS, out);
                }
            }
        }
    }
    if let Some(clients) = root.get("clients").and_then(serde_json::Value::as_object) {
        for (name, c) in clients {
            unknown(c, &format!("clients.{name}"), CLIENT_KEYS, out);
        }
    }
}

// ----- checks -----

struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }
}

fn check_resource(
    r: &ResourceEntry,
    parent: &str,
    path: &str,
    paths: &mut BTreeSet<String>,
    p: &mut Problems,
) {
    if r.name.trim().is_empty() || r.name.contains('/') {
        p.add(
            format!("{path}.name"),
            format!(
                "invalid resource name {:?}: names are non-empty and contain no `/`",
                r.name
            ),
        );
    }
    let full = format!("{parent}/{}", r.name);
    paths.insert(full.clone());
    for (i, sub) in r.subresources.iter().enumerate() {
        let sub_path = format!("{path}.subresources[{i}]");
        if r.name == "programs" && sub.name.contains('-') {
            p.add(
                format!("{sub_path}.name"),
                format!("program names cannot contain '-': {:?}", sub.name),
            );
        }
        check_resource(sub, &full, &sub_path, paths, p);
    }
}

/// Program and project names under a top-level `programs` resource: the `auth_id`s a legacy
/// `projects` entry may name without a `resource`.
fn program_and_project_names(resources: &[ResourceEntry]) -> BTreeSet<&str> {
    let mut out = BTreeSet::new();
    for r in resources.iter().filter(|r| r.name == "programs") {
        for program in &r.subresources {
            out.insert(program.name.as_str());
            for sub in program.subresources.iter().filter(|s| s.name == "projects") {
                out.extend(sub.subresources.iter().map(|p| p.name.as_str()));
            }
        }
    }
    out
}

fn duplicates<'a>(
    ids: impl Iterator<Item = &'a str>,
    what: &str,
    path: impl Fn(usize) -> String,
    p: &mut Problems,
) {
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, id) in ids.enumerate() {
        if let Some(j) = first.get(id) {
            p.add(
                path(i),
                format!("{what} {id:?} is defined twice (first at {})", path(*j)),
            );
        } else {
            first.insert(id, i);
        }
    }
}

fn check_policy_refs<'a>(
    ids: impl Iterator<Item = &'a String>,
    path: &str,
    policies: &BTreeSet<&str>,
    p: &mut Problems,
) {
    for (i, id) in ids.enumerate() {
        if !policies.contains(id.as_str()) {
            p.add(
                format!("{path}[{i}]"),
                format!("policy {id:?} is not defined"),
            );
        }
    }
}

fn check_role(role: &Role, path: &str, p: &mut Problems) {
    if role.id.trim().is_empty() {
        p.add(format!("{path}.id"), "a role needs an id");
    }
    if role.permissions.is_empty() {
        p.add(
            format!("{path}.permissions"),
            format!("role {:?} has no permissions", role.id),
        );
    }
    for (j, perm) in role.permissions.iter().enumerate() {
        let ppath = format!("{path}.permissions[{j}]");
        if perm.id.trim().is_empty() {
            p.add(format!("{ppath}.id"), "a permission needs an id");
        }
        if perm.action.service.trim().is_empty() {
            p.add(
                format!("{ppath}.action.service"),
                "a permission needs a service",
            );
        }
        if perm.action.method.trim().is_empty() {
            p.add(
                format!("{ppath}.action.method"),
                "a permission needs a method",
            );
        } else if !KNOWN_METHODS.contains(&perm.action.method.as_str()) {
            p.add(
                format!("{ppath}.action.method"),
                format!(
                    "method {:?} is not one of the known methods: {}",
                    perm.action.method,
                    KNOWN_METHODS.join(", ")
                ),
            );
        }
    }
}

fn check_policy(
    policy: &Policy,
    path: &str,
    roles: &BTreeSet<&str>,
    tree: &BTreeSet<String>,
    p: &mut Problems,
) {
    if policy.id.trim().is_empty() {
        p.add(format!("{path}.id"), "a policy needs an id");
    }
    if policy.role_ids.is_empty() {
        p.add(
            format!("{path}.role_ids"),
            format!("policy {:?} has no role_ids", policy.id),
        );
    }
    if policy.resource_paths.is_empty() {
        p.add(
            format!("{path}.resource_paths"),
            format!("policy {:?} has no resource_paths", policy.id),
        );
    }
    for (j, rp) in policy.resource_paths.iter().enumerate() {
        let rpath = format!("{path}.resource_paths[{j}]");
        if !rp.starts_with('/') {
            p.add(
                rpath,
                format!("resource path {rp:?} should start with a `/`"),
            );
        } else if !tree.contains(rp) {
            p.add(
                rpath,
                format!("resource {rp:?} is not defined in the resource tree"),
            );
        }
    }
    for (j, r) in policy.role_ids.iter().enumerate() {
        if !roles.contains(r.as_str()) {
            p.add(
                format!("{path}.role_ids[{j}]"),
                format!("role {r:?} is not defined"),
            );
        }
    }
}

/// Public policies may not use `service: '*'`: a wildcard service would also open, say, who
/// requested access to a public project.
fn check_public_policies(a: &Authz, section: Section, p: &mut Problems) {
    let policies: BTreeMap<&str, &Policy> = a.policies.iter().map(|x| (x.id.as_str(), x)).collect();
    let roles: BTreeMap<&str, &Role> = a.roles.iter().map(|x| (x.id.as_str(), x)).collect();
    for (field, list) in [
        ("anonymous_policies", &a.anonymous_policies),
        ("all_users_policies", &a.all_users_policies),
    ] {
        for (i, id) in list.iter().enumerate() {
            let Some(policy) = policies.get(id.as_str()) else {
                continue;
            };
            for role in policy.role_ids.iter().filter_map(|r| roles.get(r.as_str())) {
                for perm in role.permissions.iter().filter(|x| x.action.service == "*") {
                    p.add(
                        format!("{}[{i}]", section.key(field)),
                        format!(
                            "permission {:?} of role {:?} in policy {id:?} has service '*', \
                             which is unsafe in a policy everyone gets; name the services \
                             (e.g. peregrine and guppy `read`, fence `read-storage`)",
                            perm.id, role.id
                        ),
                    );
                }
            }
        }
    }
}

/// Everything fence (gen3users' `validate_user_yaml`) checks before a sync, plus what the
/// policy engine would refuse; empty when the file is fine.
#[must_use]
pub fn validate(file: &UserYaml) -> Vec<Problem> {
    let mut p = Problems(Vec::new());
    let s = file.section;
    let empty = Authz::default();
    let a = file.authz.as_ref().unwrap_or(&empty);

    let mut tree = BTreeSet::new();
    for (i, r) in a.resources.iter().enumerate() {
        check_resource(
            r,
            "",
            &format!("{}[{i}]", s.key("resources")),
            &mut tree,
            &mut p,
        );
    }
    duplicates(
        a.roles.iter().map(|r| r.id.as_str()),
        "role",
        |i| format!("{}[{i}].id", s.key("roles")),
        &mut p,
    );
    for (i, role) in a.roles.iter().enumerate() {
        check_role(role, &format!("{}[{i}]", s.key("roles")), &mut p);
    }
    let roles: BTreeSet<&str> = a.roles.iter().map(|r| r.id.as_str()).collect();
    duplicates(
        a.policies.iter().map(|x| x.id.as_str()),
        "policy",
        |i| format!("{}[{i}].id", s.key("policies")),
        &mut p,
    );
    for (i, policy) in a.policies.iter().enumerate() {
        check_policy(
            policy,
            &format!("{}[{i}]", s.key("policies")),
            &roles,
            &tree,
            &mut p,
        );
    }
    let policies: BTreeSet<&str> = a.policies.iter().map(|x| x.id.as_str()).collect();

    let user_names: BTreeSet<&str> = file.users.iter().map(|(n, _)| n.as_str()).collect();
    duplicates(
        a.groups.iter().map(|g| g.name.as_str()),
        "group",
        |i| format!("{}[{i}].name", s.key("groups")),
        &mut p,
    );
    for (i, g) in a.groups.iter().enumerate() {
        let path = format!("{}[{i}]", s.key("groups"));
        if g.name.trim().is_empty() {
            p.add(format!("{path}.name"), "a group needs a name");
        }
        if g.name == ANONYMOUS || g.name == LOGGED_IN {
            p.add(
                format!("{path}.name"),
                format!(
                    "{:?} is a built-in group: give it policies with {}",
                    g.name,
                    s.key(if g.name == ANONYMOUS {
                        "anonymous_policies"
                    } else {
                        "all_users_policies"
                    })
                ),
            );
        }
        let mut seen = BTreeSet::new();
        for (j, u) in g.users.iter().enumerate() {
            if !user_names.contains(u.as_str()) {
                p.add(
                    format!("{path}.users[{j}]"),
                    format!("user {u:?} is not defined in `users`"),
                );
            }
            if !seen.insert(u.as_str()) {
                p.add(
                    format!("{path}.users[{j}]"),
                    format!("user {u:?} is listed twice in group {:?}", g.name),
                );
            }
        }
        check_policy_refs(
            g.policies.iter(),
            &format!("{path}.policies"),
            &policies,
            &mut p,
        );
    }
    check_policy_refs(
        a.anonymous_policies.iter(),
        &s.key("anonymous_policies"),
        &policies,
        &mut p,
    );
    check_policy_refs(
        a.all_users_policies.iter(),
        &s.key("all_users_policies"),
        &policies,
        &mut p,
    );
    check_public_policies(a, s, &mut p);

    for (auth_id, rp) in &a.user_project_to_resource {
        if !tree.contains(rp) {
            p.add(
                format!("{}.{auth_id}", s.key("user_project_to_resource")),
                format!("resource {rp:?} is not defined in the resource tree"),
            );
        }
    }

    for (name, c) in &file.clients {
        check_policy_refs(
            c.policies.iter(),
            &format!("clients.{name}.policies"),
            &policies,
            &mut p,
        );
    }

    let auth_ids = program_and_project_names(&a.resources);
    let mut keys: BTreeMap<String, &str> = BTreeMap::new();
    for (name, u) in &file.users {
        let path = format!("users.{name}");
        if name.trim().is_empty() {
            p.add(&path, "a user needs a name");
        }
        if let Some(other) = keys.insert(user_key(name), name) {
            p.add(
                &path,
                format!("same user as users.{other} (user names are matched case-insensitively)"),
            );
        }
        check_policy_refs(
            u.policies.iter(),
            &format!("{path}.policies"),
            &policies,
            &mut p,
        );
        for (i, proj) in u.projects.iter().enumerate() {
            let ppath = format!("{path}.projects[{i}]");
            if proj.auth_id.trim().is_empty() {
                p.add(format!("{ppath}.auth_id"), "a project needs an auth_id");
            }
            if proj.privilege.is_empty() {
                p.add(
                    format!("{ppath}.privilege"),
                    format!("project {:?} has no privilege", proj.auth_id),
                );
            }
            if let Some(rp) = &proj.resource {
                if !rp.starts_with('/') {
                    p.add(
                        format!("{ppath}.resource"),
                        format!("resource path {rp:?} should start with a `/`"),
                    );
                } else if !tree.contains(rp) {
                    p.add(
                        format!("{ppath}.resource"),
                        format!("resource {rp:?} is not defined in the resource tree"),
                    );
                }
            } else {
                if !auth_ids.contains(proj.auth_id.as_str())
                    && !a.user_project_to_resource.contains_key(&proj.auth_id)
                {
                    p.add(
                        format!("{ppath}.auth_id"),
                        format!(
                            "auth_id {:?} is neither a program or project in the resource tree \
                             nor a key of {}; give the project a `resource`",
                            proj.auth_id,
                            s.key("user_project_to_resource")
                        ),
                    );
                }
                for (j, m) in proj.privilege.iter().enumerate() {
                    if !KNOWN_METHODS.contains(&m.as_str()) {
                        p.add(
                            format!("{ppath}.privilege[{j}]"),
                            format!(
                                "privilege {m:?} is not one of the known methods: {}",
                                KNOWN_METHODS.join(", ")
                            ),
                        );
                    }
                }
            }
        }
    }
    p.0
}

// ----- legacy `projects` -----

/// What the legacy `projects` entries turn into, as fence computes it.
#[derive(Debug, Default)]
struct Legacy {
    /// Resource paths the policies need (fence creates them, parents included).
    resources: BTreeSet<String>,
    /// One role per privilege.
    roles: BTreeSet<String>,
    /// Policy id → (role, resource path).
    policies: BTreeMap<String, (String, String)>,
    /// User key → policy ids.
    grants: BTreeMap<String, BTreeSet<String>>,
}

/// fence's `_format_policy_id`: `/programs/P1` + `read` → `programs.P1-read`.
#[must_use]
pub fn legacy_policy_id(resource: &str, privilege: &str) -> String {
    let dotted: Vec<&str> = resource.split('/').filter(|s| !s.is_empty()).collect();
    format!("{}-{privilege}", dotted.join("."))
}

/// fence's role for a legacy privilege: the privilege as a method, on any service.
#[must_use]
pub fn legacy_role(privilege: &str) -> Role {
    Role {
        id: privilege.to_owned(),
        description: String::new(),
        permissions: vec![Permission {
            id: privilege.to_owned(),
            description: String::new(),
            action: Action {
                service: "*".into(),
                method: privilege.to_owned(),
            },
            constraints: BTreeMap::new(),
        }],
    }
}

/// fence: a project's key is its `resource`, else its `auth_id`; `auth_id` is also a key.
/// A key is mapped through `user_project_to_resource`, which fence completes with the first
/// `resource` given for each `auth_id` (or the `auth_id` itself). A key that is not a path is
/// a top-level resource (`P1` → `/P1`), as fence's resource nesting makes it.
fn legacy(file: &UserYaml) -> AuthzResult<Legacy> {
    let mut mapping = file
        .authz
        .as_ref()
        .map(|a| a.user_project_to_resource.clone())
        .unwrap_or_default();
    for (_, u) in &file.users {
        for proj in &u.projects {
            mapping.entry(proj.auth_id.clone()).or_insert_with(|| {
                proj.resource
                    .clone()
                    .unwrap_or_else(|| proj.auth_id.clone())
            });
        }
    }
    let to_path = |r: &str| normalize_path(&format!("/{}", r.trim_start_matches('/')));
    let as_path = |key: &str| to_path(mapping.get(key).map_or(key, String::as_str));
    let mut out = Legacy::default();
    for value in mapping.values() {
        out.resources.insert(to_path(value)?);
    }
    for (name, u) in &file.users {
        for proj in &u.projects {
            let keys = [
                proj.resource.as_deref().unwrap_or(&proj.auth_id),
                proj.auth_id.as_str(),
            ];
            for key in keys {
                let path = as_path(key)?;
                out.resources.insert(path.clone());
                for privilege in &proj.privilege {
                    let id = legacy_policy_id(&path, privilege);
                    out.roles.insert(privilege.clone());
                    out.policies
                        .insert(id.clone(), (privilege.clone(), path.clone()));
                    out.grants.entry(user_key(name)).or_default().insert(id);
                }
            }
        }
    }
    Ok(out)
}

// ----- applying -----

/// Make `txn`'s model match `file`. Clients are named by their arborist client id; use
/// [`apply_with_clients`] when fence client names must be looked up.
pub fn apply(file: &UserYaml, txn: &mut Txn, provider: &str) -> AuthzResult<SyncReport> {
    apply_with_clients(file, txn, provider, &|name| vec![name.to_owned()])
}

/// [`apply`], with `client_ids` giving the OAuth client ids registered under a client name
/// (fence grants every id with that name, as during a credential rotation; a name with no
/// client is skipped with a note in the report).
pub fn apply_with_clients(
    file: &UserYaml,
    txn: &mut Txn,
    provider: &str,
    client_ids: &dyn Fn(&str) -> Vec<String>,
) -> AuthzResult<SyncReport> {
    let problems = validate(file);
    if !problems.is_empty() {
        return Err(UsersyncError::Invalid(problems).into());
    }
    let before = txn.model.clone();
    let mut notes = Vec::new();

    // The policy set, in dependency order.
    if let Some(a) = &file.authz {
        for r in &a.resources {
            txn.put_resource("/", &resource_in(r), false, true)?;
        }
        for role in &a.roles {
            txn.put_role(role.clone())?;
        }
        for policy in &a.policies {
            txn.put_policy(policy.clone(), true)?;
        }
    }
    let file_policies: BTreeSet<&str> = file
        .authz
        .iter()
        .flat_map(|a| a.policies.iter().map(|p| p.id.as_str()))
        .collect();
    let legacy = legacy(file)?;
    for path in &legacy.resources {
        let input = ResourceIn {
            path: Some(path.clone()),
            ..ResourceIn::default()
        };
        txn.put_resource("/", &input, true, true)?;
    }
    for privilege in &legacy.roles {
        if !txn.model.roles.contains_key(privilege) {
            txn.create_role(legacy_role(privilege))?;
        }
    }
    for (id, (role, path)) in &legacy.policies {
        if file_policies.contains(id.as_str()) {
            continue; // the file's own definition wins, as in fence
        }
        txn.put_policy(
            Policy {
                id: id.clone(),
                description: LEGACY_POLICY_DESCRIPTION.into(),
                role_ids: vec![role.clone()],
                resource_paths: vec![path.clone()],
            },
            true,
        )?;
    }

    // Who should hold what.
    let mut wanted: BTreeMap<String, BTreeSet<String>> = legacy.grants;
    for (name, u) in &file.users {
        wanted
            .entry(user_key(name))
            .or_default()
            .extend(u.policies.iter().cloned());
    }
    let members: BTreeSet<String> = file
        .authz
        .iter()
        .flat_map(|a| a.groups.iter())
        .flat_map(|g| g.users.iter().map(|u| user_key(u)))
        .collect();
    for (name, u) in &file.users {
        let key = user_key(name);
        if wanted.get(&key).is_some_and(|w| !w.is_empty()) || members.contains(&key) || u.admin {
            txn.ensure_user(&key)?;
        }
    }
    // fence's admin flag comes from the file alone: set for its `admin: true` users,
    // cleared for every other.
    let admins: BTreeSet<String> = file
        .users
        .iter()
        .filter(|(_, u)| u.admin)
        .map(|(n, _)| user_key(n))
        .collect();
    let flagged: Vec<String> = txn
        .model
        .users
        .iter()
        .filter(|(k, u)| u.admin != admins.contains(*k))
        .map(|(k, _)| k.clone())
        .collect();
    for key in flagged {
        let admin = admins.contains(&key);
        txn.set_user_admin(&key, admin)?;
    }

    if let Some(a) = &file.authz {
        let listed: BTreeSet<&str> = a.groups.iter().map(|g| g.name.as_str()).collect();
        let gone: Vec<String> = txn
            .model
            .groups
            .keys()
            .filter(|g| *g != ANONYMOUS && *g != LOGGED_IN && !listed.contains(g.as_str()))
            .cloned()
            .collect();
        for g in gone {
            txn.delete_group(&g)?;
        }
        for g in &a.groups {
            txn.put_group(&g.name, &g.users, &g.policies, Some(provider))?;
        }
        txn.put_group(ANONYMOUS, &[], &a.anonymous_policies, Some(provider))?;
        txn.put_group(LOGGED_IN, &[], &a.all_users_policies, Some(provider))?;
    }

    // Direct grants: this provider's become exactly the file's.
    let ours = Grant {
        expires_at: None,
        provider: Some(provider.to_owned()),
    };
    let none = BTreeSet::new();
    let users: Vec<String> = txn.model.users.keys().cloned().collect();
    for key in &users {
        let want = wanted.get(key).unwrap_or(&none);
        let held: Vec<(String, Grant)> = txn
            .model
            .users
            .get(key)
            .map(|u| {
                u.policies
                    .iter()
                    .map(|(p, g)| (p.clone(), g.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for (policy, grant) in &held {
            if grant.provider.as_deref() == Some(provider) && !want.contains(policy) {
                txn.revoke_user_policy(key, policy, Some(provider))?;
            }
        }
        for policy in want {
            if !held.iter().any(|(p, g)| p == policy && *g == ours) {
                txn.grant_user_policy(key, policy, None, Some(provider.to_owned()))?;
            }
        }
    }

    // Users this sync manages (listed, or holding one of its grants before) and left with
    // nothing are deleted; fence deletes users with no policies too (an admin is kept: the
    // flag is something).
    let managed: BTreeSet<String> = file
        .users
        .iter()
        .map(|(n, _)| user_key(n))
        .chain(
            before
                .users
                .iter()
                .filter(|(_, u)| {
                    u.policies
                        .values()
                        .any(|g| g.provider.as_deref() == Some(provider))
                })
                .map(|(k, _)| k.clone()),
        )
        .collect();
    for key in &managed {
        let empty = txn
            .model
            .users
            .get(key)
            .is_some_and(|u| u.policies.is_empty() && !u.admin);
        if empty && txn.model.groups_of(key).next().is_none() {
            txn.delete_user(key)?;
        }
    }

    // Clients: exactly the listed policies.
    for (name, c) in &file.clients {
        let ids = client_ids(name);
        if ids.is_empty() {
            notes.push(format!(
                "client {name}: no OAuth client has this name; skipped"
            ));
        }
        let want: BTreeSet<&str> = c.policies.iter().map(String::as_str).collect();
        for id in ids {
            let Some(client) = txn.model.clients.get(&id).cloned() else {
                txn.create_client(&id, &c.policies)?;
                continue;
            };
            for p in client
                .policies
                .iter()
                .filter(|p| !want.contains(p.as_str()))
            {
                txn.revoke_client_policy(&id, Some(p))?;
            }
            for p in c.policies.iter().filter(|p| !client.policies.contains(*p)) {
                txn.grant_client_policy(&id, p)?;
            }
        }
    }

    Ok(SyncReport {
        changes: diff(&before, &txn.model),
        notes,
    })
}

fn resource_in(r: &ResourceEntry) -> ResourceIn {
    ResourceIn {
        name: Some(r.name.clone()),
        description: r.description.clone(),
        subresources: Some(r.subresources.iter().map(resource_in).collect()),
        ..ResourceIn::default()
    }
}

// ----- the report -----

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Created,
    Updated,
    Deleted,
}

impl Op {
    /// `+`, `~` or `-`.
    #[must_use]
    pub const fn sign(self) -> char {
        match self {
            Self::Created => '+',
            Self::Updated => '~',
            Self::Deleted => '-',
        }
    }
}

/// One changed object; `detail` says what changed in a user, group or client
/// (`+programs.P1-read -reader`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub op: Op,
    pub kind: Kind,
    pub key: String,
    pub detail: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.op.sign(), self.kind.as_str(), self.key)?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// What a sync changed, object by object (by kind, then key), and notes on what it skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub changes: Vec<Change>,
    pub notes: Vec<String>,
}

impl SyncReport {
    /// Whether nothing changed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// How many objects of `kind` had `op`.
    #[must_use]
    pub fn count(&self, kind: Kind, op: Op) -> usize {
        self.changes
            .iter()
            .filter(|c| c.kind == kind && c.op == op)
            .count()
    }

    /// One line per change, as printed (`+ policy programs.P1-read`).
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        self.changes.iter().map(ToString::to_string).collect()
    }

    /// `2 resources created, 1 user updated, 1 user deleted` (or `no changes`).
    #[must_use]
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for op in [Op::Created, Op::Updated, Op::Deleted] {
            for kind in Kind::ALL {
                let n = self.count(kind, op);
                if n > 0 {
                    let verb = match op {
                        Op::Created => "created",
                        Op::Updated => "updated",
                        Op::Deleted => "deleted",
                    };
                    let noun = match (kind, n) {
                        (_, 1) => kind.as_str().to_owned(),
                        (Kind::Policy, _) => "policies".to_owned(),
                        _ => format!("{}s", kind.as_str()),
                    };
                    parts.push(format!("{n} {noun} {verb}"));
                }
            }
        }
        if parts.is_empty() {
            "no changes".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

impl fmt::Display for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.changes {
            writeln!(f, "{c}")?;
        }
        for n in &self.notes {
            writeln!(f, "! {n}")?;
        }
        write!(f, "{}", self.summary())
    }
}

fn set_diff<'a, T: Ord + fmt::Display + 'a>(
    old: impl IntoIterator<Item = &'a T>,
    new: impl IntoIterator<Item = &'a T>,
) -> String {
    let old: BTreeSet<&T> = old.into_iter().collect();
    let new: BTreeSet<&T> = new.into_iter().collect();
    let added = new.difference(&old).map(|x| format!("+{x}"));
    let removed = old.difference(&new).map(|x| format!("-{x}"));
    added.chain(removed).collect::<Vec<_>>().join(" ")
}

fn join<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn diff_map<V: Clone + PartialEq>(
    kind: Kind,
    old: &imbl::OrdMap<String, V>,
    new: &imbl::OrdMap<String, V>,
    detail: impl Fn(Option<&V>, Option<&V>) -> String,
    out: &mut Vec<Change>,
) {
    use imbl::ordmap::DiffItem;
    for item in old.diff(new) {
        let (op, key, d) = match item {
            DiffItem::Add(k, v) => (Op::Created, k, detail(None, Some(v))),
            DiffItem::Update {
                old: (k, o),
                new: (_, n),
            } => (Op::Updated, k, detail(Some(o), Some(n))),
            DiffItem::Remove(k, v) => (Op::Deleted, k, detail(Some(v), None)),
        };
        out.push(Change {
            op,
            kind,
            key: key.clone(),
            detail: d,
        });
    }
}

/// The objects that differ between two models.
#[must_use]
pub fn diff(old: &Model, new: &Model) -> Vec<Change> {
    let mut out = Vec::new();
    diff_map(
        Kind::Resource,
        &old.resources,
        &new.resources,
        |_, _| String::new(),
        &mut out,
    );
    diff_map(
        Kind::Role,
        &old.roles,
        &new.roles,
        |_, _| String::new(),
        &mut out,
    );
    diff_map(
        Kind::Policy,
        &old.policies,
        &new.policies,
        |_, _| String::new(),
        &mut out,
    );
    diff_map(
        Kind::User,
        &old.users,
        &new.users,
        |o, n| match (o, n) {
            (Some(o), Some(n)) => {
                let mut d = set_diff(o.policies.keys(), n.policies.keys());
                let regranted: Vec<&String> = n
                    .policies
                    .iter()
                    .filter(|(p, g)| o.policies.get(*p).is_some_and(|og| og != *g))
                    .map(|(p, _)| p)
                    .collect();
                if !regranted.is_empty() {
                    if !d.is_empty() {
                        d.push(' ');
                    }
                    d.push_str(&join(regranted.iter().map(|p| format!("~{p}"))));
                }
                d
            }
            (None, Some(n)) => join(n.policies.keys()),
            _ => String::new(),
        },
        &mut out,
    );
    diff_map(
        Kind::Group,
        &old.groups,
        &new.groups,
        |o, n| match (o, n) {
            (Some(o), Some(n)) => {
                let users = set_diff(o.users.keys(), n.users.keys());
                let policies = set_diff(&o.policies, &n.policies);
                let mut parts = Vec::new();
                if !users.is_empty() {
                    parts.push(format!("users {users}"));
                }
                if !policies.is_empty() {
                    parts.push(format!("policies {policies}"));
                }
                parts.join("; ")
            }
            (None, Some(n)) => format!(
                "users: {}; policies: {}",
                join(n.users.keys()),
                join(&n.policies)
            ),
            _ => String::new(),
        },
        &mut out,
    );
    diff_map(
        Kind::Client,
        &old.clients,
        &new.clients,
        |o, n| match (o, n) {
            (Some(o), Some(n)) => set_diff(&o.policies, &n.policies),
            (None, Some(n)) => join(&n.policies),
            _ => String::new(),
        },
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::engine::{Principal, Snapshot};

    const BASE: &str = r"
authz:
  anonymous_policies: [open_reader]
  all_users_policies: []
  resources:
  - name: open
  - name: data_file
  - name: programs
    subresources:
    - name: P1
      subresources:
      - name: projects
        subresources:
        - name: A
        - name: B
  roles:
  - id: reader
    permissions:
    - id: reader
      action: {service: '*', method: read}
  - id: public_reader
    permissions:
    - id: peregrine_reader
      action: {service: peregrine, method: read}
  - id: uploader
    description: can upload data files
    permissions:
    - id: file_upload
      action: {service: fence, method: file_upload}
  policies:
  - id: open_reader
    role_ids: [public_reader]
    resource_paths: [/open]
  - id: p1_reader
    role_ids: [reader]
    resource_paths: [/programs/P1]
  - id: a_reader
    role_ids: [reader]
    resource_paths: [/programs/P1/projects/A]
  - id: data_upload
    role_ids: [uploader]
    resource_paths: [/data_file]
  groups:
  - name: p1_readers
    users: [carol@example.org]
    policies: [p1_reader]
clients:
  wts:
    policies: [p1_reader]
users:
  Alice@Example.org:
    admin: true
    policies: [a_reader, data_upload]
  bob@example.org:
    policies: [p1_reader]
  carol@example.org: {}
";

    fn now() -> chrono::DateTime<Utc> {
        Utc::now()
    }

    fn allowed(model: &Model, who: &Principal, path: &str, service: &str, method: &str) -> bool {
        Snapshot::new(model.clone(), 1).decide(who, path, service, method, now())
    }

    fn user(name: &str) -> Principal {
        Principal::User(name.into())
    }

    fn sync(model: Model, text: &str) -> (Model, SyncReport) {
        let file = parse(text).unwrap_or_else(|e| panic!("{e}"));
        let mut txn = Txn::new(model);
        let report = apply(&file, &mut txn, PROVIDER).unwrap_or_else(|e| panic!("{e}"));
        (txn.model, report)
    }

    fn lines(r: &SyncReport) -> BTreeSet<String> {
        r.lines().into_iter().collect()
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_file_syncs_and_decides() {
        let (m, report) = sync(Model::new(), BASE);
        let alice = user("alice@example.org");
        assert!(allowed(
            &m,
            &alice,
            "/programs/P1/projects/A/x",
            "indexd",
            "read"
        ));
        assert!(!allowed(
            &m,
            &alice,
            "/programs/P1/projects/B",
            "indexd",
            "read"
        ));
        assert!(allowed(&m, &alice, "/data_file", "fence", "file_upload"));
        assert!(allowed(
            &m,
            &user("BOB@example.org"),
            "/programs/P1/projects/B",
            "x",
            "read"
        ));
        assert!(allowed(
            &m,
            &user("carol@example.org"),
            "/programs/P1",
            "x",
            "read"
        ));
        assert!(!allowed(
            &m,
            &user("carol@example.org"),
            "/data_file",
            "fence",
            "file_upload"
        ));
        assert!(allowed(
            &m,
            &Principal::Anonymous,
            "/open/f",
            "peregrine",
            "read"
        ));
        assert!(!allowed(
            &m,
            &Principal::Anonymous,
            "/open/f",
            "guppy",
            "read"
        ));
        assert!(allowed(
            &m,
            &Principal::Client("wts".into()),
            "/programs/P1",
            "x",
            "read"
        ));
        // Users are stored lower-cased; carol exists for her group.
        assert_eq!(
            m.users.keys().cloned().collect::<Vec<_>>(),
            ["alice@example.org", "bob@example.org", "carol@example.org"]
        );
        assert_eq!(m.users["alice@example.org"].name, "alice@example.org");
        let grant = &m.users["bob@example.org"].policies["p1_reader"];
        assert_eq!(grant.provider.as_deref(), Some(PROVIDER));
        assert!(lines(&report).is_superset(&set(&[
            "+ resource /programs/P1/projects/A",
            "+ role reader",
            "+ policy p1_reader",
            "+ user alice@example.org (a_reader, data_upload)",
            "+ group p1_readers (users: carol@example.org; policies: p1_reader)",
            "~ group anonymous (policies +open_reader)",
            "+ client wts (p1_reader)",
        ])));
        assert_eq!(report.count(Kind::Resource, Op::Created), 7);
        assert_eq!(report.count(Kind::User, Op::Created), 3);
        let text = report.to_string();
        assert!(
            text.ends_with(
                "\n7 resources created, 3 roles created, 4 policies created, 3 users created, \
                 1 group created, 1 client created, 1 group updated"
            ),
            "{text}"
        );

        // The same file again: nothing to do, and nothing touched.
        let file = parse(BASE).unwrap();
        let mut txn = Txn::new(m.clone());
        let again = apply(&file, &mut txn, PROVIDER).unwrap();
        assert!(again.is_empty(), "{again}");
        assert!(txn.is_empty(), "{:?}", txn.changes());
        assert_eq!(again.to_string(), "no changes");
    }

    #[test]
    fn changes_to_the_file_are_reported_exactly() {
        let (m, _) = sync(Model::new(), BASE);
        // bob gains a_reader and loses p1_reader, the reader role changes, the group loses
        // carol and gains bob, a new user appears, the client loses its policy.
        let changed = BASE
            .replace(
                "  bob@example.org:\n    policies: [p1_reader]",
                "  bob@example.org:\n    policies: [a_reader]\n  dan@example.org:\n    policies: [p1_reader]",
            )
            .replace("action: {service: '*', method: read}", "action: {service: '*', method: '*'}")
            .replace("users: [carol@example.org]", "users: [bob@example.org]")
            .replace("  wts:\n    policies: [p1_reader]", "  wts:\n    policies: [a_reader]");
        let (m2, report) = sync(m, &changed);
        assert_eq!(
            lines(&report),
            set(&[
                "~ role reader",
                "~ user bob@example.org (+a_reader -p1_reader)",
                "+ user dan@example.org (p1_reader)",
                "~ group p1_readers (users +bob@example.org -carol@example.org)",
                "- user carol@example.org",
                "~ client wts (+a_reader -p1_reader)",
            ]),
            "{report}"
        );
        assert!(allowed(
            &m2,
            &user("bob@example.org"),
            "/programs/P1",
            "x",
            "delete"
        ));
        assert!(!allowed(
            &m2,
            &user("carol@example.org"),
            "/programs/P1",
            "x",
            "read"
        ));

        // Remove a user, a policy and the group.
        let smaller = BASE
            .replace("  bob@example.org:\n    policies: [p1_reader]\n", "")
            .replace(
                "  groups:\n  - name: p1_readers\n    users: [carol@example.org]\n    policies: [p1_reader]\n",
                "",
            )
            .replace("    policies: [a_reader, data_upload]", "    policies: [a_reader]")
            .replace(
                "  - id: data_upload\n    role_ids: [uploader]\n    resource_paths: [/data_file]\n",
                "",
            );
        let (m3, report) = sync(m2, &smaller);
        assert_eq!(
            lines(&report),
            set(&[
                // policies and roles are never deleted (fence leaves them), only ungranted
                "~ role reader",
                "~ user alice@example.org (-data_upload)",
                "- user bob@example.org",
                "- group p1_readers",
                "~ client wts (+p1_reader -a_reader)",
                "- user dan@example.org",
            ]),
            "{report}"
        );
        assert!(m3.policies.contains_key("data_upload"));
        assert!(!allowed(
            &m3,
            &user("alice@example.org"),
            "/data_file",
            "fence",
            "file_upload"
        ));
        let (_, again) = sync(m3, &smaller);
        assert!(again.is_empty(), "{again}");
    }

    #[test]
    fn other_providers_grants_are_left_alone() {
        let (m, _) = sync(Model::new(), BASE);
        let mut txn = Txn::new(m);
        // bob also holds p1_reader from a passport, and erin only from a passport.
        txn.grant_user_policy("bob@example.org", "a_reader", None, Some("GA4GH".into()))
            .unwrap();
        txn.create_user("erin@example.org", None).unwrap();
        txn.grant_user_policy("erin@example.org", "p1_reader", None, Some("GA4GH".into()))
            .unwrap();
        // And frank was made through the API with nothing: not the sync's to delete.
        txn.create_user("frank@example.org", None).unwrap();
        let without_bob = BASE.replace("  bob@example.org:\n    policies: [p1_reader]\n", "");
        let (m2, report) = sync(txn.model, &without_bob);
        assert_eq!(
            lines(&report),
            set(&["~ user bob@example.org (-p1_reader)"]),
            "{report}"
        );
        assert!(allowed(
            &m2,
            &user("bob@example.org"),
            "/programs/P1/projects/A",
            "x",
            "read"
        ));
        assert!(allowed(
            &m2,
            &user("erin@example.org"),
            "/programs/P1",
            "x",
            "read"
        ));
        assert!(m2.users.contains_key("frank@example.org"));
    }

    #[test]
    fn legacy_projects_become_policies_as_in_fence() {
        let text = r"
authz:
  user_project_to_resource:
    P2: /programs/P2
  resources:
  - name: programs
    subresources:
    - name: P1
      subresources:
      - name: projects
        subresources:
        - name: A
    - name: P2
users:
  u1:
    projects:
    - auth_id: A
      resource: /programs/P1/projects/A
      privilege: [read, read-storage]
    - auth_id: P2
      privilege: [create]
  u2:
    projects:
    - auth_id: A
      privilege: [read]
    - auth_id: P1
      privilege: [upload]
";
        let (m, report) = sync(Model::new(), text);
        let policies: Vec<&String> = m.policies.keys().collect();
        assert_eq!(
            policies,
            [
                "P1-upload",
                "programs.P1.projects.A-read",
                "programs.P1.projects.A-read-storage",
                "programs.P2-create",
            ]
        );
        let p = &m.policies["programs.P1.projects.A-read-storage"];
        assert_eq!(p.role_ids, ["read-storage"]);
        assert_eq!(p.resource_paths, ["/programs/P1/projects/A"]);
        assert_eq!(p.description, "policy created by fence sync");
        assert_eq!(m.roles["read-storage"], legacy_role("read-storage"));
        // u2's `A` has no resource: it maps to the first resource given for `A` (u1's).
        assert!(allowed(
            &m,
            &user("u2"),
            "/programs/P1/projects/A",
            "peregrine",
            "read"
        ));
        assert!(allowed(
            &m,
            &user("u1"),
            "/programs/P2/x",
            "sheepdog",
            "create"
        ));
        assert!(!allowed(
            &m,
            &user("u1"),
            "/programs/P2/x",
            "sheepdog",
            "read"
        ));
        // A bare auth_id with no mapping is the top-level resource fence makes of it.
        assert!(m.resources.contains_key("/P1"));
        assert!(allowed(&m, &user("u2"), "/P1", "x", "upload"));
        assert!(!allowed(&m, &user("u2"), "/programs/P1", "x", "upload"));
        assert!(report.lines().contains(&"+ role read-storage".to_owned()));
        let (_, again) = sync(m, text);
        assert!(again.is_empty(), "{again}");
    }

    #[test]
    fn the_old_rbac_name_and_deprecated_sections_are_read() {
        let text = r"
cloud_providers: {}
groups:
  old_style_group:
    projects: [x]
rbac:
  resources: [{name: open}]
  roles:
  - id: r
    permissions: [{id: r, action: {service: guppy, method: read}}]
  policies: [{id: o, role_ids: [r], resource_paths: [/open]}]
  anonymous_policies: [o]
users:
  u:
    polices: [o]
    tags: {role: PI, year: 2020}
    admin: True
";
        let file = parse(text).unwrap();
        assert_eq!(file.section, Section::Rbac);
        assert_eq!(file.users[0].1.tags["year"], "2020");
        assert!(file.users[0].1.admin);
        assert_eq!(
            file.warnings,
            [
                "groups: deprecated section, ignored",
                "users.u.polices: unknown key, ignored"
            ]
        );
        let mut txn = Txn::new(Model::new());
        apply(&file, &mut txn, PROVIDER).unwrap();
        assert!(allowed(
            &txn.model,
            &Principal::Anonymous,
            "/open",
            "guppy",
            "read"
        ));
        // `u` has no policy (the key is misspelt): it is a user only as fence's admin.
        assert_eq!(txn.model.users.len(), 1);
        let u = &txn.model.users[&user_key("u")];
        assert!(u.admin && u.policies.is_empty());
    }

    #[test]
    fn without_an_authz_section_groups_are_left_alone() {
        let (m, _) = sync(Model::new(), BASE);
        let (m2, report) = sync(m, "users:\n  bob@example.org: {}\n");
        assert!(m2.groups.contains_key("p1_readers"));
        assert!(m2.groups[ANONYMOUS].policies.contains("open_reader"));
        assert!(
            lines(&report).contains("- user alice@example.org"),
            "{report}"
        );
        assert!(!m2.users.contains_key("bob@example.org"));
        // carol stays: she is still in the group the file no longer manages.
        assert!(m2.users.contains_key("carol@example.org"));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = parse("authz:\n  policies:\n  - id: a\n    role_ids: [x\n").unwrap_err();
        assert!(matches!(e, UsersyncError::Syntax { line: 4, .. }), "{e:?}");
        assert!(e.to_string().starts_with("line 4 column "), "{e}");
        let e = parse("authz:\n  groups:\n  - name: g\n    policies: []\n").unwrap_err();
        assert_eq!(e.to_string(), "line 4 column 5: missing field `users`");
        let e = parse("users:\n  a: {}\n  a: {}\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("line 3 column 3: duplicate mapping key"),
            "{e}"
        );
        let e = parse("users: [a, b]\n").unwrap_err();
        assert!(e.to_string().starts_with("line 1 column "), "{e}");
        let e = parse("# nothing\n").unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }

    #[test]
    fn undefined_names_are_reported_by_key_path() {
        let text = BASE
            .replace("role_ids: [uploader]", "role_ids: [uploader, writer]")
            .replace(
                "resource_paths: [/programs/P1/projects/A]",
                "resource_paths: [/programs/P9]",
            )
            .replace(
                "policies: [a_reader, data_upload]",
                "policies: [a_reader, nope]",
            )
            .replace("users: [carol@example.org]", "users: [Carol@example.org]");
        let UsersyncError::Invalid(problems) = parse(&text).unwrap_err() else {
            panic!("not a semantic error");
        };
        let got: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "authz.policies[2].resource_paths[0]: resource \"/programs/P9\" is not defined in the resource tree",
                "authz.policies[3].role_ids[1]: role \"writer\" is not defined",
                "authz.groups[0].users[0]: user \"Carol@example.org\" is not defined in `users`",
                "users.Alice@Example.org.policies[1]: policy \"nope\" is not defined",
            ]
        );
    }

    #[test]
    fn fence_refusals_are_refusals() {
        let cases = [
            // a wildcard service in a public policy
            (
                BASE.replace("service: peregrine", "service: '*'"),
                "authz.anonymous_policies[0]",
            ),
            // a misspelt method
            (
                BASE.replace("method: file_upload", "method: file-upload"),
                "action.method",
            ),
            // duplicate ids
            (
                BASE.replace("  - id: a_reader\n", "  - id: p1_reader\n"),
                "authz.policies[2].id: policy \"p1_reader\" is defined twice (first at authz.policies[1].id)",
            ),
            // a program with a dash
            (
                BASE.replace("- name: P1\n", "- name: P-1\n"),
                "program names cannot contain '-'",
            ),
            // the same user twice, by case
            (
                BASE.replace(
                    "carol@example.org: {}",
                    "CAROL@example.org: {}\n  carol@example.org: {}",
                ),
                "case-insensitively",
            ),
            // a legacy auth_id that names nothing
            (
                BASE.replace(
                    "carol@example.org: {}",
                    "carol@example.org:\n    projects: [{auth_id: zz, privilege: [read]}]",
                ),
                "users.carol@example.org.projects[0].auth_id",
            ),
            // a built-in group in `groups`
            (
                BASE.replace("name: p1_readers", "name: anonymous"),
                "built-in group",
            ),
        ];
        for (text, expected) in cases {
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.contains(expected), "expected {expected:?} in: {e}");
        }
    }

    #[test]
    fn apply_refuses_an_invalid_file() {
        let mut file = parse(BASE).unwrap();
        if let Some(a) = file.authz.as_mut() {
            a.policies[0].role_ids = vec!["ghost".into()];
        }
        let mut txn = Txn::new(Model::new());
        let e = apply(&file, &mut txn, PROVIDER).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(
            e.message
                .contains("authz.policies[0].role_ids[0]: role \"ghost\""),
            "{}",
            e.message
        );
    }

    #[test]
    fn client_names_can_map_to_several_ids() {
        let file = parse(BASE).unwrap();
        let mut txn = Txn::new(Model::new());
        let report = apply_with_clients(&file, &mut txn, PROVIDER, &|name| {
            if name == "wts" {
                vec!["id-1".into(), "id-2".into()]
            } else {
                vec![]
            }
        })
        .unwrap();
        assert!(txn.model.clients.contains_key("id-1") && txn.model.clients.contains_key("id-2"));
        assert!(!txn.model.clients.contains_key("wts"));
        let mut file = file;
        file.clients.push(("ghost".into(), ClientEntry::default()));
        let report2 = apply_with_clients(&file, &mut txn, PROVIDER, &|_| vec![]).unwrap();
        assert_eq!(report2.notes.len(), 2, "{report2}");
        assert!(
            report2
                .to_string()
                .contains("! client ghost: no OAuth client")
        );
        assert_eq!(report.count(Kind::Client, Op::Created), 2);
    }

    #[test]
    fn helpers_match_fence() {
        assert_eq!(
            legacy_policy_id("/programs/P1/projects/A", "read"),
            "programs.P1.projects.A-read"
        );
        assert_eq!(legacy_policy_id("P1", "read-storage"), "P1-read-storage");
        let u = UserEntry::default();
        assert_eq!(u.email_or_name("a@b.org"), Some("a@b.org"));
        assert_eq!(u.email_or_name("alice"), None);
    }

    #[test]
    fn the_example_file_works() {
        let file =
            parse(include_str!("../../../examples/user.yaml")).unwrap_or_else(|e| panic!("{e}"));
        assert!(file.warnings.is_empty(), "{:?}", file.warnings);
        let mut txn = Txn::new(Model::new());
        apply(&file, &mut txn, PROVIDER).unwrap();
        let m = &txn.model;
        let admin = user("admin@example.org");
        let reader = user("reader@example.org");
        let project = "/programs/DEV/projects/test";
        for (service, method) in [
            ("indexd", "create"),
            ("indexd", "update"),
            ("indexd", "delete"),
            ("sheepdog", "create"),
            ("sheepdog", "update"),
            ("sheepdog", "delete"),
        ] {
            assert!(allowed(m, &admin, project, service, method));
            assert!(!allowed(m, &reader, project, service, method));
        }
        assert!(allowed(m, &reader, project, "sheepdog", "read"));
        for admin_path in [
            "/services/sheepdog/submission/program",
            "/services/sheepdog/submission/project",
        ] {
            assert!(allowed(m, &admin, admin_path, "sheepdog", "*"));
            assert!(!allowed(m, &reader, admin_path, "sheepdog", "*"));
        }
        assert!(allowed(m, &admin, "/data_file", "fence", "file_upload"));
        assert!(allowed(m, &admin, "/mds_gateway", "mds_gateway", "access"));
        assert!(!allowed(
            m,
            &reader,
            "/mds_gateway",
            "mds_gateway",
            "access"
        ));
        assert!(allowed(
            m,
            &admin,
            "/services/arborist/policy",
            "arborist",
            "update"
        ));
        assert!(allowed(
            m,
            &reader,
            &format!("{project}/x"),
            "fence",
            "read-storage"
        ));
        assert!(allowed(m, &reader, project, "peregrine", "read"));
        assert!(!allowed(
            m,
            &reader,
            "/services/arborist/policy",
            "arborist",
            "read"
        ));
        assert!(!allowed(m, &reader, "/data_file", "fence", "file_upload"));
        assert!(!allowed(
            m,
            &Principal::Anonymous,
            project,
            "peregrine",
            "read"
        ));
        let mut again = Txn::new(txn.model.clone());
        assert!(apply(&file, &mut again, PROVIDER).unwrap().is_empty());
    }

    #[test]
    fn admin_true_sets_fences_admin_flag_and_a_later_file_clears_it() {
        let (m, _) = sync(Model::default(), BASE);
        let alice = &m.users[&user_key("Alice@Example.org")];
        assert!(alice.admin, "admin: true in user.yaml");
        assert!(!m.users[&user_key("bob@example.org")].admin);
        // The flag survives a second identical sync without being reported as a change.
        let (m, again) = sync(m, BASE);
        assert!(again.is_empty(), "{again}");
        let demoted = BASE.replace("    admin: true\n", "");
        let (m, _) = sync(m, &demoted);
        assert!(!m.users[&user_key("Alice@Example.org")].admin);
        // An admin with no policies and no group is still a user.
        let only_admin = format!("{BASE}  dave@example.org:\n    admin: true\n");
        let (m, _) = sync(m, &only_admin);
        assert!(m.users[&user_key("dave@example.org")].admin);
    }
}
