//! arborist's data model and every change to it.
//!
//! The whole policy set lives in memory as a [`Model`] of persistent maps, so a copy is
//! cheap: a change runs on a copy inside a [`Txn`], which records the objects it touched;
//! the service writes exactly those objects to the store and then publishes the copy.
//! Every rule arborist enforces on a change (parents exist, references exist, built-in
//! groups stay) is checked here, once, for the HTTP API and user.yaml sync alike.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use imbl::OrdMap;
use serde::{Deserialize, Serialize};

use crate::error::{AuthzError, AuthzResult};

/// The group every request belongs to, with or without a token.
pub const ANONYMOUS: &str = "anonymous";
/// The group every request with a user name belongs to.
pub const LOGGED_IN: &str = "logged-in";

/// `{service, method}`; either may be `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Action {
    pub service: String,
    pub method: String,
}

impl Action {
    /// Whether this (possibly wildcard) action covers the requested one.
    #[must_use]
    pub fn covers(&self, service: &str, method: &str) -> bool {
        (self.service == "*" || self.service == service)
            && (self.method == "*" || self.method == method)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub action: Action,
    #[serde(default)]
    pub constraints: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub permissions: Vec<Permission>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub role_ids: Vec<String>,
    pub resource_paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub path: String,
    pub tag: String,
    #[serde(default)]
    pub description: String,
}

impl Resource {
    /// The last segment of the path.
    #[must_use]
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }
}

/// A policy granted to a user or a user's membership of a group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Grant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Who granted it (`X-AuthZ-Provider`), so one provider's sync leaves another's alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

impl Grant {
    #[must_use]
    pub fn live_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Directly granted policies.
    #[serde(default)]
    pub policies: BTreeMap<String, Grant>,
    /// fence's `is_admin`: set by user.yaml's `admin: true` (usersync), shown by
    /// `/user/user`. Not a grant: decisions never read it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    /// Members by user key (lower-cased name).
    #[serde(default)]
    pub users: BTreeMap<String, Grant>,
    #[serde(default)]
    pub policies: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    #[serde(default)]
    pub policies: BTreeSet<String>,
}

/// The kinds of stored objects; each object is one row keyed by (kind, key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Resource,
    Role,
    Policy,
    User,
    Group,
    Client,
}

impl Kind {
    pub const ALL: [Self; 6] = [
        Self::Resource,
        Self::Role,
        Self::Policy,
        Self::User,
        Self::Group,
        Self::Client,
    ];
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Resource => "resource",
            Self::Role => "role",
            Self::Policy => "policy",
            Self::User => "user",
            Self::Group => "group",
            Self::Client => "client",
        }
    }
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The user key arborist matches names by.
#[must_use]
pub fn user_key(name: &str) -> String {
    name.to_lowercase()
}

/// A resource path in canonical form: leading `/`, no empty segments, no trailing `/`.
pub fn normalize_path(path: &str) -> AuthzResult<String> {
    let trimmed = path.trim();
    if !trimmed.starts_with('/') {
        return Err(AuthzError::bad_request(format!(
            "resource path must start with `/`: `{path}`"
        )));
    }
    let segments: Vec<&str> = trimmed.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() {
        return Err(AuthzError::bad_request(
            "the root resource `/` is not a resource",
        ));
    }
    Ok(format!("/{}", segments.join("/")))
}

/// Whether `path` is `ancestor` or below it, comparing whole segments.
#[must_use]
pub fn is_at_or_below(path: &str, ancestor: &str) -> bool {
    path == ancestor
        || (path.len() > ancestor.len()
            && path.starts_with(ancestor)
            && path.as_bytes()[ancestor.len()] == b'/')
}

/// The parent of a canonical path (`None` for a top-level resource).
#[must_use]
pub fn parent_path(path: &str) -> Option<&str> {
    let i = path.rfind('/')?;
    (i > 0).then(|| &path[..i])
}

fn new_tag() -> String {
    let bytes: [u8; 6] = rand::random();
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

/// The whole policy set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    pub resources: OrdMap<String, Resource>,
    pub tags: OrdMap<String, String>,
    pub roles: OrdMap<String, Role>,
    pub policies: OrdMap<String, Policy>,
    pub users: OrdMap<String, User>,
    pub groups: OrdMap<String, Group>,
    pub clients: OrdMap<String, Client>,
}

impl Model {
    /// A model holding only the built-in groups.
    #[must_use]
    pub fn new() -> Self {
        let mut m = Self::default();
        m.ensure_builtins();
        m
    }

    /// Add the built-in groups if they are missing.
    pub fn ensure_builtins(&mut self) {
        for g in [ANONYMOUS, LOGGED_IN] {
            if !self.groups.contains_key(g) {
                self.groups.insert(
                    g.to_owned(),
                    Group {
                        name: g.to_owned(),
                        users: BTreeMap::new(),
                        policies: BTreeSet::new(),
                    },
                );
            }
        }
    }

