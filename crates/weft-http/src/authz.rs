//! arborist's API under `/authz/`, plus the public aliases a Gen3 commons exposes
//! (`/authz?resource=&service=&method=`, `/authz/mapping`, `/authz/resources`).
//!
//! Trailing slashes are ignored, as arborist ignores them. Errors are arborist's
//! `{"error": {"message", "code"}}`. Everything but the decision endpoints and `/health`
//! is administration, allowed by the policy engine itself (service `arborist` on
//! `/services/arborist/{area}`) or to a bootstrap admin from configuration.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use weft_authz::api::{self as out, GrantIn, PolicyIn, RoleIn};
use weft_authz::model::{ResourceIn, Txn, user_key};
use weft_authz::{AuthzError, Principal, Snapshot};
use weft_core::ErrorCode;

use std::collections::BTreeMap;

use utoipa::{IntoResponses, OpenApi, ToSchema};

use crate::error::ApiError;
use crate::extract::{Body, Query, bearer};
use crate::schemas::{ArboristError as ErrorBody, ArboristErrorInner};

/// The policy API's part of the OpenAPI document (paths under `/authz`).
#[derive(OpenApi)]
#[openapi(
    paths(
        public_proxy,
        health,
        mapping_get_public,
        resources_get_public,
        mapping_get,
        mapping_post,
        proxy,
        auth_request,
        resources_get,
        resources_post,
        policy_list,
        policy_create,
        policy_put_body,
        policy_get,
        policy_put,
        policy_delete,
        policy_bulk,
        resource_list,
        resource_post,
        resource_put,
        resource_by_tag,
        resource_get,
        resource_post_under,
        resource_put_under,
        resource_delete,
        role_list,
        role_create,
        role_get,
        role_put,
        role_delete,
        user_list,
        user_create,
        user_get,
        user_patch,
        user_delete,
        user_grant,
        user_revoke_all,
        user_grant_bulk,
        user_revoke,
        user_resources,
        client_list,
        client_create,
        client_get,
        client_delete,
        client_grant,
        client_revoke_all,
        client_revoke,
        group_list,
        group_create,
        group_put,
        group_get,
        group_delete,
        group_add_user,
        group_remove_user,
        group_grant,
        group_revoke,
    ),
    components(schemas(ErrorBody, ArboristErrorInner)),
    modifiers(&TrailingSlash)
)]
pub(crate) struct Api;

/// Every operation's description says that the spelling with a trailing slash is served
/// too ([`strip_trailing_slash`] runs before the router).
struct TrailingSlash;

const TRAILING_SLASH: &str =
    "The same path with a trailing slash is accepted (arborist ignores it).";

impl utoipa::Modify for TrailingSlash {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                op.description = Some(match op.description.take() {
                    Some(d) if !d.is_empty() => format!("{d}\n\n{TRAILING_SLASH}"),
                    _ => TRAILING_SLASH.to_owned(),
                });
            }
        }
    }
}

// ----- the answers' schemas -----
//
// Mirrors of what weft-authz serializes (`weft_authz::model` and `weft_authz::api`), with
// the same field names and types: weft-authz stays free of utoipa. The tests at the end of
// this file check each mirror against a serialized value.

/// `{service, method}`; either may be `*`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristAction {
    service: String,
    method: String,
}

/// A permission of a role.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristPermission {
    id: String,
    description: String,
    action: ArboristAction,
    constraints: BTreeMap<String, String>,
}

/// A role: permissions to act.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristRole {
    id: String,
    description: String,
    permissions: Vec<ArboristPermission>,
}

/// A policy: roles on resources.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristPolicy {
    id: String,
    description: String,
    role_ids: Vec<String>,
    resource_paths: Vec<String>,
}

/// A policy with its roles written out (`GET /authz/policy?expand`).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristExpandedPolicy {
    id: String,
    description: String,
    resource_paths: Vec<String>,
    roles: Vec<ArboristRole>,
}

/// A resource, its direct children as paths.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristResource {
    /// The last segment of the path.
    name: String,
    path: String,
    /// A generated short id (`GET /authz/resource/tag/{tag}`).
    tag: String,
    description: String,
    subresources: Vec<String>,
}

/// A policy granted to a user directly.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristPolicyBinding {
    policy: String,
    /// RFC 3339; null: never.
    expires_at: Option<String>,
}

/// A user, with the groups it is a member of and its direct policies.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristUser {
    name: String,
    /// Absent when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    email: Option<String>,
    groups: Vec<String>,
    policies: Vec<ArboristPolicyBinding>,
}

/// A group: members by name, and its policies.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristGroup {
    name: String,
    users: Vec<String>,
    policies: Vec<String>,
}

/// An OAuth client and its policies.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristClient {
    #[serde(rename = "clientID")]
    client_id: String,
    policies: Vec<String>,
}

/// An auth mapping: resource path to the actions allowed there.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristMapping(BTreeMap<String, Vec<ArboristAction>>);

/// `{"auth": bool}`: whether every request is allowed.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristDecision {
    auth: bool,
}

/// `{"resources": [path or tag]}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristResourcePaths {
    resources: Vec<String>,
}

/// A policy in a listing: as stored, or with `expand` its roles written out.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum ArboristListedPolicy {
    Policy(ArboristPolicy),
    Expanded(ArboristExpandedPolicy),
}

/// `{"policies": [...]}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristPolicies {
    policies: Vec<ArboristListedPolicy>,
}

/// `{"created": policy}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristPolicyCreated {
    created: ArboristPolicy,
}

/// `{"updated": policy}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristPolicyUpdated {
    updated: ArboristPolicy,
}

/// `{"updated": [policy]}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristPoliciesUpdated {
    updated: Vec<ArboristPolicy>,
}

/// `{"resources": [resource]}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristResources {
    resources: Vec<ArboristResource>,
}

/// `{"created": resource}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristResourceCreated {
    created: ArboristResource,
}

/// `{"roles": [role]}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristRoles {
    roles: Vec<ArboristRole>,
}

/// `{"created": role}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristRoleCreated {
    created: ArboristRole,
}

/// `{"updated": role}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristRoleUpdated {
    updated: ArboristRole,
}

/// `{"users": [user]}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristUsers {
    users: Vec<ArboristUser>,
}

/// `{"created": user}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristUserCreated {
    created: ArboristUser,
}

/// `{"clients": [client]}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristClients {
    clients: Vec<ArboristClient>,
}

/// `{"created": client}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristClientCreated {
    created: ArboristClient,
}

/// `{"groups": [group]}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristGroups {
    groups: Vec<ArboristGroup>,
}

/// `{"created": group}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArboristGroupCreated {
    created: ArboristGroup,
}

// ----- the request bodies' schemas -----
//
// Mirrors of weft-authz's inputs (`weft_authz::api`, `weft_authz::model::ResourceIn`): each
// refuses unknown fields, as they do.

/// An action in a permission.
#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristActionIn)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ActionBody {
    service: String,
    method: String,
}

/// A permission of a role to create.
#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristPermissionIn)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct PermissionBody {
    id: String,
    description: Option<String>,
    action: ActionBody,
    /// Accepted and stored; decisions do not read them.
    constraints: Option<BTreeMap<String, String>>,
}

/// A role to create or overwrite.
#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristRoleIn)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct RoleBody {
    id: String,
    description: Option<String>,
    /// At least one.
    permissions: Vec<PermissionBody>,
}

/// A policy to create or overwrite.
#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristPolicyIn)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct PolicyBody {
    /// Required unless the path names the policy.
    id: Option<String>,
    description: Option<String>,
    /// Existing roles, at least one.
    role_ids: Vec<String>,
    /// Existing resources, at least one.
    resource_paths: Vec<String>,
}

/// A resource to create or update, and its subresources.
#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristResourceIn)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ResourceBody {
    /// The last segment (no `/`), under the parent; or give `path`.
    name: Option<String>,
    /// The full path (wins over `name`).
    path: Option<String>,
    description: Option<String>,
    #[schema(no_recursion)]
    subresources: Option<Vec<ResourceBody>>,
    /// Ignored (tags are generated); accepted so that a resource read can be sent back.
    tag: Option<Value>,
}

/// A user to create.
#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristUserIn)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct UserBody {
    name: String,
    email: Option<String>,
    /// Accepted and ignored.
    groups: Option<Value>,
    /// Accepted and ignored.
    policies: Option<Value>,
}

/// A user's new name and/or email.
#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristUserPatch)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct UserPatchBody {
    name: Option<String>,
    email: Option<String>,
}

/// A policy to grant, until `expires_at` (RFC 3339) if given.
#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristGrantIn)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct GrantBody {
    policy: String,
    expires_at: Option<String>,
}

/// A group to create or overwrite: its members (existing users) and policies.
#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristGroupIn)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct GroupBody {
    name: String,
    users: Vec<String>,
    policies: Vec<String>,
}

