//! arborist's API under `/authz/`, plus the public aliases a Gen3 commons exposes
//! (`/authz?resource=&service=&method=`, `/authz/mapping`, `/authz/resources`).
//!
//! Trailing slashes are ignored, as arborist ignores them. Errors are arborist's
//! `{"error": {"message", "code"}}`. Everything but the decision endpoints and `/health`
//! is administration, allowed by the policy engine itself (service `arborist` on
//! `/services/arborist/{area}`) or to a bootstrap admin from configuration.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use weft_authz::api::{self as out, GrantIn, PolicyIn, RoleIn};
use weft_authz::model::{ResourceIn, Txn, user_key};
use weft_authz::{AuthzError, Principal, Snapshot};
use weft_core::ErrorCode;

use crate::SharedState;
use crate::error::ApiError;
use crate::extract::{Body, Query, bearer};

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
        let mut body = json!({"error": {"message": e.message, "code": status.as_u16()}});
        if let Some(exists) = e.exists {
            body["exists"] = *exists;
        }
        (status, Json(body)).into_response()
    }
}

type Res = Result<Response, ArboristError>;

pub fn router() -> Router<SharedState> {
    Router::new()
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

async fn health(State(s): State<SharedState>) -> Res {
    s.authz.fresh().await?;
    Ok(ok("Healthy"))
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingIn {
    #[serde(default)]
    username: Option<String>,
    #[serde(default, rename = "clientID")]
    client_id: Option<String>,
}

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

async fn resources_get(State(s): State<SharedState>, headers: HeaderMap, Query(q): Query) -> Res {
    let who = caller(&s, &headers).await?;
    let snap = s.authz.fresh().await?;
    Ok(ok(resources_list(&snap, &who, q.get("tags").is_some())))
}

#[derive(Deserialize)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourcesIn {
    #[serde(default)]
    user: Option<UserTokenIn>,
}

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

async fn proxy(State(s): State<SharedState>, headers: HeaderMap, Query(q): Query) -> Res {
    proxy_decision(&s, &headers, &q).await
}

/// `GET /authz?resource=&service=&method=`: the public form of `auth/proxy`.
async fn public_proxy(State(s): State<SharedState>, headers: HeaderMap, Query(q): Query) -> Res {
    proxy_decision(&s, &headers, &q).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionIn {
    service: String,
    method: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestIn {
    resource: String,
    action: ActionIn,
    #[serde(default)]
    constraints: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthRequestIn {
    #[serde(default)]
    user: Option<UserTokenIn>,
    #[serde(default)]
    request: Option<RequestIn>,
    #[serde(default)]
    requests: Option<Vec<RequestIn>>,
}

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

// ----- policies -----

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

async fn policy_put_body(
    State(s): State<SharedState>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    put_policy(&s, &headers, None, &body).await
}

async fn policy_put(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Body, ApiError>,
) -> Res {
    put_policy(&s, &headers, Some(&id), &body).await
}

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

async fn policy_delete(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Res {
    admin(&s, &headers, "policy", "delete").await?;
    s.authz.change(|t| t.delete_policy(&id)).await?;
    Ok(no_content())
}

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

async fn resource_post(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query,
    body: Result<Body, ApiError>,
) -> Res {
    write_resource(&s, &headers, "/", &q, &body, false).await
}

async fn resource_put(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query,
    body: Result<Body, ApiError>,
) -> Res {
    write_resource(&s, &headers, "/", &q, &body, true).await
}

async fn resource_post_under(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(path): Path<String>,
    Query(q): Query,
    body: Result<Body, ApiError>,
) -> Res {
    write_resource(&s, &headers, &format!("/{path}"), &q, &body, false).await
}

async fn resource_put_under(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(path): Path<String>,
    Query(q): Query,
    body: Result<Body, ApiError>,
) -> Res {
    write_resource(&s, &headers, &format!("/{path}"), &q, &body, true).await
}

async fn resource_get(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Res {
    let snap = read(&s, &headers, "resource").await?;
    let path = weft_authz::model::normalize_path(&format!("/{path}"))?;
    Ok(ok(resource_response(&snap, &path)?))
}

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

async fn role_list(State(s): State<SharedState>, headers: HeaderMap) -> Res {
    let snap = read(&s, &headers, "role").await?;
    let list: Vec<_> = snap.model.roles.values().cloned().collect();
    Ok(ok(json!({"roles": list})))
}

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

async fn role_get(State(s): State<SharedState>, headers: HeaderMap, Path(id): Path<String>) -> Res {
    let snap = read(&s, &headers, "role").await?;
    snap.model
        .roles
        .get(&id)
        .map(ok)
        .ok_or_else(|| AuthzError::not_found(format!("role not found: {id}")).into())
}

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

async fn user_delete(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    admin(&s, &headers, "user", "delete").await?;
    s.authz.change(|t| t.delete_user(&name)).await?;
    Ok(no_content())
}

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

async fn client_delete(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Res {
    admin(&s, &headers, "client", "delete").await?;
    s.authz.change(|t| t.delete_client(&id)).await?;
    Ok(no_content())
}

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

async fn group_delete(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    admin(&s, &headers, "group", "delete").await?;
    s.authz.change(|t| t.delete_group(&name)).await?;
    Ok(no_content())
}

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