    /// Build a model from stored objects `(kind, key, JSON body)`.
    pub fn from_rows<I>(rows: I) -> AuthzResult<Self>
    where
        I: IntoIterator<Item = (String, String, String)>,
    {
        fn parse<T: serde::de::DeserializeOwned>(
            kind: &str,
            key: &str,
            body: &str,
        ) -> AuthzResult<T> {
            serde_json::from_str(body).map_err(|e| {
                AuthzError::from(weft_core::WeftError::internal(format!(
                    "stored {kind} `{key}` is unreadable: {e}"
                )))
            })
        }
        let mut m = Self::default();
        for (kind, key, body) in rows {
            match Kind::parse(&kind) {
                Some(Kind::Resource) => {
                    let r: Resource = parse(&kind, &key, &body)?;
                    m.tags.insert(r.tag.clone(), key.clone());
                    m.resources.insert(key, r);
                }
                Some(Kind::Role) => {
                    m.roles.insert(key.clone(), parse(&kind, &key, &body)?);
                }
                Some(Kind::Policy) => {
                    m.policies.insert(key.clone(), parse(&kind, &key, &body)?);
                }
                Some(Kind::User) => {
                    m.users.insert(key.clone(), parse(&kind, &key, &body)?);
                }
                Some(Kind::Group) => {
                    m.groups.insert(key.clone(), parse(&kind, &key, &body)?);
                }
                Some(Kind::Client) => {
                    m.clients.insert(key.clone(), parse(&kind, &key, &body)?);
                }
                None => {
                    return Err(weft_core::WeftError::internal(format!(
                        "unknown stored authz kind `{kind}`"
                    ))
                    .into());
                }
            }
        }
        m.ensure_builtins();
        Ok(m)
    }

    /// The stored body of one object, or `None` if it does not exist.
    #[must_use]
    pub fn body(&self, kind: Kind, key: &str) -> Option<String> {
        let json = match kind {
            Kind::Resource => self.resources.get(key).map(serde_json::to_string),
            Kind::Role => self.roles.get(key).map(serde_json::to_string),
            Kind::Policy => self.policies.get(key).map(serde_json::to_string),
            Kind::User => self.users.get(key).map(serde_json::to_string),
            Kind::Group => self.groups.get(key).map(serde_json::to_string),
            Kind::Client => self.clients.get(key).map(serde_json::to_string),
        };
        json.and_then(Result::ok)
    }

    /// Every stored object, for a full comparison or export.
    #[must_use]
    pub fn rows(&self) -> Vec<(Kind, String, String)> {
        let mut out = Vec::new();
        for kind in Kind::ALL {
            let keys: Vec<String> = match kind {
                Kind::Resource => self.resources.keys().cloned().collect(),
                Kind::Role => self.roles.keys().cloned().collect(),
                Kind::Policy => self.policies.keys().cloned().collect(),
                Kind::User => self.users.keys().cloned().collect(),
                Kind::Group => self.groups.keys().cloned().collect(),
                Kind::Client => self.clients.keys().cloned().collect(),
            };
            for k in keys {
                if let Some(b) = self.body(kind, &k) {
                    out.push((kind, k, b));
                }
            }
        }
        out
    }

    /// Resolve a path or a tag to a canonical path (existing or not, for paths).
    #[must_use]
    pub fn resolve(&self, path_or_tag: &str) -> Option<String> {
        if path_or_tag.starts_with('/') {
            normalize_path(path_or_tag).ok()
        } else {
            self.tags.get(path_or_tag).cloned()
        }
    }

    /// Paths of every existing resource strictly below `path`.
    pub fn descendants<'a>(&'a self, path: &str) -> impl Iterator<Item = &'a String> + 'a {
        let lo = format!("{path}/");
        let hi = format!("{path}0"); // '0' is the byte after '/'
        self.resources.range(lo..hi).map(|(k, _)| k)
    }

    /// Direct children of `path`.
    #[must_use]
    pub fn children(&self, path: &str) -> Vec<String> {
        let depth = path.matches('/').count() + 1;
        self.descendants(path)
            .filter(|p| p.matches('/').count() == depth)
            .cloned()
            .collect()
    }

    /// The groups `user_key` is a member of (built-ins excluded), with membership.
    pub fn groups_of<'a>(
        &'a self,
        user_key: &'a str,
    ) -> impl Iterator<Item = (&'a Group, &'a Grant)> + 'a {
        self.groups
            .values()
            .filter_map(move |g| g.users.get(user_key).map(|m| (g, m)))
    }
}

/// Input of a resource create or update: a name (under a parent) or a full path.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceIn {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub subresources: Option<Vec<ResourceIn>>,
    /// Ignored on input (arborist generates tags), accepted so a GET body can be sent back.
    #[serde(default)]
    pub tag: Option<serde_json::Value>,
}

/// A change in progress: a copy of the model plus the objects it touched.
#[derive(Debug, Clone)]
pub struct Txn {
    pub model: Model,
    touched: BTreeSet<(Kind, String)>,
}

impl Txn {
    #[must_use]
    pub fn new(model: Model) -> Self {
        Self {
            model,
            touched: BTreeSet::new(),
        }
    }