/// A user to add to a group, until `expires_at` (RFC 3339) if given.
#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristGroupUserIn)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct GroupUserBody {
    username: String,
    expires_at: Option<String>,
}

/// A policy by id.
#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristPolicyRef)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct PolicyRefBody {
    policy: String,
}

/// An OAuth client to create, with existing policies.
#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristClientIn)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClientBody {
    #[serde(rename = "clientID")]
    client_id: String,
    policies: Option<Vec<String>>,
}

// ----- the error answers -----

/// 400.
#[derive(IntoResponses)]
#[response(
    status = 400,
    description = "Malformed request: a body that is not JSON of the documented shape, a missing argument, a reference to something that does not exist"
)]
#[allow(dead_code)]
pub(crate) struct BadRequest(ErrorBody);

/// 401.
#[derive(IntoResponses)]
#[response(
    status = 401,
    description = "No token where one is needed, or a token that does not verify"
)]
#[allow(dead_code)]
pub(crate) struct Unauthorized(ErrorBody);

/// 403.
#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "Not allowed (service `arborist` on `/services/arborist/...`), or a token that names no one"
)]
#[allow(dead_code)]
pub(crate) struct Forbidden(ErrorBody);

/// 404.
#[derive(IntoResponses)]
#[response(status = 404, description = "No such object")]
#[allow(dead_code)]
pub(crate) struct NotFound(ErrorBody);

/// 409.
#[derive(IntoResponses)]
#[response(status = 409, description = "Exists already")]
#[allow(dead_code)]
pub(crate) struct Conflict(ErrorBody);

/// 413.
#[derive(IntoResponses)]
#[response(status = 413, description = "Body over max_body_bytes")]
#[allow(dead_code)]
pub(crate) struct TooLarge(ErrorBody);

/// An error in arborist's shape.
pub struct ArboristError(pub AuthzError);

impl From<AuthzError> for ArboristError {
    fn from(e: AuthzError) -> Self {
        Self(e)
    }
}

impl From<ApiError> for ArboristError {
    fn from(e: ApiError) -> Self {
        Self(e.error.into())
    }
}

impl IntoResponse for ArboristError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if e.code == ErrorCode::Internal {
            tracing::error!(detail = ?e.detail, "internal error: {}", e.message);
        }
        let body = ErrorBody {
            error: ArboristErrorInner {
                message: e.message,
                code: status.as_u16(),
            },
            exists: e.exists.map(|b| *b),
        };
        (status, Json(body)).into_response()
    }
}

type Res = Result<Response, ArboristError>;

/// What the policy API's handlers reach.
pub struct AuthzState {
    pub authz: std::sync::Arc<weft_authz::AuthzService>,
    pub tokens: std::sync::Arc<weft_identity::Tokens>,
}

type SharedState = std::sync::Arc<AuthzState>;

/// The policy API's routes (mounted at `/authz`).
pub(crate) fn routes() -> crate::routes::Routes<SharedState> {
    crate::routes::Routes::new()
        .route("/", get(public_proxy))
        .route("/health", get(health))
        .route("/mapping", get(mapping_get))
        .route("/resources", get(resources_get))
        .route("/auth/mapping", get(mapping_get).post(mapping_post))
        .route("/auth/proxy", get(proxy))
        .route("/auth/request", post(auth_request))
        .route("/auth/resources", get(resources_get).post(resources_post))
        .route(
            "/policy",
            get(policy_list).post(policy_create).put(policy_put_body),
        )
        .route(
            "/policy/{id}",
            get(policy_get).put(policy_put).delete(policy_delete),
        )
        .route("/bulk/policy", axum::routing::put(policy_bulk))
        .route(
            "/resource",
            get(resource_list).post(resource_post).put(resource_put),
        )
        .route("/resource/tag/{tag}", get(resource_by_tag))
        .route(
            "/resource/{*path}",
            get(resource_get)
                .post(resource_post_under)
                .put(resource_put_under)
                .delete(resource_delete),
        )
        .route("/role", get(role_list).post(role_create))
        .route(
            "/role/{id}",
            get(role_get).put(role_put).delete(role_delete),
        )
        .route("/user", get(user_list).post(user_create))
        .route(
            "/user/{name}",
            get(user_get).patch(user_patch).delete(user_delete),
        )
        .route(
            "/user/{name}/policy",
            post(user_grant).delete(user_revoke_all),
        )
        .route("/user/{name}/bulk/policy", post(user_grant_bulk))
        .route(
            "/user/{name}/policy/{policy}",
            axum::routing::delete(user_revoke),
        )
        .route("/user/{name}/resources", get(user_resources))
        .route("/client", get(client_list).post(client_create))
        .route("/client/{id}", get(client_get).delete(client_delete))
        .route(
            "/client/{id}/policy",
            post(client_grant).delete(client_revoke_all),
        )
        .route(
            "/client/{id}/policy/{policy}",
            axum::routing::delete(client_revoke),
        )
        .route("/group", get(group_list).post(group_create).put(group_put))
        .route("/group/{name}", get(group_get).delete(group_delete))
        .route("/group/{name}/user", post(group_add_user))
        .route(
            "/group/{name}/user/{user}",
            axum::routing::delete(group_remove_user),
        )
        .route("/group/{name}/policy", post(group_grant))
        .route(
            "/group/{name}/policy/{policy}",
            axum::routing::delete(group_revoke),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// arborist ignores a trailing slash: `/authz/policy/` is `/authz/policy`.
pub fn strip_trailing_slash(mut req: Request) -> Request {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let pq = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = pq.parse() {
            *req.uri_mut() = uri;
        }
    }
    req
}

async fn not_found() -> ArboristError {
    ArboristError(AuthzError::not_found("not found"))
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({"error": {"message": "method not allowed", "code": 405}})),
    )
        .into_response()
}

fn created(v: impl serde::Serialize) -> Response {
    (StatusCode::CREATED, Json(json!({"created": v}))).into_response()
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn ok(v: impl serde::Serialize) -> Response {
    Json(v).into_response()
}

/// A JSON object body as `T`. serde would also read a struct from a JSON array (its fields
/// in order, so `[]` is a struct with every optional field unset): arborist's bodies are
/// objects, and anything else is refused here.
fn parse<T: DeserializeOwned>(
    body: &Result<Body, ApiError>,
    what: &str,
) -> Result<T, ArboristError> {
    parse_json(body, what, b'{', "an object")
}

/// A JSON array body as `T` (lists of policies or grants).
fn parse_list<T: DeserializeOwned>(
    body: &Result<Body, ApiError>,
    what: &str,
) -> Result<T, ArboristError> {
    parse_json(body, what, b'[', "a list")
}

fn parse_json<T: DeserializeOwned>(
    body: &Result<Body, ApiError>,
    what: &str,
    opening: u8,
    shape: &str,
) -> Result<T, ArboristError> {
    let bytes = match body {
        Ok(b) => &b.0,
        Err(e) => return Err(AuthzError::from(e.error.clone()).into()),
    };
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first.is_some_and(|b| b != opening) {
        return Err(AuthzError::bad_request(format!(
            "could not parse {what} from JSON: expected {shape}"
        ))
        .into());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        AuthzError::bad_request(format!("could not parse {what} from JSON: {e}")).into()
    })
}

fn provider(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-authz-provider")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
}

/// The principal a token speaks for (through `weft_auth`'s one verifier): a bad token is a
/// 401, one naming neither a user nor a client a 403.
async fn verify(s: &SharedState, token: &str, scopes: &[&str]) -> Result<Principal, AuthzError> {
    match weft_auth::verify_bearer(&s.tokens, token, scopes, weft_auth::Purpose::Access).await {
        Ok(p) => Ok(p.subject()),
        Err(e @ weft_auth::AuthError::NoSubject) => Err(AuthzError::forbidden(e.to_string())),
        Err(e) => Err(AuthzError::unauthenticated(e.to_string())),
    }
}

/// The caller: anonymous without a token; a bad token is a 401.
async fn caller(s: &SharedState, headers: &HeaderMap) -> Result<Principal, AuthzError> {
    match bearer(headers) {
        None => Ok(Principal::Anonymous),
        Some(t) => verify(s, t, &["openid"]).await,
    }
}

/// Administration of `area`: the caller must be allowed `arborist` `method` there.
async fn admin(
    s: &SharedState,
    headers: &HeaderMap,
    area: &str,
    method: &str,
) -> Result<(), AuthzError> {
    let who = caller(s, headers).await?;
    s.authz.require_admin(&who, area, method).await
}

/// Admin read, then the current snapshot.
async fn read(
    s: &SharedState,
    headers: &HeaderMap,
    area: &str,
) -> Result<std::sync::Arc<Snapshot>, AuthzError> {
    admin(s, headers, area, "read").await?;
    s.authz.fresh().await
}

/// The mapping as JSON (`{"service","method"}` pairs, serialized straight from the cached
/// mapping).
fn mapping_response(snap: &Snapshot, who: &Principal) -> Response {
    ok(&*snap.mapping(who, Utc::now()))
}

