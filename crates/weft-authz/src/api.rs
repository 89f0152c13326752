//! The JSON arborist reads and writes, apart from the stored model.
//!
//! Inputs reject unknown fields and require what arborist requires (it answers 400 naming
//! the field), so typos in a policy set fail loudly instead of being ignored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Model, Policy, Resource, Role};

/// A resource as arborist returns it: direct children as paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceOut {
    pub name: String,
    pub path: String,
    pub tag: String,
    pub description: String,
    pub subresources: Vec<String>,
}

#[must_use]
pub fn resource_out(model: &Model, r: &Resource) -> ResourceOut {
    ResourceOut {
        name: r.name().to_owned(),
        path: r.path.clone(),
        tag: r.tag.clone(),
        description: r.description.clone(),
        subresources: model.children(&r.path),
    }
}

/// A policy with its roles written out (`GET /policy?expand`).
#[derive(Debug, Clone, Serialize)]
pub struct ExpandedPolicy {
    pub id: String,
    pub description: String,
    pub resource_paths: Vec<String>,
    pub roles: Vec<Role>,
}

#[must_use]
pub fn expand_policy(model: &Model, p: &Policy) -> ExpandedPolicy {
    ExpandedPolicy {
        id: p.id.clone(),
        description: p.description.clone(),
        resource_paths: p.resource_paths.clone(),
        roles: p
            .role_ids
            .iter()
            .filter_map(|r| model.roles.get(r).cloned())
            .collect(),
    }
}

/// A policy binding of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyBinding {
    pub policy: String,
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserOut {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub groups: Vec<String>,
    pub policies: Vec<PolicyBinding>,
}

/// arborist's timestamp form (RFC 3339, seconds, `Z`).
#[must_use]
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[must_use]
pub fn user_out(model: &Model, key: &str) -> Option<UserOut> {
    let u = model.users.get(key)?;
    Some(UserOut {
        name: u.name.clone(),
        email: u.email.clone(),
        groups: model.groups_of(key).map(|(g, _)| g.name.clone()).collect(),
        policies: u
            .policies
            .iter()
            .map(|(p, g)| PolicyBinding {
                policy: p.clone(),
                expires_at: g.expires_at.map(format_time),
            })
            .collect(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupOut {
    pub name: String,
    pub users: Vec<String>,
    pub policies: Vec<String>,
}

#[must_use]
pub fn group_out(model: &Model, name: &str) -> Option<GroupOut> {
    let g = model.groups.get(name)?;
    Some(GroupOut {
        name: g.name.clone(),
        users: g
            .users
            .keys()
            .map(|k| {
                model
                    .users
                    .get(k)
                    .map_or_else(|| k.clone(), |u| u.name.clone())
            })
            .collect(),
        policies: g.policies.iter().cloned().collect(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientOut {
    #[serde(rename = "clientID")]
    pub client_id: String,
    pub policies: Vec<String>,
}

#[must_use]
pub fn client_out(model: &Model, id: &str) -> Option<ClientOut> {
    let c = model.clients.get(id)?;
    Some(ClientOut {
        client_id: c.client_id.clone(),
        policies: c.policies.iter().cloned().collect(),
    })
}

// ----- inputs -----

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionIn {
    pub service: String,
    pub method: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionIn {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    pub action: ActionIn,
    #[serde(default)]
    pub constraints: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleIn {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    pub permissions: Vec<PermissionIn>,
}

impl From<RoleIn> for Role {
    fn from(r: RoleIn) -> Self {
        Self {
            id: r.id,
            description: r.description.unwrap_or_default(),
            permissions: r
                .permissions
                .into_iter()
                .map(|p| crate::model::Permission {
                    id: p.id,
                    description: p.description.unwrap_or_default(),
                    action: crate::model::Action {
                        service: p.action.service,
                        method: p.action.method,
                    },
                    constraints: p.constraints.unwrap_or_default(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyIn {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub role_ids: Vec<String>,
    pub resource_paths: Vec<String>,
}

impl PolicyIn {
    #[must_use]
    pub fn into_policy(self, id: Option<&str>) -> Policy {
        Policy {
            id: id.map(str::to_owned).or(self.id).unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            role_ids: self.role_ids,
            resource_paths: self.resource_paths,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Accepted (arborist lists them as optional) and ignored.
    #[serde(default)]
    pub groups: Option<serde_json::Value>,
    #[serde(default)]
    pub policies: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantIn {
    pub policy: String,
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// Parse an `expires_at` as arborist does (RFC 3339).
pub fn parse_expiry(s: Option<&str>) -> crate::AuthzResult<Option<DateTime<Utc>>> {
    match s {
        None | Some("") => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| {
                crate::AuthzError::bad_request(format!(
                    "could not parse `expires_at` `{s}` as an RFC 3339 date: {e}"
                ))
            }),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupIn {
    pub name: String,
    pub users: Vec<String>,
    pub policies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupUserIn {
    pub username: String,
    #[serde(default)]
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRef {
    pub policy: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientIn {
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(default)]
    pub policies: Vec<String>,
}