    fn touch(&mut self, kind: Kind, key: &str) {
        self.touched.insert((kind, key.to_owned()));
    }

    /// The touched objects with their new bodies (`None`: deleted).
    #[must_use]
    pub fn changes(&self) -> Vec<(Kind, String, Option<String>)> {
        self.touched
            .iter()
            .map(|(k, key)| (*k, key.clone(), self.model.body(*k, key)))
            .collect()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.touched.is_empty()
    }

    // ----- resources -----

    fn resource_path(parent: &str, input: &ResourceIn) -> AuthzResult<String> {
        match (&input.path, &input.name) {
            (Some(p), _) => normalize_path(p),
            (None, Some(n)) => {
                if n.is_empty() || n.contains('/') {
                    return Err(AuthzError::bad_request(format!(
                        "invalid resource name `{n}`: names are non-empty and contain no `/`"
                    )));
                }
                if parent == "/" || parent.is_empty() {
                    Ok(format!("/{n}"))
                } else {
                    Ok(format!("{}/{n}", normalize_path(parent)?))
                }
            }
            (None, None) => Err(AuthzError::bad_request(
                "missing required field `name` in input for resource",
            )),
        }
    }

    fn insert_resource(&mut self, path: &str, description: String) {
        let tag = loop {
            let t = new_tag();
            if !self.model.tags.contains_key(&t) {
                break t;
            }
        };
        self.model.tags.insert(tag.clone(), path.to_owned());
        self.model.resources.insert(
            path.to_owned(),
            Resource {
                path: path.to_owned(),
                tag,
                description,
            },
        );
        self.touch(Kind::Resource, path);
    }

    fn ensure_parent(&mut self, path: &str, create_parents: bool) -> AuthzResult<()> {
        let Some(parent) = parent_path(path) else {
            return Ok(());
        };
        if self.model.resources.contains_key(parent) {
            return Ok(());
        }
        if !create_parents {
            return Err(AuthzError::bad_request(format!(
                "failed to create resource `{path}`: parent resource `{parent}` does not exist \
                 (use `?p` to create parents)"
            )));
        }
        let parent = parent.to_owned();
        self.ensure_parent(&parent, true)?;
        self.insert_resource(&parent, String::new());
        Ok(())
    }

    /// `POST /resource[/{parent}]`: create a resource and its subresources. Returns its path.
    pub fn create_resource(
        &mut self,
        parent: &str,
        input: &ResourceIn,
        create_parents: bool,
    ) -> AuthzResult<String> {
        let path = Self::resource_path(parent, input)?;
        if let Some(existing) = self.model.resources.get(&path) {
            let exists = crate::api::resource_out(&self.model, existing);
            return Err(AuthzError::conflict(format!(
                "failed to insert resource: resource with this path already exists: `{path}`"
            ))
            .with_exists(serde_json::to_value(exists).unwrap_or_default()));
        }
        self.ensure_parent(&path, create_parents)?;
        self.insert_resource(&path, input.description.clone().unwrap_or_default());
        for sub in input.subresources.iter().flatten() {
            self.create_resource(&path, sub, false)?;
        }
        Ok(path)
    }

    /// `PUT /resource[/{parent}]`: create or update; without `merge`, existing children not
    /// listed in `subresources` are deleted (when `subresources` is given).
    pub fn put_resource(
        &mut self,
        parent: &str,
        input: &ResourceIn,
        create_parents: bool,
        merge: bool,
    ) -> AuthzResult<String> {
        let path = Self::resource_path(parent, input)?;
        if let Some(existing) = self.model.resources.get(&path).cloned() {
            if let Some(d) = &input.description
                && *d != existing.description
            {
                let mut r = existing;
                r.description.clone_from(d);
                self.model.resources.insert(path.clone(), r);
                self.touch(Kind::Resource, &path);
            }
        } else {
            self.ensure_parent(&path, create_parents)?;
            self.insert_resource(&path, input.description.clone().unwrap_or_default());
        }
        // As arborist: without `merge`, the children become exactly those listed (none,
        // when `subresources` is absent).
        let mut listed = BTreeSet::new();
        for sub in input.subresources.iter().flatten() {
            listed.insert(self.put_resource(&path, sub, false, merge)?);
        }
        if !merge {
            for child in self.model.children(&path) {
                if !listed.contains(&child) {
                    self.delete_resource(&child)?;
                }
            }
        }
        Ok(path)
    }

    /// `DELETE /resource/{path}`: the resource and everything below it, and every policy's
    /// reference to them.
    pub fn delete_resource(&mut self, path: &str) -> AuthzResult<()> {
        let path = normalize_path(path)?;
        if !self.model.resources.contains_key(&path) {
            return Err(AuthzError::not_found(format!(
                "resource not found: `{path}`"
            )));
        }
        let mut gone: Vec<String> = self.model.descendants(&path).cloned().collect();
        gone.push(path.clone());
        for p in &gone {
            if let Some(r) = self.model.resources.remove(p) {
                self.model.tags.remove(&r.tag);
            }
            self.touch(Kind::Resource, p);
        }
        let affected: Vec<String> = self
            .model
            .policies
            .values()
            .filter(|pol| {
                pol.resource_paths
                    .iter()
                    .any(|rp| is_at_or_below(rp, &path))
            })
            .map(|pol| pol.id.clone())
            .collect();
        for id in affected {
            if let Some(mut pol) = self.model.policies.get(&id).cloned() {
                pol.resource_paths.retain(|rp| !is_at_or_below(rp, &path));
                self.model.policies.insert(id.clone(), pol);
                self.touch(Kind::Policy, &id);
            }
        }
        Ok(())
    }