// ----- decisions -----

#[utoipa::path(get, path = "/authz/health", tag = "authz",
    summary = "Health of the policy engine",
    responses((status = 200, description = "`\"Healthy\"`", body = String)))]
async fn health(State(s): State<SharedState>) -> Res {
    s.authz.fresh().await?;
    Ok(ok("Healthy"))
}

#[utoipa::path(get, path = "/authz/auth/mapping", tag = "authz",
    summary = "The caller's auth mapping: resource path to granted actions",
    security((), ("bearer" = [])),
    responses((status = 200, description = "The mapping (anonymous without a token)", body = ArboristMapping),
        (status = 400, description = "A token that does not verify (arborist answers 400 here)", body = ErrorBody)))]
async fn mapping_get(State(s): State<SharedState>, headers: HeaderMap) -> Res {
    let who = match bearer(&headers) {
        None => Principal::Anonymous,
        Some(t) => verify(&s, t, &["openid"]).await.map_err(|e| {
            AuthzError::bad_request(format!(
                "tried to get username from jwt, but jwt decode failed: {}",
                e.message
            ))
        })?,
    };
    let snap = s.authz.fresh().await?;
    Ok(mapping_response(&snap, &who))
}

/// Whose mapping: a user name or a client ID (neither: the caller's).
#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristMappingIn)]
#[serde(deny_unknown_fields)]
struct MappingIn {
    #[serde(default)]
    username: Option<String>,
    #[serde(default, rename = "clientID")]
    client_id: Option<String>,
}

#[utoipa::path(post, path = "/authz/auth/mapping", tag = "authz",
    summary = "Auth mapping of the caller, a named user or a client",
    description = "An empty body: the caller's mapping. Another user's or a client's mapping needs `arborist` `read` on `/services/arborist/user`.",
    security((), ("bearer" = [])),
    request_body = Option<MappingIn>,
    responses((status = 200, description = "The mapping", body = ArboristMapping), BadRequest, Unauthorized, Forbidden, TooLarge))]
async fn mapping_post(
    State(s): State<SharedState>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    let empty = body
        .as_ref()
        .map(|b| b.0.iter().all(u8::is_ascii_whitespace))
        .unwrap_or(false);
    let input: MappingIn = if empty {
        MappingIn {
            username: None,
            client_id: None,
        }
    } else {
        parse(&body, "auth mapping request")?
    };
    let who = caller(&s, &headers).await?;
    let target = match (
        input.username.filter(|u| !u.is_empty()),
        input.client_id.filter(|c| !c.is_empty()),
    ) {
        (Some(_), Some(_)) => {
            return Err(
                AuthzError::bad_request("give either `username` or `clientID`, not both").into(),
            );
        }
        (Some(u), None) => Principal::User(u),
        (None, Some(c)) => Principal::Client(c),
        (None, None) => who.clone(),
    };
    // Another principal's mapping is administration.
    let own = match (&who, &target) {
        (Principal::User(a) | Principal::UserViaClient { user: a, .. }, Principal::User(b)) => {
            user_key(a) == user_key(b)
        }
        (a, b) => a == b,
    };
    if !own {
        s.authz.require_admin(&who, "user", "read").await?;
    }
    let snap = s.authz.fresh().await?;
    Ok(mapping_response(&snap, &target))
}

fn resources_list(snap: &Snapshot, who: &Principal, tags: bool) -> Value {
    let mapping = snap.mapping(who, Utc::now());
    let paths = mapping.keys();
    let list: Vec<String> = if tags {
        paths
            .filter_map(|p| snap.model.resources.get(p).map(|r| r.tag.clone()))
            .collect()
    } else {
        paths.cloned().collect()
    };
    json!({"resources": list})
}

#[utoipa::path(get, path = "/authz/auth/resources", tag = "authz",
    summary = "Resources the caller may act on",
    security((), ("bearer" = [])),
    params(("tags" = Option<String>, Query, description = "Present (any value): tags instead of paths")),
    responses((status = 200, description = "Paths (or tags)", body = ArboristResourcePaths), Unauthorized, Forbidden))]
async fn resources_get(State(s): State<SharedState>, headers: HeaderMap, Query(q): Query) -> Res {
    let who = caller(&s, &headers).await?;
    let snap = s.authz.fresh().await?;
    Ok(ok(resources_list(&snap, &who, q.get("tags").is_some())))
}

/// Whose decision: a token, or a user name.
#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristUserToken)]
#[serde(deny_unknown_fields)]
struct UserTokenIn {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    policies: Option<Vec<String>>,
    #[serde(default)]
    scope: Option<Vec<String>>,
}

/// Whose resources (no `user.token`: the caller's).
#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristResourcesIn)]
#[serde(deny_unknown_fields)]
struct ResourcesIn {
    #[serde(default)]
    user: Option<UserTokenIn>,
}

#[utoipa::path(post, path = "/authz/auth/resources", tag = "authz",
    summary = "Resources a token may act on",
    description = "The token of `user.token`, else the bearer token of the header, else anonymous.",
    security((), ("bearer" = [])),
    params(("tags" = Option<String>, Query, description = "Present (any value): tags instead of paths")),
    request_body = ResourcesIn,
    responses((status = 200, description = "Paths (or tags)", body = ArboristResourcePaths), BadRequest, Unauthorized, Forbidden, TooLarge))]
async fn resources_post(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query,
    body: Result<Body, ApiError>,
) -> Res {
    let input: ResourcesIn = parse(&body, "auth resources request")?;
    let who = match input.user.and_then(|u| u.token) {
        Some(t) => verify(&s, &t, &["openid"]).await?,
        None => caller(&s, &headers).await?,
    };
    let snap = s.authz.fresh().await?;
    Ok(ok(resources_list(&snap, &who, q.get("tags").is_some())))
}

async fn proxy_decision(
    s: &SharedState,
    headers: &HeaderMap,
    q: &weft_indexd::query::Params,
) -> Res {
    let get = |k: &str| q.get(k).map(str::to_owned).unwrap_or_default();
    let (resource, service, method) = (get("resource"), get("service"), get("method"));
    for (name, v) in [
        ("resource", &resource),
        ("service", &service),
        ("method", &method),
    ] {
        if v.is_empty() {
            return Err(AuthzError::bad_request(format!(
                "auth proxy request missing `{name}` argument"
            ))
            .into());
        }
    }
    let Some(token) = bearer(headers) else {
        return Err(AuthzError::unauthenticated("auth proxy request missing auth header").into());
    };
    let who = verify(s, token, &["openid"]).await?;
    if s.authz
        .allowed(&who, &[(&resource, &service, &method)], Utc::now())
        .await?
    {
        Ok(StatusCode::OK.into_response())
    } else {
        Err(
            AuthzError::forbidden("Unauthorized: user does not have access to this resource")
                .into(),
        )
    }
}

#[utoipa::path(get, path = "/authz/auth/proxy", tag = "authz",
    summary = "Decision for the bearer token: 200, 401 or 403",
    security(("bearer" = [])),
    params(("resource" = String, Query, description = "A resource path"), ("service" = String, Query), ("method" = String, Query)),
    responses((status = 200, description = "Allowed (empty body)"), BadRequest, Unauthorized,
        (status = 403, description = "Not allowed, or a token that names no one", body = ErrorBody)))]
async fn proxy(State(s): State<SharedState>, headers: HeaderMap, Query(q): Query) -> Res {
    proxy_decision(&s, &headers, &q).await
}

/// `GET /authz?resource=&service=&method=`: the public form of `auth/proxy`.
#[utoipa::path(get, path = "/authz", tag = "authz",
    summary = "Decision by query (public alias of auth/proxy)",
    security(("bearer" = [])),
    params(("resource" = String, Query, description = "A resource path"), ("service" = String, Query), ("method" = String, Query)),
    responses((status = 200, description = "Allowed (empty body)"), BadRequest, Unauthorized,
        (status = 403, description = "Not allowed, or a token that names no one", body = ErrorBody)))]
async fn public_proxy(State(s): State<SharedState>, headers: HeaderMap, Query(q): Query) -> Res {
    proxy_decision(&s, &headers, &q).await
}

#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristRequestAction)]
#[serde(deny_unknown_fields)]
struct ActionIn {
    service: String,
    method: String,
}

/// One request: an action on a resource.
#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristRequest)]
#[serde(deny_unknown_fields)]
struct RequestIn {
    resource: String,
    action: ActionIn,
    /// Refused unless absent, null or empty.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    constraints: Option<Value>,
}

/// `request` and/or `requests`: at least one.
#[derive(Deserialize, ToSchema)]
#[schema(as = ArboristAuthRequest)]
#[serde(deny_unknown_fields)]
struct AuthRequestIn {
    #[serde(default)]
    user: Option<UserTokenIn>,
    #[serde(default)]
    request: Option<RequestIn>,
    #[serde(default)]
    requests: Option<Vec<RequestIn>>,
}

#[utoipa::path(post, path = "/authz/auth/request", tag = "authz",
    summary = "Decisions for a token, a user or anonymous (all requests must pass)",
    description = "Whose: `user.token` (verified with `user.scope`), else `user.user_id` (another user's decision needs `arborist` `read` on `/services/arborist/user`), else the bearer token of the header, else anonymous. `user.policies` restricts the decision to those policies. Non-empty `constraints` are refused.",
    security((), ("bearer" = [])),
    request_body = AuthRequestIn,
    responses((status = 200, description = "The decision", body = ArboristDecision), BadRequest, Unauthorized, Forbidden, TooLarge))]
async fn auth_request(
    State(s): State<SharedState>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    let input: AuthRequestIn = parse(&body, "auth request")?;
    let mut requests: Vec<RequestIn> = input.requests.unwrap_or_default();
    requests.extend(input.request);
    if requests.is_empty() {
        return Err(AuthzError::bad_request("auth request has no `request` or `requests`").into());
    }
    for r in &requests {
        if r.resource.is_empty() {
            return Err(AuthzError::bad_request("auth request missing `resource` argument").into());
        }
        if r.action.service.is_empty() {
            return Err(AuthzError::bad_request("auth request missing `service` argument").into());
        }
        if r.action.method.is_empty() {
            return Err(AuthzError::bad_request("auth request missing `method` argument").into());
        }
        // arborist reads `constraints` and then decides as if they were absent; weft
        // refuses them rather than answer a question it was not asked (docs/compat/authz.md).
        match &r.constraints {
            None | Some(Value::Null) => {}
            Some(Value::Object(c)) if c.is_empty() => {}
            Some(Value::Object(_)) => {
                return Err(AuthzError::bad_request(
                    "auth request `constraints` are not supported: permissions are decided \
                     without them, so a request that names any is refused",
                )
                .into());
            }
            Some(_) => {
                return Err(AuthzError::bad_request(
                    "auth request `constraints` must be an object of strings",
                )
                .into());
            }
        }
    }
    let restrict = input
        .user
        .as_ref()
        .and_then(|u| u.policies.clone())
        .filter(|p| !p.is_empty());
    let who = match input.user {
        // No `user` in the body: the bearer token of the header, if any (arborist reads only
        // the body and would decide as anonymous; gen3authz sends no header here).
        None => match bearer(&headers) {
            Some(t) => verify(&s, t, &["openid"]).await?,
            None => Principal::Anonymous,
        },
        Some(u) => match (
            u.token.filter(|t| !t.is_empty()),
            u.user_id.filter(|n| !n.is_empty()),
        ) {
            (Some(t), _) => {
                let scopes = u.scope.unwrap_or_else(|| vec!["openid".to_owned()]);
                let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
                verify(&s, &t, &scopes).await?
            }
            (None, Some(name)) => {
                // A decision about another user is administration.
                let asker = caller(&s, &headers).await?;
                let same = matches!(&asker, Principal::User(a) if user_key(a) == user_key(&name));
                if !same {
                    s.authz.require_admin(&asker, "user", "read").await?;
                }
                Principal::User(name)
            }
            (None, None) => {
                return Err(AuthzError::bad_request(
                    "missing required field `token` in input for user",
                )
                .into());
            }
        },
    };
    let now = Utc::now();
    let snap = s.authz.fresh().await?;
    let allowed = match &restrict {
        None => requests
            .iter()
            .all(|r| snap.decide_on(&who, &r.resource, &r.action.service, &r.action.method, now)),
        // Only these policies count, and only those the principal holds.
        Some(policies) => requests.iter().all(|r| {
            snap.decide_with_policies(
                &who,
                &r.resource,
                &r.action.service,
                &r.action.method,
                policies,
                now,
            )
        }),
    };
    Ok(ok(json!({"auth": allowed})))
}

// The public aliases a commons exposes, served by the handlers above.

#[utoipa::path(get, path = "/authz/mapping", tag = "authz",
    summary = "The caller's auth mapping (public alias of auth/mapping)",
    security((), ("bearer" = [])),
    responses((status = 200, description = "The mapping (anonymous without a token)", body = ArboristMapping),
        (status = 400, description = "A token that does not verify (arborist answers 400 here)", body = ErrorBody)))]
#[allow(dead_code)]
fn mapping_get_public() {}

#[utoipa::path(get, path = "/authz/resources", tag = "authz",
    summary = "Resources the caller may act on (public alias of auth/resources)",
    security((), ("bearer" = [])),
    params(("tags" = Option<String>, Query, description = "Present (any value): tags instead of paths")),
    responses((status = 200, description = "Paths (or tags)", body = ArboristResourcePaths), Unauthorized, Forbidden))]
#[allow(dead_code)]
fn resources_get_public() {}

// ----- policies -----

#[utoipa::path(get, path = "/authz/policy", tag = "authz",
    summary = "List policies",
    security(("bearer" = [])),
    params(("expand" = Option<String>, Query, description = "Present (any value): each policy with its roles written out")),
    responses((status = 200, description = "The policies", body = ArboristPolicies), Unauthorized, Forbidden))]
async fn policy_list(State(s): State<SharedState>, headers: HeaderMap, Query(q): Query) -> Res {
    let snap = read(&s, &headers, "policy").await?;
    let m = &snap.model;
    if q.get("expand").is_some() {
        let list: Vec<_> = m
            .policies
            .values()
            .map(|p| out::expand_policy(m, p))
            .collect();
        Ok(ok(json!({"policies": list})))
    } else {
        let list: Vec<_> = m.policies.values().cloned().collect();
        Ok(ok(json!({"policies": list})))
    }
}

#[utoipa::path(post, path = "/authz/policy", tag = "authz",
    summary = "Create a policy",
    security(("bearer" = [])),
    request_body = PolicyBody,
    responses((status = 201, description = "Created", body = ArboristPolicyCreated), BadRequest, Unauthorized, Forbidden, Conflict, TooLarge))]
async fn policy_create(
    State(s): State<SharedState>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    admin(&s, &headers, "policy", "create").await?;
    let input: PolicyIn = parse(&body, "policy")?;
    let p = s
        .authz
        .change(|t| t.create_policy(input.clone().into_policy(None)))
        .await?;
    Ok(created(p))
}

async fn put_policy(
    s: &SharedState,
    headers: &HeaderMap,
    id: Option<&str>,
    body: &Result<Body, ApiError>,
) -> Res {
    admin(s, headers, "policy", "update").await?;
    let input: PolicyIn = parse(body, "policy")?;
    let p = s
        .authz
        .change(|t| t.put_policy(input.clone().into_policy(id), false))
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"updated": p}))).into_response())
}

#[utoipa::path(put, path = "/authz/policy", tag = "authz",
    summary = "Overwrite the policy the body names",
    security(("bearer" = [])),
    request_body = PolicyBody,
    responses((status = 201, description = "Overwritten (201, as arborist answers)", body = ArboristPolicyUpdated), BadRequest, Unauthorized, Forbidden, NotFound, TooLarge))]
async fn policy_put_body(
    State(s): State<SharedState>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    put_policy(&s, &headers, None, &body).await
}

#[utoipa::path(put, path = "/authz/policy/{id}", tag = "authz",
    summary = "Overwrite a policy",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Wins over an `id` in the body")),
    request_body = PolicyBody,
    responses((status = 201, description = "Overwritten (201, as arborist answers)", body = ArboristPolicyUpdated), BadRequest, Unauthorized, Forbidden, NotFound, TooLarge))]
async fn policy_put(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Body, ApiError>,
) -> Res {
    put_policy(&s, &headers, Some(&id), &body).await
}

#[utoipa::path(get, path = "/authz/policy/{id}", tag = "authz",
    summary = "A policy",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The policy", body = ArboristPolicy), Unauthorized, Forbidden, NotFound))]
async fn policy_get(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Res {
    let snap = read(&s, &headers, "policy").await?;
    snap.model
        .policies
        .get(&id)
        .map(ok)
        .ok_or_else(|| AuthzError::not_found(format!("policy not found: {id}")).into())
}

#[utoipa::path(delete, path = "/authz/policy/{id}", tag = "authz",
    summary = "Delete a policy (and every grant of it)",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), Unauthorized, Forbidden, NotFound))]
async fn policy_delete(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Res {
    admin(&s, &headers, "policy", "delete").await?;
    s.authz.change(|t| t.delete_policy(&id)).await?;
    Ok(no_content())
}

#[utoipa::path(put, path = "/authz/bulk/policy", tag = "authz",
    summary = "Create or overwrite several policies",
    security(("bearer" = [])),
    request_body = Vec<PolicyBody>,
    responses((status = 201, description = "Created or overwritten", body = ArboristPoliciesUpdated), BadRequest, Unauthorized, Forbidden, TooLarge))]