    // ----- roles -----

    fn check_role(role: &Role) -> AuthzResult<()> {
        if role.id.is_empty() {
            return Err(AuthzError::bad_request(
                "missing required field `id` in input for role",
            ));
        }
        if role.permissions.is_empty() {
            return Err(AuthzError::bad_request("role has no permissions"));
        }
        for p in &role.permissions {
            if p.action.service.is_empty() || p.action.method.is_empty() {
                return Err(AuthzError::bad_request(format!(
                    "permission `{}` of role `{}` needs an action with a service and a method",
                    p.id, role.id
                )));
            }
        }
        Ok(())
    }

    pub fn create_role(&mut self, role: Role) -> AuthzResult<()> {
        Self::check_role(&role)?;
        if self.model.roles.contains_key(&role.id) {
            return Err(AuthzError::conflict(format!(
                "failed to insert role: role with this ID already exists: {}",
                role.id
            )));
        }
        self.touch(Kind::Role, &role.id);
        self.model.roles.insert(role.id.clone(), role);
        Ok(())
    }

    /// Create or overwrite; returns whether it was created.
    pub fn put_role(&mut self, role: Role) -> AuthzResult<bool> {
        Self::check_role(&role)?;
        let created = !self.model.roles.contains_key(&role.id);
        if self.model.roles.get(&role.id) != Some(&role) {
            self.touch(Kind::Role, &role.id);
            self.model.roles.insert(role.id.clone(), role);
        }
        Ok(created)
    }

    pub fn delete_role(&mut self, id: &str) -> AuthzResult<()> {
        if self.model.roles.remove(id).is_none() {
            return Err(AuthzError::not_found(format!(
                "failed to delete role: role does not exist: `{id}`"
            )));
        }
        self.touch(Kind::Role, id);
        let affected: Vec<String> = self
            .model
            .policies
            .values()
            .filter(|p| p.role_ids.iter().any(|r| r == id))
            .map(|p| p.id.clone())
            .collect();
        for pid in affected {
            if let Some(mut pol) = self.model.policies.get(&pid).cloned() {
                pol.role_ids.retain(|r| r != id);
                self.model.policies.insert(pid.clone(), pol);
                self.touch(Kind::Policy, &pid);
            }
        }
        Ok(())
    }

    // ----- policies -----