async fn policy_bulk(
    State(s): State<SharedState>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    admin(&s, &headers, "policy", "update").await?;
    let input: Vec<PolicyIn> = parse_list(&body, "policies")?;
    let updated = s
        .authz
        .change(|t| {
            input
                .iter()
                .map(|p| t.put_policy(p.clone().into_policy(None), true))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"updated": updated}))).into_response())
}

// ----- resources -----

#[utoipa::path(get, path = "/authz/resource", tag = "authz",
    summary = "List resources",
    security(("bearer" = [])),
    responses((status = 200, description = "Every resource", body = ArboristResources), Unauthorized, Forbidden))]
async fn resource_list(State(s): State<SharedState>, headers: HeaderMap) -> Res {
    let snap = read(&s, &headers, "resource").await?;
    let m = &snap.model;
    let list: Vec<_> = m
        .resources
        .values()
        .map(|r| out::resource_out(m, r))
        .collect();
    Ok(ok(json!({"resources": list})))
}

fn resource_response(s: &Snapshot, path: &str) -> Result<out::ResourceOut, AuthzError> {
    s.model
        .resources
        .get(path)
        .map(|r| out::resource_out(&s.model, r))
        .ok_or_else(|| AuthzError::not_found(format!("resource not found: `{path}`")))
}

async fn write_resource(
    s: &SharedState,
    headers: &HeaderMap,
    parent: &str,
    q: &weft_indexd::query::Params,
    body: &Result<Body, ApiError>,
    put: bool,
) -> Res {
    admin(
        s,
        headers,
        "resource",
        if put { "update" } else { "create" },
    )
    .await?;
    let input: ResourceIn = parse(body, "resource")?;
    let create_parents = q.get("p").is_some();
    let merge = q.get("merge").is_some();
    let path = s
        .authz
        .change(|t: &mut Txn| {
            if put {
                t.put_resource(parent, &input, create_parents, merge)
            } else {
                t.create_resource(parent, &input, create_parents)
            }
        })
        .await?;
    let snap = s.authz.snapshot();
    Ok(created(resource_response(&snap, &path)?))
}

#[utoipa::path(post, path = "/authz/resource", tag = "authz",
    summary = "Create a resource and its subresources",
    security(("bearer" = [])),
    params(("p" = Option<String>, Query, description = "Present (any value): create missing parents")),
    request_body = ResourceBody,
    responses((status = 201, description = "Created", body = ArboristResourceCreated), BadRequest, Unauthorized, Forbidden,
        (status = 409, description = "Exists already; `exists` is the resource", body = ErrorBody), TooLarge))]
async fn resource_post(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query,
    body: Result<Body, ApiError>,
) -> Res {
    write_resource(&s, &headers, "/", &q, &body, false).await
}

#[utoipa::path(put, path = "/authz/resource", tag = "authz",
    summary = "Create or update a resource",
    description = "Without `merge`, the children become exactly the listed `subresources` (none when absent).",
    security(("bearer" = [])),
    params(("p" = Option<String>, Query, description = "Present (any value): create missing parents"),
        ("merge" = Option<String>, Query, description = "Present (any value): keep children the body does not list")),
    request_body = ResourceBody,
    responses((status = 201, description = "Created or updated", body = ArboristResourceCreated), BadRequest, Unauthorized, Forbidden, TooLarge))]
async fn resource_put(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query,
    body: Result<Body, ApiError>,
) -> Res {
    write_resource(&s, &headers, "/", &q, &body, true).await
}

#[utoipa::path(post, path = "/authz/resource/{path}", tag = "authz",
    summary = "Create a resource under this parent",
    security(("bearer" = [])),
    params(("path" = String, Path, description = "The parent's path without its leading `/` (it contains `/`)"),
        ("p" = Option<String>, Query, description = "Present (any value): create missing parents")),
    request_body = ResourceBody,
    responses((status = 201, description = "Created", body = ArboristResourceCreated), BadRequest, Unauthorized, Forbidden,
        (status = 409, description = "Exists already; `exists` is the resource", body = ErrorBody), TooLarge))]
async fn resource_post_under(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(path): Path<String>,
    Query(q): Query,
    body: Result<Body, ApiError>,
) -> Res {
    write_resource(&s, &headers, &format!("/{path}"), &q, &body, false).await
}

#[utoipa::path(put, path = "/authz/resource/{path}", tag = "authz",
    summary = "Create or update a resource under this parent",
    description = "Without `merge`, the children become exactly the listed `subresources` (none when absent).",
    security(("bearer" = [])),
    params(("path" = String, Path, description = "The parent's path without its leading `/` (it contains `/`)"),
        ("p" = Option<String>, Query, description = "Present (any value): create missing parents"),
        ("merge" = Option<String>, Query, description = "Present (any value): keep children the body does not list")),
    request_body = ResourceBody,
    responses((status = 201, description = "Created or updated", body = ArboristResourceCreated), BadRequest, Unauthorized, Forbidden, TooLarge))]
async fn resource_put_under(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(path): Path<String>,
    Query(q): Query,
    body: Result<Body, ApiError>,
) -> Res {
    write_resource(&s, &headers, &format!("/{path}"), &q, &body, true).await
}

#[utoipa::path(get, path = "/authz/resource/{path}", tag = "authz",
    summary = "A resource by path",
    security(("bearer" = [])),
    params(("path" = String, Path, description = "The resource path without its leading `/` (it contains `/`)")),
    responses((status = 200, description = "The resource", body = ArboristResource), BadRequest, Unauthorized, Forbidden, NotFound))]
async fn resource_get(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Res {
    let snap = read(&s, &headers, "resource").await?;
    let path = weft_authz::model::normalize_path(&format!("/{path}"))?;
    Ok(ok(resource_response(&snap, &path)?))
}

#[utoipa::path(get, path = "/authz/resource/tag/{tag}", tag = "authz",
    summary = "A resource by tag",
    security(("bearer" = [])),
    params(("tag" = String, Path)),
    responses((status = 200, description = "The resource", body = ArboristResource), Unauthorized, Forbidden, NotFound))]
async fn resource_by_tag(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(tag): Path<String>,
) -> Res {
    let snap = read(&s, &headers, "resource").await?;
    let path = snap
        .model
        .tags
        .get(&tag)
        .cloned()
        .ok_or_else(|| AuthzError::not_found(format!("no resource with tag `{tag}`")))?;
    Ok(ok(resource_response(&snap, &path)?))
}

#[utoipa::path(delete, path = "/authz/resource/{path}", tag = "authz",
    summary = "Delete a resource and everything below it",
    security(("bearer" = [])),
    params(("path" = String, Path, description = "The resource path without its leading `/` (it contains `/`)")),
    responses((status = 204, description = "Deleted (and removed from every policy)"), BadRequest, Unauthorized, Forbidden, NotFound))]
async fn resource_delete(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Res {
    admin(&s, &headers, "resource", "delete").await?;
    let path = format!("/{path}");
    s.authz.change(|t| t.delete_resource(&path)).await?;
    Ok(no_content())
}

// ----- roles -----

#[utoipa::path(get, path = "/authz/role", tag = "authz",
    summary = "List roles",
    security(("bearer" = [])),
    responses((status = 200, description = "Every role", body = ArboristRoles), Unauthorized, Forbidden))]
async fn role_list(State(s): State<SharedState>, headers: HeaderMap) -> Res {
    let snap = read(&s, &headers, "role").await?;
    let list: Vec<_> = snap.model.roles.values().cloned().collect();
    Ok(ok(json!({"roles": list})))
}

#[utoipa::path(post, path = "/authz/role", tag = "authz",
    summary = "Create a role",
    security(("bearer" = [])),
    request_body = RoleBody,
    responses((status = 201, description = "Created", body = ArboristRoleCreated), BadRequest, Unauthorized, Forbidden, Conflict, TooLarge))]
async fn role_create(
    State(s): State<SharedState>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    admin(&s, &headers, "role", "create").await?;
    let input: RoleIn = parse(&body, "role")?;
    let role: weft_authz::model::Role = input.into();
    s.authz.change(|t| t.create_role(role.clone())).await?;
    Ok(created(role))
}

#[utoipa::path(get, path = "/authz/role/{id}", tag = "authz",
    summary = "A role",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The role", body = ArboristRole), Unauthorized, Forbidden, NotFound))]
async fn role_get(State(s): State<SharedState>, headers: HeaderMap, Path(id): Path<String>) -> Res {
    let snap = read(&s, &headers, "role").await?;
    snap.model
        .roles
        .get(&id)
        .map(ok)
        .ok_or_else(|| AuthzError::not_found(format!("role not found: {id}")).into())
}

#[utoipa::path(put, path = "/authz/role/{id}", tag = "authz",
    summary = "Create or overwrite a role",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Must equal the body's `id`")),
    request_body = RoleBody,
    responses((status = 201, description = "Created", body = ArboristRoleCreated),
        (status = 200, description = "Overwritten", body = ArboristRoleUpdated), BadRequest, Unauthorized, Forbidden, TooLarge))]
async fn role_put(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Body, ApiError>,
) -> Res {
    admin(&s, &headers, "role", "update").await?;
    let input: RoleIn = parse(&body, "role")?;
    if input.id != id {
        return Err(AuthzError::bad_request(format!(
            "role ID `{}` in the body does not match `{id}` in the URL",
            input.id
        ))
        .into());
    }
    let role: weft_authz::model::Role = input.into();
    let was_created = s.authz.change(|t| t.put_role(role.clone())).await?;
    Ok(if was_created {
        created(role)
    } else {
        ok(json!({"updated": role}))
    })
}

#[utoipa::path(delete, path = "/authz/role/{id}", tag = "authz",
    summary = "Delete a role (and remove it from every policy)",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), Unauthorized, Forbidden, NotFound))]
async fn role_delete(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Res {
    admin(&s, &headers, "role", "delete").await?;
    s.authz.change(|t| t.delete_role(&id)).await?;
    Ok(no_content())
}

// ----- users -----

#[utoipa::path(get, path = "/authz/user", tag = "authz",
    summary = "List users",
    security(("bearer" = [])),
    responses((status = 200, description = "Every user", body = ArboristUsers), Unauthorized, Forbidden))]
async fn user_list(State(s): State<SharedState>, headers: HeaderMap) -> Res {
    let snap = read(&s, &headers, "user").await?;
    let list: Vec<_> = snap
        .model
        .users
        .keys()
        .filter_map(|k| out::user_out(&snap.model, k))
        .collect();
    Ok(ok(json!({"users": list})))
}

#[utoipa::path(post, path = "/authz/user", tag = "authz",
    summary = "Create a user",
    security(("bearer" = [])),
    request_body = UserBody,
    responses((status = 201, description = "Created", body = ArboristUserCreated), BadRequest, Unauthorized, Forbidden, Conflict, TooLarge))]
async fn user_create(
    State(s): State<SharedState>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    admin(&s, &headers, "user", "create").await?;
    let input: out::UserIn = parse(&body, "user")?;
    let _ = (&input.groups, &input.policies);
    s.authz
        .change(|t| t.create_user(&input.name, input.email.clone()))
        .await?;
    let snap = s.authz.snapshot();
    Ok(created(out::user_out(&snap.model, &user_key(&input.name))))
}

#[utoipa::path(get, path = "/authz/user/{name}", tag = "authz",
    summary = "A user with groups and policies",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "A user name (any case)")),
    responses((status = 200, description = "The user", body = ArboristUser), Unauthorized, Forbidden, NotFound))]
async fn user_get(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    let snap = read(&s, &headers, "user").await?;
    out::user_out(&snap.model, &user_key(&name))
        .map(ok)
        .ok_or_else(|| AuthzError::not_found(format!("user not found: {name}")).into())
}

#[utoipa::path(patch, path = "/authz/user/{name}", tag = "authz",
    summary = "Rename a user or change the email",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "A user name (any case)")),
    request_body = UserPatchBody,
    responses((status = 204, description = "Changed"), BadRequest, Unauthorized, Forbidden, NotFound,
        (status = 409, description = "The new name is taken", body = ErrorBody), TooLarge))]
async fn user_patch(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Body, ApiError>,
) -> Res {
    admin(&s, &headers, "user", "update").await?;
    let input: out::UserPatch = parse(&body, "user")?;
    s.authz
        .change(|t| t.update_user(&name, input.name.clone(), input.email.clone()))
        .await?;
    Ok(no_content())
}

#[utoipa::path(delete, path = "/authz/user/{name}", tag = "authz",
    summary = "Delete a user",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "A user name (any case)")),
    responses((status = 204, description = "Deleted"), Unauthorized, Forbidden, NotFound))]
async fn user_delete(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    admin(&s, &headers, "user", "delete").await?;
    s.authz.change(|t| t.delete_user(&name)).await?;
    Ok(no_content())
}

#[utoipa::path(post, path = "/authz/user/{name}/policy", tag = "authz",
    summary = "Grant a policy to a user (expires_at optional)",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "A user name (any case)"), ("X-AuthZ-Provider" = Option<String>, Header, description = "The provider (e.g. a sync job) the change belongs to")),
    request_body = GrantBody,
    responses((status = 204, description = "Granted"), BadRequest, Unauthorized, Forbidden,
        (status = 404, description = "No such user or policy", body = ErrorBody), TooLarge))]
async fn user_grant(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Body, ApiError>,
) -> Res {
    admin(&s, &headers, "user", "update").await?;
    let input: GrantIn = parse(&body, "policy grant")?;
    let exp = out::parse_expiry(input.expires_at.as_deref())?;
    let prov = provider(&headers);
    s.authz
        .change(|t| t.grant_user_policy(&name, &input.policy, exp, prov.clone()))
        .await?;
    Ok(no_content())
}

#[utoipa::path(post, path = "/authz/user/{name}/bulk/policy", tag = "authz",
    summary = "Grant several policies to a user",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "A user name (any case)"), ("X-AuthZ-Provider" = Option<String>, Header, description = "The provider (e.g. a sync job) the change belongs to")),
    request_body = Vec<GrantBody>,
    responses((status = 204, description = "Granted"), BadRequest, Unauthorized, Forbidden,
        (status = 404, description = "No such user or policy", body = ErrorBody), TooLarge))]
async fn user_grant_bulk(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Body, ApiError>,
) -> Res {
    admin(&s, &headers, "user", "update").await?;
    let input: Vec<GrantIn> = parse_list(&body, "policy grants")?;
    let grants = input
        .iter()
        .map(|g| {
            Ok((
                g.policy.clone(),
                out::parse_expiry(g.expires_at.as_deref())?,
            ))
        })
        .collect::<Result<Vec<_>, AuthzError>>()?;
    let prov = provider(&headers);
    s.authz
        .change(|t| {
            for (p, exp) in &grants {
                t.grant_user_policy(&name, p, *exp, prov.clone())?;
            }
            Ok(())
        })
        .await?;
    Ok(no_content())
}

#[utoipa::path(delete, path = "/authz/user/{name}/policy", tag = "authz",
    summary = "Revoke every policy of a user (of the X-AuthZ-Provider, if given)",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "A user name (any case)"), ("X-AuthZ-Provider" = Option<String>, Header, description = "The provider (e.g. a sync job) the change belongs to")),
    responses((status = 204, description = "Revoked"), Unauthorized, Forbidden, NotFound))]
async fn user_revoke_all(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    admin(&s, &headers, "user", "update").await?;
    let prov = provider(&headers);
    s.authz
        .change(|t| t.revoke_all_user_policies(&name, prov.as_deref()))
        .await?;
    Ok(no_content())
}

#[utoipa::path(delete, path = "/authz/user/{name}/policy/{policy}", tag = "authz",
    summary = "Revoke a policy of a user",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "A user name (any case)"), ("policy" = String, Path), ("X-AuthZ-Provider" = Option<String>, Header, description = "The provider (e.g. a sync job) the change belongs to")),
    responses((status = 204, description = "Revoked"),
        (status = 400, description = "The policy is not granted to the user directly", body = ErrorBody),
        (status = 401, description = "No usable token, or the grant is not the X-AuthZ-Provider's", body = ErrorBody),
        Forbidden, NotFound))]
async fn user_revoke(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path((name, policy)): Path<(String, String)>,
) -> Res {
    admin(&s, &headers, "user", "update").await?;
    let prov = provider(&headers);
    s.authz
        .change(|t| t.revoke_user_policy(&name, &policy, prov.as_deref()))
        .await?;
    Ok(no_content())
}

#[utoipa::path(get, path = "/authz/user/{name}/resources", tag = "authz",
    summary = "Resources a user may act on",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "A user name (any case)"),
        ("service" = Option<String>, Query, description = "Only resources where this service is allowed something"),
        ("method" = Option<String>, Query, description = "Only resources where this method is allowed"),
        ("tags" = Option<String>, Query, description = "Present (any value): tags instead of paths")),
    responses((status = 200, description = "Paths (or tags)", body = ArboristResourcePaths), Unauthorized, Forbidden, NotFound))]
async fn user_resources(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query,
) -> Res {
    let snap = read(&s, &headers, "user").await?;
    if !snap.model.users.contains_key(&user_key(&name)) {
        return Err(AuthzError::not_found(format!("user not found: {name}")).into());
    }
    let who = Principal::User(name);
    let (service, method) = (q.get("service"), q.get("method"));
    let tags = q.get("tags").is_some();
    let mapping = snap.mapping(&who, Utc::now());
    let list: Vec<String> = mapping
        .iter()
        .filter(|(_, actions)| match (service, method) {
            (Some(sv), Some(m)) => actions.iter().any(|a| a.covers(sv, m)),
            (Some(sv), None) => actions.iter().any(|a| a.service == "*" || a.service == sv),
            (None, Some(m)) => actions.iter().any(|a| a.method == "*" || a.method == m),
            (None, None) => true,
        })
        .filter_map(|(p, _)| {
            if tags {
                snap.model.resources.get(p).map(|r| r.tag.clone())
            } else {
                Some(p.clone())
            }
        })
        .collect();
    Ok(ok(json!({"resources": list})))
}