    fn check_policy(&self, mut policy: Policy) -> AuthzResult<Policy> {
        if policy.id.is_empty() {
            return Err(AuthzError::bad_request(
                "policy ID cannot be absent or empty",
            ));
        }
        if policy.resource_paths.is_empty() {
            return Err(AuthzError::bad_request("no resource paths specified"));
        }
        if policy.role_ids.is_empty() {
            return Err(AuthzError::bad_request("no role IDs specified"));
        }
        let mut paths = Vec::with_capacity(policy.resource_paths.len());
        for p in &policy.resource_paths {
            let n = normalize_path(p)?;
            if !paths.contains(&n) {
                paths.push(n);
            }
        }
        let missing: Vec<&str> = paths
            .iter()
            .filter(|p| !self.model.resources.contains_key(*p))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(AuthzError::bad_request(format!(
                "failed to create policy: resources do not exist: {}",
                missing.join(", ")
            )));
        }
        let missing: Vec<&str> = policy
            .role_ids
            .iter()
            .filter(|r| !self.model.roles.contains_key(*r))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(AuthzError::bad_request(format!(
                "failed to create policy: roles do not exist: {}",
                missing.join(", ")
            )));
        }
        policy.resource_paths = paths;
        let mut seen = BTreeSet::new();
        policy.role_ids.retain(|r| seen.insert(r.clone()));
        Ok(policy)
    }

    pub fn create_policy(&mut self, policy: Policy) -> AuthzResult<Policy> {
        let policy = self.check_policy(policy)?;
        if self.model.policies.contains_key(&policy.id) {
            return Err(AuthzError::conflict(format!(
                "failed to insert policy: policy with this ID already exists: {}",
                policy.id
            )));
        }
        self.touch(Kind::Policy, &policy.id);
        self.model
            .policies
            .insert(policy.id.clone(), policy.clone());
        Ok(policy)
    }

    /// Overwrite an existing policy (`create` also allows a new one).
    pub fn put_policy(&mut self, policy: Policy, create: bool) -> AuthzResult<Policy> {
        let policy = self.check_policy(policy)?;
        if !create && !self.model.policies.contains_key(&policy.id) {
            return Err(AuthzError::not_found(format!(
                "failed to update policy: no policy found with id: {}",
                policy.id
            )));
        }
        if self.model.policies.get(&policy.id) != Some(&policy) {
            self.touch(Kind::Policy, &policy.id);
            self.model
                .policies
                .insert(policy.id.clone(), policy.clone());
        }
        Ok(policy)
    }

    pub fn delete_policy(&mut self, id: &str) -> AuthzResult<()> {
        if self.model.policies.remove(id).is_none() {
            return Err(AuthzError::not_found(format!("policy not found: {id}")));
        }
        self.touch(Kind::Policy, id);
        let users: Vec<String> = self
            .model
            .users
            .iter()
            .filter(|(_, u)| u.policies.contains_key(id))
            .map(|(k, _)| k.clone())
            .collect();
        for k in users {
            if let Some(mut u) = self.model.users.get(&k).cloned() {
                u.policies.remove(id);
                self.model.users.insert(k.clone(), u);
                self.touch(Kind::User, &k);
            }
        }
        let groups: Vec<String> = self
            .model
            .groups
            .iter()
            .filter(|(_, g)| g.policies.contains(id))
            .map(|(k, _)| k.clone())
            .collect();
        for k in groups {
            if let Some(mut g) = self.model.groups.get(&k).cloned() {
                g.policies.remove(id);
                self.model.groups.insert(k.clone(), g);
                self.touch(Kind::Group, &k);
            }
        }
        let clients: Vec<String> = self
            .model
            .clients
            .iter()
            .filter(|(_, c)| c.policies.contains(id))
            .map(|(k, _)| k.clone())
            .collect();
        for k in clients {
            if let Some(mut c) = self.model.clients.get(&k).cloned() {
                c.policies.remove(id);
                self.model.clients.insert(k.clone(), c);
                self.touch(Kind::Client, &k);
            }
        }
        Ok(())
    }

    fn require_policy(&self, id: &str) -> AuthzResult<()> {
        if self.model.policies.contains_key(id) {
            Ok(())
        } else {
            Err(AuthzError::not_found(format!(
                "policy does not exist: {id}"
            )))
        }
    }

    // ----- users -----

    pub fn create_user(&mut self, name: &str, email: Option<String>) -> AuthzResult<()> {
        if name.trim().is_empty() {
            return Err(AuthzError::bad_request(
                "missing required field `name` in input for user",
            ));
        }
        let key = user_key(name);
        if self.model.users.contains_key(&key) {
            return Err(AuthzError::conflict(format!(
                "failed to insert user: user with this ID already exists: {name}"
            )));
        }
        self.model.users.insert(
            key.clone(),
            User {
                name: name.to_owned(),
                email,
                policies: BTreeMap::new(),
                admin: false,
            },
        );
        self.touch(Kind::User, &key);
        Ok(())
    }

    /// Create the user if missing; true if created.
    pub fn ensure_user(&mut self, name: &str) -> AuthzResult<bool> {
        if self.model.users.contains_key(&user_key(name)) {
            return Ok(false);
        }
        self.create_user(name, None)?;
        Ok(true)
    }

    /// Set fence's admin flag of an existing user (usersync).
    pub fn set_user_admin(&mut self, name: &str, admin: bool) -> AuthzResult<()> {
        let (key, mut user) = self.user_mut(name)?;
        user.admin = admin;
        self.put_user_back(key, user);
        Ok(())
    }

    fn user_mut(&mut self, name: &str) -> AuthzResult<(String, User)> {
        let key = user_key(name);
        let user = self
            .model
            .users
            .get(&key)
            .cloned()
            .ok_or_else(|| AuthzError::not_found(format!("user not found: {name}")))?;
        Ok((key, user))
    }

    fn put_user_back(&mut self, key: String, user: User) {
        if self.model.users.get(&key) != Some(&user) {
            self.touch(Kind::User, &key);
            self.model.users.insert(key, user);
        }
    }

    /// `PATCH /user/{name}`: rename and/or change the email.
    pub fn update_user(
        &mut self,
        name: &str,
        new_name: Option<String>,
        email: Option<String>,
    ) -> AuthzResult<()> {
        let (key, mut user) = self.user_mut(name)?;
        if let Some(e) = email {
            user.email = Some(e);
        }
        if let Some(n) = new_name {
            let new_key = user_key(&n);
            if n.trim().is_empty() {
                return Err(AuthzError::bad_request("user name cannot be empty"));
            }
            if new_key != key {
                if self.model.users.contains_key(&new_key) {
                    return Err(AuthzError::conflict(format!(
                        "failed to update user: user with this name already exists: {n}"
                    )));
                }
                user.name = n;
                self.model.users.remove(&key);
                self.touch(Kind::User, &key);
                self.touch(Kind::User, &new_key);
                self.model.users.insert(new_key.clone(), user);
                let groups: Vec<String> = self
                    .model
                    .groups
                    .iter()
                    .filter(|(_, g)| g.users.contains_key(&key))
                    .map(|(k, _)| k.clone())
                    .collect();
                for gk in groups {
                    if let Some(mut g) = self.model.groups.get(&gk).cloned() {
                        if let Some(m) = g.users.remove(&key) {
                            g.users.insert(new_key.clone(), m);
                        }
                        self.model.groups.insert(gk.clone(), g);
                        self.touch(Kind::Group, &gk);
                    }
                }
                return Ok(());
            }
            user.name = n;
        }
        self.put_user_back(key, user);
        Ok(())
    }

    pub fn delete_user(&mut self, name: &str) -> AuthzResult<()> {
        let key = user_key(name);
        if self.model.users.remove(&key).is_none() {
            return Err(AuthzError::not_found(format!("user not found: {name}")));
        }
        self.touch(Kind::User, &key);
        self.remove_memberships(&key, None);
        Ok(())
    }

    fn remove_memberships(&mut self, key: &str, provider: Option<&str>) {
        let groups: Vec<String> = self
            .model
            .groups
            .iter()
            .filter(|(_, g)| {
                g.users
                    .get(key)
                    .is_some_and(|m| provider.is_none() || m.provider.as_deref() == provider)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for gk in groups {
            if let Some(mut g) = self.model.groups.get(&gk).cloned() {
                g.users.remove(key);
                self.model.groups.insert(gk.clone(), g);
                self.touch(Kind::Group, &gk);
            }
        }
    }

    /// `POST /user/{name}/policy`: grant (or re-grant with a new expiry).
    pub fn grant_user_policy(
        &mut self,
        name: &str,
        policy: &str,
        expires_at: Option<DateTime<Utc>>,
        provider: Option<String>,
    ) -> AuthzResult<()> {
        let (key, mut user) = self.user_mut(name)?;
        self.require_policy(policy)?;
        user.policies.insert(
            policy.to_owned(),
            Grant {
                expires_at,
                provider,
            },
        );
        self.put_user_back(key, user);
        Ok(())
    }

    /// `DELETE /user/{name}/policy`: every direct grant, or only `provider`'s.
    pub fn revoke_all_user_policies(
        &mut self,
        name: &str,
        provider: Option<&str>,
    ) -> AuthzResult<()> {
        let (key, mut user) = self.user_mut(name)?;
        user.policies
            .retain(|_, g| provider.is_some_and(|p| g.provider.as_deref() != Some(p)));
        self.put_user_back(key, user);
        Ok(())
    }

    /// `DELETE /user/{name}/policy/{policy}`.
    pub fn revoke_user_policy(
        &mut self,
        name: &str,
        policy: &str,
        provider: Option<&str>,
    ) -> AuthzResult<()> {
        let (key, mut user) = self.user_mut(name)?;
        let Some(grant) = user.policies.get(policy) else {
            return Err(AuthzError::bad_request(format!(
                "policy `{policy}` is not granted directly to user `{name}`"
            )));
        };
        if let Some(p) = provider
            && grant.provider.as_deref() != Some(p)
        {
            return Err(AuthzError::unauthenticated(format!(
                "policy `{policy}` of user `{name}` was not granted by provider `{p}`"
            )));
        }
        user.policies.remove(policy);
        self.put_user_back(key, user);
        Ok(())
    }

    // ----- groups -----

    fn check_group_refs(
        &self,
        name: &str,
        users: &[String],
        policies: &[String],
    ) -> AuthzResult<()> {
        if users
            .iter()
            .any(|u| !self.model.users.contains_key(&user_key(u)))
        {
            return Err(AuthzError::bad_request(format!(
                "failed to create group {name} while adding users: Some users do not exist"
            )));
        }
        if policies
            .iter()
            .any(|p| !self.model.policies.contains_key(p))
        {
            return Err(AuthzError::bad_request(format!(
                "failed to create group {name} while adding policies: Some policies do not exist"
            )));
        }
        Ok(())
    }

    fn group_mut(&self, name: &str) -> AuthzResult<Group> {
        self.model
            .groups
            .get(name)
            .cloned()
            .ok_or_else(|| AuthzError::not_found(format!("group not found: {name}")))
    }

    fn put_group_back(&mut self, group: Group) {
        if self.model.groups.get(&group.name) != Some(&group) {
            self.touch(Kind::Group, &group.name);
            self.model.groups.insert(group.name.clone(), group);
        }
    }

    pub fn create_group(
        &mut self,
        name: &str,
        users: &[String],
        policies: &[String],
    ) -> AuthzResult<()> {
        if name.trim().is_empty() {
            return Err(AuthzError::bad_request(
                "missing required field `name` in input for group",
            ));
        }
        if self.model.groups.contains_key(name) {
            return Err(AuthzError::conflict(format!(
                "failed to insert group: group with this name already exists: {name}"
            )));
        }
        self.put_group(name, users, policies, None)
    }

    /// `PUT /group`: create or overwrite members and policies (only `provider`'s, if given).
    pub fn put_group(
        &mut self,
        name: &str,
        users: &[String],
        policies: &[String],
        provider: Option<&str>,
    ) -> AuthzResult<()> {
        if name.trim().is_empty() {
            return Err(AuthzError::bad_request(
                "missing required field `name` in input for group",
            ));
        }
        if (name == ANONYMOUS || name == LOGGED_IN) && !users.is_empty() {
            return Err(AuthzError::bad_request(
                "can't add users to built-in groups",
            ));
        }
        self.check_group_refs(name, users, policies)?;
        let mut group = self.model.groups.get(name).cloned().unwrap_or(Group {
            name: name.to_owned(),
            users: BTreeMap::new(),
            policies: BTreeSet::new(),
        });
        group
            .users
            .retain(|_, m| provider.is_some_and(|p| m.provider.as_deref() != Some(p)));
        for u in users {
            group.users.entry(user_key(u)).or_insert_with(|| Grant {
                expires_at: None,
                provider: provider.map(str::to_owned),
            });
        }
        group.policies = policies.iter().cloned().collect();
        self.put_group_back(group);
        Ok(())
    }

    pub fn delete_group(&mut self, name: &str) -> AuthzResult<()> {
        if name == ANONYMOUS || name == LOGGED_IN {
            return Err(AuthzError::bad_request("can't delete built-in groups"));
        }
        if self.model.groups.remove(name).is_none() {
            return Err(AuthzError::not_found(format!("group not found: {name}")));
        }
        self.touch(Kind::Group, name);
        Ok(())
    }

    pub fn add_user_to_group(
        &mut self,
        group: &str,
        user: &str,
        expires_at: Option<DateTime<Utc>>,
        provider: Option<String>,
    ) -> AuthzResult<()> {
        if group == ANONYMOUS || group == LOGGED_IN {
            return Err(AuthzError::bad_request(
                "can't add users to built-in groups",
            ));
        }
        if user.is_empty() {
            return Err(AuthzError::bad_request("missing `username` argument"));
        }
        let mut g = self.group_mut(group)?;
        let key = user_key(user);
        if !self.model.users.contains_key(&key) {
            return Err(AuthzError::not_found(format!("user not found: {user}")));
        }
        g.users.insert(
            key,
            Grant {
                expires_at,
                provider,
            },
        );
        self.put_group_back(g);
        Ok(())
    }

    pub fn remove_user_from_group(&mut self, group: &str, user: &str) -> AuthzResult<()> {
        let mut g = self.group_mut(group)?;
        if g.users.remove(&user_key(user)).is_none() {
            return Err(AuthzError::not_found(format!(
                "user `{user}` is not a member of group `{group}`"
            )));
        }
        self.put_group_back(g);
        Ok(())
    }

    pub fn grant_group_policy(&mut self, group: &str, policy: &str) -> AuthzResult<()> {
        let mut g = self.group_mut(group)?;
        if !self.model.policies.contains_key(policy) {
            return Err(AuthzError::bad_request(format!(
                "failed to grant policy to group: policy does not exist: {policy}"
            )));
        }
        g.policies.insert(policy.to_owned());
        self.put_group_back(g);
        Ok(())
    }

    pub fn revoke_group_policy(&mut self, group: &str, policy: &str) -> AuthzResult<()> {
        let mut g = self.group_mut(group)?;
        g.policies.remove(policy);
        self.put_group_back(g);
        Ok(())
    }

    // ----- clients -----

    pub fn create_client(&mut self, client_id: &str, policies: &[String]) -> AuthzResult<()> {
        if client_id.is_empty() {
            return Err(AuthzError::bad_request(
                "missing required field `clientID` in input for client",
            ));
        }
        if self.model.clients.contains_key(client_id) {
            return Err(AuthzError::conflict(format!(
                "failed to insert client: client with this ID already exists: {client_id}"
            )));
        }
        for p in policies {
            self.require_policy(p)?;
        }
        self.model.clients.insert(
            client_id.to_owned(),
            Client {
                client_id: client_id.to_owned(),
                policies: policies.iter().cloned().collect(),
            },
        );
        self.touch(Kind::Client, client_id);
        Ok(())
    }

    fn client_mut(&self, id: &str) -> AuthzResult<Client> {
        self.model
            .clients
            .get(id)
            .cloned()
            .ok_or_else(|| AuthzError::not_found(format!("client not found: {id}")))
    }

    fn put_client_back(&mut self, c: Client) {
        if self.model.clients.get(&c.client_id) != Some(&c) {
            self.touch(Kind::Client, &c.client_id);
            self.model.clients.insert(c.client_id.clone(), c);
        }
    }

    pub fn delete_client(&mut self, id: &str) -> AuthzResult<()> {
        if self.model.clients.remove(id).is_none() {
            return Err(AuthzError::not_found(format!(
                "failed to delete client: client does not exist: {id}"
            )));
        }
        self.touch(Kind::Client, id);
        Ok(())
    }

    pub fn grant_client_policy(&mut self, id: &str, policy: &str) -> AuthzResult<()> {
        let mut c = self.client_mut(id)?;
        self.require_policy(policy)?;
        c.policies.insert(policy.to_owned());
        self.put_client_back(c);
        Ok(())
    }

    pub fn revoke_client_policy(&mut self, id: &str, policy: Option<&str>) -> AuthzResult<()> {
        let mut c = self.client_mut(id)?;
        match policy {
            Some(p) => {
                c.policies.remove(p);
            }
            None => c.policies.clear(),
        }
        self.put_client_back(c);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(id: &str, service: &str, method: &str) -> Role {
        Role {
            id: id.into(),
            description: String::new(),
            permissions: vec![Permission {
                id: id.into(),
                description: String::new(),
                action: Action {
                    service: service.into(),
                    method: method.into(),
                },
                constraints: BTreeMap::new(),
            }],
        }
    }

    #[test]
    fn paths_normalize_and_nest() {
        assert_eq!(normalize_path("/a//b/").unwrap(), "/a/b");
        assert!(normalize_path("a/b").is_err());
        assert!(normalize_path("/").is_err());
        assert!(is_at_or_below("/a/b", "/a"));
        assert!(!is_at_or_below("/ab", "/a"));
        assert!(is_at_or_below("/a", "/a"));
        assert_eq!(parent_path("/a/b"), Some("/a"));
        assert_eq!(parent_path("/a"), None);
    }

    #[test]
    fn resources_need_parents_unless_asked() {
        let mut t = Txn::new(Model::new());
        let input = ResourceIn {
            name: Some("q".into()),
            ..Default::default()
        };
        let err = t.create_resource("/programs/p", &input, false).unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(
            t.create_resource("/programs/p", &input, true).unwrap(),
            "/programs/p/q"
        );
        assert_eq!(t.model.resources.len(), 3);
        let dup = t.create_resource("/programs/p", &input, true).unwrap_err();
        assert_eq!(dup.status(), 409);
        assert_eq!(dup.exists.unwrap()["path"], "/programs/p/q");
        assert_eq!(
            t.model.children("/programs"),
            vec!["/programs/p".to_owned()]
        );
    }

    #[test]
    fn deleting_a_resource_cascades_to_descendants_and_policies() {
        let mut t = Txn::new(Model::new());
        let input = ResourceIn {
            path: Some("/a/b/c".into()),
            ..Default::default()
        };
        t.create_resource("/", &input, true).unwrap();
        t.create_role(role("r", "*", "read")).unwrap();
        t.create_policy(Policy {
            id: "p".into(),
            description: String::new(),
            role_ids: vec!["r".into()],
            resource_paths: vec!["/a/b/c".into(), "/a".into()],
        })
        .unwrap();
        t.delete_resource("/a/b").unwrap();
        assert_eq!(
            t.model.resources.keys().cloned().collect::<Vec<_>>(),
            vec!["/a"]
        );
        assert_eq!(t.model.policies["p"].resource_paths, vec!["/a".to_owned()]);
        assert_eq!(t.model.tags.len(), 1);
    }

    #[test]
    fn policies_check_their_references() {
        let mut t = Txn::new(Model::new());
        t.create_role(role("r", "*", "read")).unwrap();
        let p = Policy {
            id: "p".into(),
            description: String::new(),
            role_ids: vec!["r".into()],
            resource_paths: vec!["/nope".into()],
        };
        let e = t.create_policy(p).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.message.contains("/nope"), "{}", e.message);
    }

    #[test]
    fn put_resource_without_merge_drops_unlisted_children() {
        let mut t = Txn::new(Model::new());
        for p in ["/a/x", "/a/y"] {
            let input = ResourceIn {
                path: Some(p.into()),
                ..Default::default()
            };
            t.create_resource("/", &input, true).unwrap();
        }
        let put = ResourceIn {
            path: Some("/a".into()),
            subresources: Some(vec![ResourceIn {
                name: Some("y".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        t.put_resource("/", &put, false, true).unwrap();
        assert_eq!(t.model.children("/a").len(), 2);
        t.put_resource("/", &put, false, false).unwrap();
        assert_eq!(t.model.children("/a"), vec!["/a/y".to_owned()]);
    }

    #[test]
    fn builtin_groups_refuse_members_and_deletion() {
        let mut t = Txn::new(Model::new());
        t.create_user("Alice", None).unwrap();
        assert_eq!(
            t.add_user_to_group(ANONYMOUS, "alice", None, None)
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(t.delete_group(LOGGED_IN).unwrap_err().status(), 400);
        assert_eq!(t.create_user("ALICE", None).unwrap_err().status(), 409);
    }

    #[test]
    fn rows_round_trip() {
        let mut t = Txn::new(Model::new());
        t.create_resource(
            "/",
            &ResourceIn {
                path: Some("/a/b".into()),
                ..Default::default()
            },
            true,
        )
        .unwrap();
        t.create_role(role("r", "svc", "*")).unwrap();
        t.create_user("u", Some("u@x".into())).unwrap();
        let rows = t
            .model
            .rows()
            .into_iter()
            .map(|(k, key, b)| (k.as_str().to_owned(), key, b));
        assert_eq!(Model::from_rows(rows).unwrap(), t.model);
    }
}