// ----- clients -----

#[utoipa::path(get, path = "/authz/client", tag = "authz",
    summary = "List OAuth clients",
    security(("bearer" = [])),
    responses((status = 200, description = "Every client", body = ArboristClients), Unauthorized, Forbidden))]
async fn client_list(State(s): State<SharedState>, headers: HeaderMap) -> Res {
    let snap = read(&s, &headers, "client").await?;
    let list: Vec<_> = snap
        .model
        .clients
        .keys()
        .filter_map(|k| out::client_out(&snap.model, k))
        .collect();
    Ok(ok(json!({"clients": list})))
}

#[utoipa::path(post, path = "/authz/client", tag = "authz",
    summary = "Create a client",
    security(("bearer" = [])),
    request_body = ClientBody,
    responses((status = 201, description = "Created", body = ArboristClientCreated), BadRequest, Unauthorized, Forbidden,
        (status = 404, description = "No such policy", body = ErrorBody), Conflict, TooLarge))]
async fn client_create(
    State(s): State<SharedState>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    admin(&s, &headers, "client", "create").await?;
    let input: out::ClientIn = parse(&body, "client")?;
    s.authz
        .change(|t| t.create_client(&input.client_id, &input.policies))
        .await?;
    let snap = s.authz.snapshot();
    Ok(created(out::client_out(&snap.model, &input.client_id)))
}

#[utoipa::path(get, path = "/authz/client/{id}", tag = "authz",
    summary = "A client",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The client ID")),
    responses((status = 200, description = "The client", body = ArboristClient), Unauthorized, Forbidden, NotFound))]
async fn client_get(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Res {
    let snap = read(&s, &headers, "client").await?;
    out::client_out(&snap.model, &id)
        .map(ok)
        .ok_or_else(|| AuthzError::not_found(format!("client not found: {id}")).into())
}

#[utoipa::path(delete, path = "/authz/client/{id}", tag = "authz",
    summary = "Delete a client",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The client ID")),
    responses((status = 204, description = "Deleted"), Unauthorized, Forbidden, NotFound))]
async fn client_delete(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Res {
    admin(&s, &headers, "client", "delete").await?;
    s.authz.change(|t| t.delete_client(&id)).await?;
    Ok(no_content())
}

#[utoipa::path(post, path = "/authz/client/{id}/policy", tag = "authz",
    summary = "Grant a policy to a client",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The client ID")),
    request_body = PolicyRefBody,
    responses((status = 204, description = "Granted"), BadRequest, Unauthorized, Forbidden,
        (status = 404, description = "No such client or policy", body = ErrorBody), TooLarge))]
async fn client_grant(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Body, ApiError>,
) -> Res {
    admin(&s, &headers, "client", "update").await?;
    let input: out::PolicyRef = parse(&body, "policy grant")?;
    s.authz
        .change(|t| t.grant_client_policy(&id, &input.policy))
        .await?;
    Ok(no_content())
}

#[utoipa::path(delete, path = "/authz/client/{id}/policy", tag = "authz",
    summary = "Revoke every policy of a client",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The client ID")),
    responses((status = 204, description = "Revoked"), Unauthorized, Forbidden, NotFound))]
async fn client_revoke_all(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Res {
    admin(&s, &headers, "client", "update").await?;
    s.authz
        .change(|t| t.revoke_client_policy(&id, None))
        .await?;
    Ok(no_content())
}

#[utoipa::path(delete, path = "/authz/client/{id}/policy/{policy}", tag = "authz",
    summary = "Revoke a policy of a client",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The client ID"), ("policy" = String, Path)),
    responses((status = 204, description = "Revoked (also when it was not granted)"), Unauthorized, Forbidden, NotFound))]
async fn client_revoke(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path((id, policy)): Path<(String, String)>,
) -> Res {
    admin(&s, &headers, "client", "update").await?;
    s.authz
        .change(|t| t.revoke_client_policy(&id, Some(&policy)))
        .await?;
    Ok(no_content())
}

// ----- groups -----

#[utoipa::path(get, path = "/authz/group", tag = "authz",
    summary = "List groups",
    security(("bearer" = [])),
    responses((status = 200, description = "Every group", body = ArboristGroups), Unauthorized, Forbidden))]
async fn group_list(State(s): State<SharedState>, headers: HeaderMap) -> Res {
    let snap = read(&s, &headers, "group").await?;
    let list: Vec<_> = snap
        .model
        .groups
        .keys()
        .filter_map(|k| out::group_out(&snap.model, k))
        .collect();
    Ok(ok(json!({"groups": list})))
}

#[utoipa::path(post, path = "/authz/group", tag = "authz",
    summary = "Create a group",
    security(("bearer" = [])),
    request_body = GroupBody,
    responses((status = 201, description = "Created", body = ArboristGroupCreated), BadRequest, Unauthorized, Forbidden, Conflict, TooLarge))]
async fn group_create(
    State(s): State<SharedState>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    admin(&s, &headers, "group", "create").await?;
    let input: out::GroupIn = parse(&body, "group")?;
    s.authz
        .change(|t| t.create_group(&input.name, &input.users, &input.policies))
        .await?;
    let snap = s.authz.snapshot();
    Ok(created(out::group_out(&snap.model, &input.name)))
}

#[utoipa::path(put, path = "/authz/group", tag = "authz",
    summary = "Create or overwrite a group",
    description = "With X-AuthZ-Provider, only that provider's memberships are replaced.",
    security(("bearer" = [])),
    params(("X-AuthZ-Provider" = Option<String>, Header, description = "The provider (e.g. a sync job) the change belongs to")),
    request_body = GroupBody,
    responses((status = 201, description = "Created or overwritten", body = ArboristGroupCreated), BadRequest, Unauthorized, Forbidden, TooLarge))]
async fn group_put(
    State(s): State<SharedState>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    admin(&s, &headers, "group", "update").await?;
    let input: out::GroupIn = parse(&body, "group")?;
    let prov = provider(&headers);
    s.authz
        .change(|t| t.put_group(&input.name, &input.users, &input.policies, prov.as_deref()))
        .await?;
    let snap = s.authz.snapshot();
    Ok(created(out::group_out(&snap.model, &input.name)))
}

#[utoipa::path(get, path = "/authz/group/{name}", tag = "authz",
    summary = "A group",
    security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 200, description = "The group", body = ArboristGroup), Unauthorized, Forbidden, NotFound))]
async fn group_get(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    let snap = read(&s, &headers, "group").await?;
    out::group_out(&snap.model, &name)
        .map(ok)
        .ok_or_else(|| AuthzError::not_found(format!("group not found: {name}")).into())
}

#[utoipa::path(delete, path = "/authz/group/{name}", tag = "authz",
    summary = "Delete a group",
    security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 204, description = "Deleted"),
        (status = 400, description = "A built-in group (anonymous, logged-in)", body = ErrorBody), Unauthorized, Forbidden, NotFound))]
async fn group_delete(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    admin(&s, &headers, "group", "delete").await?;
    s.authz.change(|t| t.delete_group(&name)).await?;
    Ok(no_content())
}

#[utoipa::path(post, path = "/authz/group/{name}/user", tag = "authz",
    summary = "Add a user to a group (expires_at optional)",
    security(("bearer" = [])),
    params(("name" = String, Path), ("X-AuthZ-Provider" = Option<String>, Header, description = "The provider (e.g. a sync job) the change belongs to")),
    request_body = GroupUserBody,
    responses((status = 204, description = "Added"), BadRequest, Unauthorized, Forbidden,
        (status = 404, description = "No such group or user", body = ErrorBody), TooLarge))]
async fn group_add_user(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Body, ApiError>,
) -> Res {
    admin(&s, &headers, "group", "update").await?;
    let input: out::GroupUserIn = parse(&body, "group user")?;
    let exp = out::parse_expiry(input.expires_at.as_deref())?;
    let prov = provider(&headers);
    s.authz
        .change(|t| t.add_user_to_group(&name, &input.username, exp, prov.clone()))
        .await?;
    Ok(no_content())
}

#[utoipa::path(delete, path = "/authz/group/{name}/user/{user}", tag = "authz",
    summary = "Remove a user from a group",
    security(("bearer" = [])),
    params(("name" = String, Path), ("user" = String, Path, description = "A user name (any case)")),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "No such group, or the user is not a member", body = ErrorBody), Unauthorized, Forbidden))]
async fn group_remove_user(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path((name, user)): Path<(String, String)>,
) -> Res {
    admin(&s, &headers, "group", "update").await?;
    s.authz
        .change(|t| t.remove_user_from_group(&name, &user))
        .await?;
    Ok(no_content())
}

#[utoipa::path(post, path = "/authz/group/{name}/policy", tag = "authz",
    summary = "Grant a policy to a group",
    security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = PolicyRefBody,
    responses((status = 204, description = "Granted"),
        (status = 400, description = "Malformed body, or no such policy", body = ErrorBody), Unauthorized, Forbidden, NotFound, TooLarge))]
async fn group_grant(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Body, ApiError>,
) -> Res {
    admin(&s, &headers, "group", "update").await?;
    let input: out::PolicyRef = parse(&body, "policy grant")?;
    s.authz
        .change(|t| t.grant_group_policy(&name, &input.policy))
        .await?;
    Ok(no_content())
}

#[utoipa::path(delete, path = "/authz/group/{name}/policy/{policy}", tag = "authz",
    summary = "Revoke a policy of a group",
    security(("bearer" = [])),
    params(("name" = String, Path), ("policy" = String, Path)),
    responses((status = 204, description = "Revoked (also when it was not granted)"), Unauthorized, Forbidden, NotFound))]
async fn group_revoke(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path((name, policy)): Path<(String, String)>,
) -> Res {
    admin(&s, &headers, "group", "update").await?;
    s.authz
        .change(|t| t.revoke_group_policy(&name, &policy))
        .await?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    //! The document's mirrors against what weft-authz really writes and reads.

    use std::collections::BTreeSet;

    use serde_json::{Value, json};
    use utoipa::PartialSchema;
    use weft_authz::api::{self as out, ClientIn, GrantIn, GroupIn, GroupUserIn, PolicyIn};
    use weft_authz::model::{Model, ResourceIn, Txn};

    use super::*;

    /// A schema's property names and required property names.
    fn shape<T: PartialSchema>() -> (BTreeSet<String>, BTreeSet<String>) {
        let v = serde_json::to_value(T::schema()).unwrap();
        let props = v["properties"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let required = v["required"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        (props, required)
    }

    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object().expect("an object").keys().cloned().collect()
    }

    /// A serialized answer has only documented fields, and every required one.
    fn answers<T: PartialSchema>(value: impl serde::Serialize) {
        let v = serde_json::to_value(value).unwrap();
        let (props, required) = shape::<T>();
        let k = keys(&v);
        assert!(k.is_subset(&props), "{k:?} not all in {props:?}");
        assert!(required.is_subset(&k), "{required:?} not all in {v}");
    }

    /// A body with every documented field, and one with only the required ones, both read
    /// by the real input type (which refuses unknown fields).
    fn reads<T: PartialSchema, In: serde::de::DeserializeOwned>(full: &Value, minimal: &Value) {
        let (props, required) = shape::<T>();
        assert_eq!(keys(full), props);
        assert_eq!(keys(minimal), required);
        for body in [full, minimal] {
            serde_json::from_value::<In>(body.clone()).unwrap_or_else(|e| panic!("{body}: {e}"));
        }
    }

    fn model() -> Model {
        let mut t = Txn::new(Model::default());
        let input: ResourceIn =
            serde_json::from_value(json!({"name": "p", "subresources": [{"name": "q"}]})).unwrap();
        t.create_resource("/", &input, false).unwrap();
        let role: RoleIn = serde_json::from_value(json!({"id": "r", "permissions": [
            {"id": "x", "action": {"service": "*", "method": "read"}, "constraints": {"k": "v"}}]}))
        .unwrap();
        t.create_role(role.into()).unwrap();
        let policy: PolicyIn = serde_json::from_value(
            json!({"id": "pol", "role_ids": ["r"], "resource_paths": ["/p"]}),
        )
        .unwrap();
        t.create_policy(policy.into_policy(None)).unwrap();
        t.create_user("Ann", Some("ann@example.org".to_owned()))
            .unwrap();
        t.create_user("bob", None).unwrap();
        t.grant_user_policy("ann", "pol", Some(Utc::now()), None)
            .unwrap();
        t.grant_user_policy("bob", "pol", None, None).unwrap();
        t.create_group("g", &["ann".to_owned()], &["pol".to_owned()])
            .unwrap();
        t.create_client("c", &["pol".to_owned()]).unwrap();
        t.model
    }

    #[test]
    fn answers_match_their_schemas() {
        let m = model();
        let role = m.roles.get("r").unwrap();
        answers::<ArboristRole>(role);
        answers::<ArboristPermission>(&role.permissions[0]);
        answers::<ArboristAction>(&role.permissions[0].action);
        let policy = m.policies.get("pol").unwrap();
        answers::<ArboristPolicy>(policy);
        answers::<ArboristExpandedPolicy>(out::expand_policy(&m, policy));
        answers::<ArboristResource>(out::resource_out(&m, m.resources.get("/p").unwrap()));
        for name in ["ann", "bob"] {
            let u = out::user_out(&m, name).unwrap();
            answers::<ArboristUser>(&u);
            answers::<ArboristPolicyBinding>(&u.policies[0]);
        }
        answers::<ArboristGroup>(out::group_out(&m, "g").unwrap());
        answers::<ArboristClient>(out::client_out(&m, "c").unwrap());
        let snap = Snapshot::new(m, 1);
        let mapping = snap.mapping(&Principal::User("ann".to_owned()), Utc::now());
        let mapping = serde_json::to_value(&*mapping).unwrap();
        assert_eq!(
            keys(&mapping["/p"][0]),
            shape::<ArboristAction>().0,
            "{mapping}"
        );
    }

    #[tokio::test]
    async fn errors_match_their_schema() {
        let conflict = AuthzError::conflict("exists").with_exists(json!({"path": "/p"}));
        for e in [AuthzError::not_found("no"), conflict] {
            let resp = ArboristError(e).into_response();
            let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
                .await
                .unwrap();
            let v: Value = serde_json::from_slice(&body).unwrap();
            answers::<ErrorBody>(&v);
            answers::<ArboristErrorInner>(&v["error"]);
        }
    }

    #[test]
    fn request_bodies_match_the_inputs() {
        reads::<ActionBody, out::ActionIn>(
            &json!({"service": "s", "method": "m"}),
            &json!({"service": "s", "method": "m"}),
        );
        reads::<PermissionBody, out::PermissionIn>(
            &json!({"id": "x", "description": "d", "action": {"service": "s", "method": "m"},
                    "constraints": {"k": "v"}}),
            &json!({"id": "x", "action": {"service": "s", "method": "m"}}),
        );
        reads::<RoleBody, RoleIn>(
            &json!({"id": "r", "description": "d", "permissions": []}),
            &json!({"id": "r", "permissions": []}),
        );
        reads::<PolicyBody, PolicyIn>(
            &json!({"id": "p", "description": "d", "role_ids": [], "resource_paths": []}),
            &json!({"role_ids": [], "resource_paths": []}),
        );
        reads::<ResourceBody, ResourceIn>(
            &json!({"name": "n", "path": "/n", "description": "d", "subresources": [{"name": "m"}],
                    "tag": "t"}),
            &json!({}),
        );
        reads::<UserBody, out::UserIn>(
            &json!({"name": "n", "email": "e", "groups": [], "policies": []}),
            &json!({"name": "n"}),
        );
        reads::<UserPatchBody, out::UserPatch>(&json!({"name": "n", "email": "e"}), &json!({}));
        reads::<GrantBody, GrantIn>(
            &json!({"policy": "p", "expires_at": "2030-01-01T00:00:00Z"}),
            &json!({"policy": "p"}),
        );
        reads::<GroupBody, GroupIn>(
            &json!({"name": "g", "users": [], "policies": []}),
            &json!({"name": "g", "users": [], "policies": []}),
        );
        reads::<GroupUserBody, GroupUserIn>(
            &json!({"username": "u", "expires_at": "2030-01-01T00:00:00Z"}),
            &json!({"username": "u"}),
        );
        reads::<PolicyRefBody, out::PolicyRef>(&json!({"policy": "p"}), &json!({"policy": "p"}));
        reads::<ClientBody, ClientIn>(
            &json!({"clientID": "c", "policies": []}),
            &json!({"clientID": "c"}),
        );
        reads::<MappingIn, MappingIn>(&json!({"username": "u", "clientID": "c"}), &json!({}));
        reads::<AuthRequestIn, AuthRequestIn>(
            &json!({"user": {"token": "t", "user_id": "u", "policies": [], "scope": []},
                    "request": {"resource": "/r", "action": {"service": "s", "method": "m"},
                                "constraints": {}},
                    "requests": []}),
            &json!({}),
        );
        reads::<UserTokenIn, UserTokenIn>(
            &json!({"token": "t", "user_id": "u", "policies": [], "scope": []}),
            &json!({}),
        );
        reads::<RequestIn, RequestIn>(
            &json!({"resource": "/r", "action": {"service": "s", "method": "m"}, "constraints": {}}),
            &json!({"resource": "/r", "action": {"service": "s", "method": "m"}}),
        );
        reads::<ResourcesIn, ResourcesIn>(&json!({"user": {"token": "t"}}), &json!({}));
    }
}
