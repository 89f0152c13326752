//! Graph submission (sheepdog's API) under `/api/v0/submission`: programs, projects,
//! entities as JSON or TSV/CSV, exports, templates, the data dictionary. A trailing slash is
//! accepted on every path (sheepdog's `strict_slashes = False`; the SDK's `export_node`
//! sends one); errors are `{"message": ...}`. Without a configured dictionary every route
//! answers 404 saying so.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Serialize;
use serde_json::{Value, json};
use weft_core::WeftError;
use weft_graph::upload::{Mode, Role};
use weft_graph::{Format, Run, SubmissionService, TransactionReport};

use crate::error::ApiError;
use crate::extract::{Body, Creds, Query};
use crate::routes::Routes;

/// Where the router is mounted.
pub const PREFIX: &str = "/api/v0/submission";

/// What the submission handlers reach.
pub struct SubmissionState {
    /// `None` when no dictionary is configured: no submission API.
    pub service: Option<Arc<SubmissionService>>,
}

type Shared = Arc<SubmissionState>;
type Res = Result<Response, ApiError>;

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        programs, program_put, validate_manifest, dictionary_links, dictionary_entry, templates, template,
        projects, project_put, program_delete, submit_post, submit_put, project_delete,
        dry_run_post, dry_run_put, transition, transition_dry_run, transaction_close, transaction_commit, bulk_post, bulk_put, bulk_dry_run_post, bulk_dry_run_put, entities_get, entities_delete, entities_delete_dry_run,
        export_get, export_post, manifest, upload_manifest, project_dictionary_links, project_dictionary_entry,
        project_templates, project_template,
    ),
    components(schemas(SubmissionError, Transaction, BulkTransaction, EntityDoc, EntityErrorDoc, Links)),
    modifiers(&TrailingSlash)
)]
pub(crate) struct Api;

struct TrailingSlash;

/// Also makes operation ids unique where one handler serves several methods
/// (`program_put` for `POST`, `PUT` and `PATCH` becomes `program_put_post`, …).
impl utoipa::Modify for TrailingSlash {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("patch", &mut item.patch),
            ];
            let several = ops.iter().filter(|(_, o)| o.is_some()).count() > 1;
            for (method, op) in ops {
                let Some(op) = op else { continue };
                if several && let Some(id) = &op.operation_id {
                    let handler_ops = [
                        "program_put",
                        "project_put",
                        "transition",
                        "transition_dry_run",
                        "transaction_close",
                        "transaction_commit",
                    ];
                    if handler_ops.contains(&id.as_str()) {
                        op.operation_id = Some(format!("{id}_{method}"));
                    }
                }
                let d = op.description.take().unwrap_or_default();
                op.description = Some(format!(
                    "{d}\n\nThe same path with a trailing slash is accepted (sheepdog ignores it)."
                ));
            }
        }
    }
}

/// Sheepdog's error body.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SubmissionError {
    message: String,
}

/// `{"links": [...]}`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Links {
    links: Vec<String>,
}

/// One problem of an entity.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EntityErrorDoc {
    message: String,
    keys: Vec<String>,
    /// `INVALID_LINK`, `INVALID_VALUE`, `MISSING_PROPERTY`, `NOT_UNIQUE`, …
    #[serde(rename = "type")]
    kind: String,
}

/// One entity of a transaction.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EntityDoc {
    valid: bool,
    action: Option<String>,
    #[serde(rename = "type")]
    node_type: Option<String>,
    id: Option<String>,
    unique_keys: Vec<serde_json::Map<String, Value>>,
    errors: Vec<EntityErrorDoc>,
    warnings: Vec<EntityErrorDoc>,
    related_cases: Vec<Value>,
}

/// A transaction's answer (its `code` is the HTTP status).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Transaction {
    transaction_id: Option<i64>,
    success: bool,
    entity_error_count: usize,
    transactional_error_count: usize,
    created_entity_count: usize,
    updated_entity_count: usize,
    deleted_entity_count: Option<usize>,
    dependent_ids: Option<String>,
    code: u16,
    message: String,
    transactional_errors: Vec<Value>,
    entities: Vec<EntityDoc>,
}

/// The error answers of a submission request.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Errors {
    #[response(status = 400, description = "Malformed request or body")]
    BadRequest(SubmissionError),
    #[response(status = 401, description = "No or unusable credentials")]
    Unauthorized(SubmissionError),
    #[response(status = 403, description = "Not permitted")]
    Forbidden(SubmissionError),
    #[response(
        status = 404,
        description = "No such program, project, entity or node type; or no dictionary configured"
    )]
    NotFound(SubmissionError),
    #[response(status = 413, description = "Body over max_body_bytes")]
    TooLarge(SubmissionError),
}

pub(crate) fn routes() -> Routes<Shared> {
    Routes::new()
        .route(
            "/",
            get(programs)
                .post(program_put)
                .put(program_put)
                .patch(program_put),
        )
        .route("/_dictionary", get(dictionary_links))
        .route("/_dictionary/{entry}", get(dictionary_entry))
        .route("/template", get(templates))
        .route("/validation/upload_manifest", post(validate_manifest))
        .route("/template/{node}", get(template))
        .route(
            "/{program}",
            get(projects)
                .post(project_put)
                .put(project_put)
                .patch(project_put)
                .delete(program_delete),
        )
        .route(
            "/{program}/{project}",
            post(submit_post).put(submit_put).delete(project_delete),
        )
        .route(
            "/{program}/{project}/_dry_run",
            post(dry_run_post).put(dry_run_put),
        )
        .route("/{program}/{project}/bulk", post(bulk_post).put(bulk_put))
        .route(
            "/{program}/{project}/bulk/_dry_run",
            post(bulk_dry_run_post).put(bulk_dry_run_put),
        )
        .route(
            "/{program}/{project}/{action}",
            post(transition).put(transition),
        )
        .route(
            "/{program}/{project}/{action}/_dry_run",
            post(transition_dry_run).put(transition_dry_run),
        )
        .route(
            "/{program}/{project}/transactions/{id}/close",
            post(transaction_close).put(transaction_close),
        )
        .route(
            "/{program}/{project}/transactions/{id}/commit",
            post(transaction_commit).put(transaction_commit),
        )
        .route(
            "/{program}/{project}/entities/{ids}",
            get(entities_get).delete(entities_delete),
        )
        .route(
            "/{program}/{project}/entities/_dry_run/{ids}",
            delete(entities_delete_dry_run),
        )
        .route(
            "/{program}/{project}/export",
            get(export_get).post(export_post),
        )
        .route("/{program}/{project}/manifest", get(manifest))
        .route("/{program}/{project}/upload_manifest", get(upload_manifest))
        .route(
            "/{program}/{project}/_dictionary",
            get(project_dictionary_links),
        )
        .route(
            "/{program}/{project}/_dictionary/{entry}",
            get(project_dictionary_entry),
        )
        .route("/{program}/{project}/template", get(project_templates))
        .route(
            "/{program}/{project}/template/{node}",
            get(project_template),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// Sheepdog (Flask) ignores a trailing slash: `/export/` is `/export`.
pub fn strip_trailing_slash(req: Request) -> Request {
    crate::authz::strip_trailing_slash(req)
}

fn sheepdog(e: WeftError) -> ApiError {
    ApiError::sheepdog(e)
}

fn restyle(e: ApiError) -> ApiError {
    ApiError::sheepdog(e.error)
}

async fn not_found() -> ApiError {
    sheepdog(WeftError::not_found("not found"))
}

async fn method_not_allowed() -> Response {
    let body = json!({"message": "method not allowed"});
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

fn service(s: &SubmissionState) -> Result<&Arc<SubmissionService>, ApiError> {
    s.service.as_ref().ok_or_else(|| {
        sheepdog(WeftError::not_found(
            "This commons has no data dictionary configured (dictionary.url), so it serves no submission API",
        ))
    })
}

fn json_ok(status: StatusCode, value: &impl Serialize) -> Res {
    let body = serde_json::to_vec(value).map_err(|e| sheepdog(WeftError::internal(e)))?;
    Ok((status, [(CONTENT_TYPE, "application/json")], body).into_response())
}

/// A transaction-shaped answer built as JSON: its `code` is the status.
fn coded(out: &Value) -> Res {
    let code = out["code"].as_u64().and_then(|c| u16::try_from(c).ok());
    let status = code.and_then(|c| StatusCode::from_u16(c).ok());
    json_ok(status.unwrap_or(StatusCode::BAD_REQUEST), out)
}

fn transaction(report: &TransactionReport) -> Res {
    let status = StatusCode::from_u16(report.code).unwrap_or(StatusCode::BAD_REQUEST);
    json_ok(status, report)
}

fn format_of(headers: &HeaderMap) -> Format {
    Format::from_content_type(
        headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    )
}

fn param<'q>(q: &'q Query, name: &str) -> Option<&'q str> {
    q.0.0
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn list_param(q: &Query, name: &str) -> Vec<String> {
    q.0.0
        .iter()
        .filter(|(k, _)| k == name)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn format_param(q: &Query, default: Format) -> Result<Format, ApiError> {
    match param(q, "format") {
        None => Ok(default),
        Some(f) => Format::parse(f).ok_or_else(|| {
            sheepdog(WeftError::invalid(format!(
                "Unsupported format {f}: use json, tsv or csv"
            )))
        }),
    }
}

fn attachment(filename: &str, content_type: &str, body: impl Into<axum::body::Body>) -> Response {
    (
        StatusCode::OK,
        [
            (CONTENT_TYPE, content_type.to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename={filename}"),
            ),
        ],
        body.into(),
    )
        .into_response()
}

fn links(paths: impl IntoIterator<Item = String>) -> Res {
    json_ok(
        StatusCode::OK,
        &Links {
            links: paths.into_iter().collect(),
        },
    )
}

#[utoipa::path(get, path = "/", tag = "submission",
    summary = "The programs: {links: [/v0/submission/<program>]}", security(("bearer" = [])),
    responses((status = 200, description = "Links to the programs", body = Links), Errors))]
async fn programs(State(s): State<Shared>, Creds(c): Creds) -> Res {
    let svc = service(&s)?;
    svc.authenticate(&c).await.map_err(sheepdog)?;
    let names = svc.programs().await.map_err(sheepdog)?;
    links(names.into_iter().map(|n| format!("/v0/submission/{n}")))
}

#[utoipa::path(method(post, put, patch), path = "/", tag = "submission",
    summary = "Create a program, or update its dbgap_accession_number (POST, PUT or PATCH)",
    description = "Needs `*` of `sheepdog` on `/services/sheepdog/submission/program`. The body is `{\"type\": \"program\", \"name\", \"dbgap_accession_number\"}` or one TSV/CSV row.",
    request_body = Value, security(("bearer" = [])),
    responses((status = 200, description = "{id, name, message}", body = Value), Errors))]
async fn program_put(
    State(s): State<Shared>,
    Creds(c): Creds,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    let svc = service(&s)?;
    let Body(body) = body.map_err(restyle)?;
    let out = svc
        .put_program(&c, format_of(&headers), &body)
        .await
        .map_err(sheepdog)?;
    json_ok(StatusCode::OK, &out)
}

#[utoipa::path(post, path = "/validation/upload_manifest", tag = "submission",
    summary = "Check an upload manifest ({files: [...]}, JSON or YAML): {valid, errors?}",
    request_body = Value, security(()),
    responses((status = 200, description = "{\"valid\": bool, \"errors\"?: [..]}", body = Value), Errors))]
async fn validate_manifest(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    service(&s)?;
    let Body(body) = body.map_err(restyle)?;
    let json_body = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
    let doc: Value = if json_body {
        serde_json::from_slice(&body).map_err(|e| {
            sheepdog(WeftError::invalid(format!(
                "Unable to parse the JSON body: {e}"
            )))
        })?
    } else {
        let text = std::str::from_utf8(&body)
            .map_err(|_| sheepdog(WeftError::invalid("The manifest is not UTF-8 text")))?;
        serde_saphyr::from_str(text).map_err(|e| {
            sheepdog(WeftError::invalid(format!(
                "Unable to parse the YAML body: {e}"
            )))
        })?
    };
    let problems = weft_graph::manifest::problems(&doc);
    let out = if problems.is_empty() {
        json!({"valid": true})
    } else {
        json!({"valid": false, "errors": problems})
    };
    json_ok(StatusCode::OK, &out)
}

fn dictionary_links_of(svc: &SubmissionService) -> Res {
    let dict = svc.dictionary();
    links(
        dict.nodes()
            .map(|n| format!("/v0/submission/_dictionary/{}", n.id))
            .chain(std::iter::once(
                "/v0/submission/_dictionary/_all".to_owned(),
            )),
    )
}

fn dictionary_entry_of(svc: &SubmissionService, entry: &str) -> Res {
    let dict = svc.dictionary();
    if entry == "_all" {
        return json_ok(StatusCode::OK, &dict.all());
    }
    match dict.entry(entry) {
        Some(v) => json_ok(StatusCode::OK, v),
        None => Err(sheepdog(WeftError::not_found(format!(
            "Entry {entry} not in dictionary"
        )))),
    }
}

#[utoipa::path(get, path = "/_dictionary", tag = "submission",
    summary = "Links to every node of the data dictionary, and _all", security(()),
    responses((status = 200, description = "Links", body = Links), Errors))]
async fn dictionary_links(State(s): State<Shared>) -> Res {
    dictionary_links_of(service(&s)?)
}

#[utoipa::path(get, path = "/_dictionary/{entry}", tag = "submission",
    summary = "One node's schema (or _definitions, _terms, _settings, metaschema), or _all",
    params(("entry" = String, Path)), security(()),
    responses((status = 200, description = "The resolved schema", body = Value), Errors))]
async fn dictionary_entry(State(s): State<Shared>, Path(entry): Path<String>) -> Res {
    dictionary_entry_of(service(&s)?, &entry)
}

fn templates_of(svc: &SubmissionService, q: &Query) -> Res {
    let format = format_param(q, Format::Tsv)?;
    let (name, body) = weft_graph::template::all_templates(
        svc.dictionary(),
        format,
        &list_param(q, "categories"),
        &list_param(q, "exclude"),
    )
    .map_err(sheepdog)?;
    Ok(attachment(&name, "application/json", body))
}

fn template_of(svc: &SubmissionService, node: &str, q: &Query) -> Res {
    let format = format_param(q, Format::Tsv)?;
    let (name, body) =
        weft_graph::template::template(svc.dictionary(), node, format).map_err(sheepdog)?;
    Ok(attachment(&name, "application/octet-stream", body))
}

#[utoipa::path(get, path = "/template", tag = "submission",
    summary = "Templates of every submittable node (format=json; categories=, exclude=)",
    params(("format" = Option<String>, Query), ("categories" = Option<String>, Query), ("exclude" = Option<String>, Query)),
    security(()), responses((status = 200, description = "A JSON list of templates", body = Value), Errors))]
async fn templates(State(s): State<Shared>, q: Result<Query, ApiError>) -> Res {
    let q = q.map_err(restyle)?;
    templates_of(service(&s)?, &q)
}

#[utoipa::path(get, path = "/template/{node}", tag = "submission",
    summary = "One node's submission template (format=tsv|csv|json, default tsv)",
    params(("node" = String, Path), ("format" = Option<String>, Query)), security(()),
    responses((status = 200, description = "The template", content_type = "application/octet-stream", body = String), Errors))]
async fn template(
    State(s): State<Shared>,
    Path(node): Path<String>,
    q: Result<Query, ApiError>,
) -> Res {
    let q = q.map_err(restyle)?;
    template_of(service(&s)?, &node, &q)
}

#[utoipa::path(get, path = "/{program}", tag = "submission",
    summary = "A program's projects: {links: [/v0/submission/<program>/<project>]}",
    params(("program" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "Links to the projects", body = Links), Errors))]
async fn projects(State(s): State<Shared>, Creds(c): Creds, Path(program): Path<String>) -> Res {
    let svc = service(&s)?;
    svc.authenticate(&c).await.map_err(sheepdog)?;
    let codes = svc.projects(&program).await.map_err(sheepdog)?;
    links(
        codes
            .into_iter()
            .map(|p| format!("/v0/submission/{program}/{p}")),
    )
}

#[utoipa::path(method(post, put, patch), path = "/{program}", tag = "submission",
    summary = "Create or update a project of the program (POST, PUT or PATCH)",
    description = "Needs `*` of `sheepdog` on `/services/sheepdog/submission/project`. The body is `{\"type\": \"project\", \"code\", \"name\", \"dbgap_accession_number\", ...}`; the project is opened.",
    params(("program" = String, Path)), request_body = Value, security(("bearer" = [])),
    responses((status = 201, description = "Created", body = Transaction), (status = 200, description = "Updated", body = Transaction), Errors))]
async fn project_put(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path(program): Path<String>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    let svc = service(&s)?;
    let Body(body) = body.map_err(restyle)?;
    let report = svc
        .put_project(&c, &program, format_of(&headers), &body)
        .await
        .map_err(sheepdog)?;
    transaction(&report)
}

#[utoipa::path(delete, path = "/{program}", tag = "submission",
    summary = "Delete an empty program", params(("program" = String, Path)), security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), Errors))]
async fn program_delete(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path(program): Path<String>,
) -> Res {
    service(&s)?
        .delete_program(&c, &program)
        .await
        .map_err(sheepdog)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn submit(
    s: &SubmissionState,
    c: &weft_auth::Credentials,
    (program, project): (String, String),
    role: Role,
    dry_run: bool,
    headers: &HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    let svc = service(s)?;
    let Body(body) = body.map_err(restyle)?;
    let report = svc
        .submit(
            c,
            &program,
            &project,
            Mode {
                role,
                run: Run::checked_only(dry_run),
            },
            format_of(headers),
            &body,
        )
        .await
        .map_err(sheepdog)?;
    transaction(&report)
}

#[utoipa::path(post, path = "/{program}/{project}", tag = "submission",
    summary = "Create entities (JSON object or list, or TSV/CSV by Content-Type)",
    description = "Needs `sheepdog` `create` on `/programs/{program}/projects/{project}`. Every entity is checked first; any invalid one and nothing is written (400).",
    params(("program" = String, Path), ("project" = String, Path)), request_body = Value, security(("bearer" = [])),
    responses((status = 201, description = "Created", body = Transaction), Errors))]
async fn submit_post(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path(p): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    submit(&s, &c, p, Role::Create, false, &headers, body).await
}

#[utoipa::path(put, path = "/{program}/{project}", tag = "submission",
    summary = "Create or update entities, matched by id or unique keys (submitter_id)",
    description = "Needs `sheepdog` `create` or `update` on the project; each entity then needs the one its action takes.",
    params(("program" = String, Path), ("project" = String, Path)), request_body = Value, security(("bearer" = [])),
    responses((status = 200, description = "Written", body = Transaction), Errors))]
async fn submit_put(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path(p): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    submit(&s, &c, p, Role::Update, false, &headers, body).await
}

#[utoipa::path(post, path = "/{program}/{project}/_dry_run", tag = "submission",
    summary = "Check a create without writing", params(("program" = String, Path), ("project" = String, Path)),
    request_body = Value, security(("bearer" = [])),
    responses((status = 200, description = "Would succeed", body = Transaction), Errors))]
async fn dry_run_post(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path(p): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    submit(&s, &c, p, Role::Create, true, &headers, body).await
}

#[utoipa::path(put, path = "/{program}/{project}/_dry_run", tag = "submission",
    summary = "Check a create-or-update without writing", params(("program" = String, Path), ("project" = String, Path)),
    request_body = Value, security(("bearer" = [])),
    responses((status = 200, description = "Would succeed", body = Transaction), Errors))]
async fn dry_run_put(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path(p): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Res {
    submit(&s, &c, p, Role::Update, true, &headers, body).await
}

async fn move_project(
    s: &SubmissionState,
    c: &weft_auth::Credentials,
    (program, project, action): (String, String, String),
    dry_run: bool,
) -> Res {
    let Some(to) = weft_graph::state::Transition::parse(&action) else {
        return Err(sheepdog(WeftError::not_found(format!(
            "not found: {action} (open, review, submit or release)"
        ))));
    };
    let out = service(s)?
        .transition(c, &program, &project, to, Run::checked_only(dry_run))
        .await
        .map_err(sheepdog)?;
    coded(&out)
}

#[utoipa::path(method(post, put), path = "/{program}/{project}/{action}", tag = "submission",
    summary = "Move the project to another state: open, review, submit (validated entities become submitted) or release",
    description = "Needs `sheepdog` `release` on the project.",
    params(("program" = String, Path), ("project" = String, Path), ("action" = String, Path, description = "open, review, submit or release")),
    security(("bearer" = [])),
    responses((status = 200, description = "Done", body = Value), Errors))]
async fn transition(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path(p): Path<(String, String, String)>,
) -> Res {
    move_project(&s, &c, p, false).await
}

#[utoipa::path(method(post, put), path = "/{program}/{project}/{action}/_dry_run", tag = "submission",
    summary = "Check a project state change without making it",
    params(("program" = String, Path), ("project" = String, Path), ("action" = String, Path, description = "open, review, submit or release")),
    security(("bearer" = [])),
    responses((status = 200, description = "Would succeed", body = Value), Errors))]
async fn transition_dry_run(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path(p): Path<(String, String, String)>,
) -> Res {
    move_project(&s, &c, p, true).await
}

/// A transaction id of a path: an integer, as sheepdog's route takes it (404 otherwise).
fn transaction_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| {
        sheepdog(WeftError::not_found(format!(
            "not found: transaction {id} (transaction ids are integers)"
        )))
    })
}

#[utoipa::path(method(post, put), path = "/{program}/{project}/transactions/{id}/close", tag = "submission",
    summary = "Close a dry run so it can no longer be committed",
    description = "Needs `sheepdog` `update` on the project.",
    params(("program" = String, Path), ("project" = String, Path), ("id" = i64, Path, description = "the dry run's transaction id")),
    security(("bearer" = [])),
    responses((status = 200, description = "Closed: {code, message, transaction_id}", body = Value), Errors))]
async fn transaction_close(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path((program, project, id)): Path<(String, String, String)>,
) -> Res {
    let id = transaction_id(&id)?;
    let out = service(&s)?
        .close_transaction(&c, &program, &project, id)
        .await
        .map_err(sheepdog)?;
    coded(&out)
}

#[utoipa::path(method(post, put), path = "/{program}/{project}/transactions/{id}/commit", tag = "submission",
    summary = "Commit a successful dry run: write what it checked",
    description = "Needs any `sheepdog` role on the project; the dry run's documents are submitted again with its role (each entity checked against the role it needs). Answers the new transaction; the dry run then names it in `committed_by`.",
    params(("program" = String, Path), ("project" = String, Path), ("id" = i64, Path, description = "the dry run's transaction id")),
    security(("bearer" = [])),
    responses((status = 200, description = "Written: the new transaction (201 for a create)", body = Transaction), Errors))]
async fn transaction_commit(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path((program, project, id)): Path<(String, String, String)>,
) -> Res {
    let id = transaction_id(&id)?;
    let out = service(&s)?
        .commit_transaction(&c, &program, &project, id)
        .await
        .map_err(sheepdog)?;
    coded(&out)
}

async fn bulk(
    s: &SubmissionState,
    c: &weft_auth::Credentials,
    (program, project): (String, String),
    role: Role,
    dry_run: bool,
    body: Result<Body, ApiError>,
) -> Res {
    let svc = service(s)?;
    let Body(body) = body.map_err(restyle)?;
    let mode = Mode {
        role,
        run: Run::checked_only(dry_run),
    };
    let out = svc
        .submit_bulk(c, &program, &project, mode, &body)
        .await
        .map_err(sheepdog)?;
    coded(&out)
}

/// A bulk transaction's answer.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BulkTransaction {
    transaction_id: Option<i64>,
    success: bool,
    message: String,
    code: u16,
    entity_error_count: usize,
    created_entity_count: usize,
    updated_entity_count: usize,
    document_error_count: usize,
    transactional_errors: Vec<Value>,
    /// `[{"name", "response_json": <a transaction>}]`, one per document.
    subtransactions: Vec<Value>,
}

#[utoipa::path(post, path = "/{program}/{project}/bulk", tag = "submission",
    summary = "Create entities from several documents ([{name, doc_format, doc}]) in one transaction",
    params(("program" = String, Path), ("project" = String, Path)), request_body = Value, security(("bearer" = [])),
    responses((status = 201, description = "Created", body = BulkTransaction), Errors))]
async fn bulk_post(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path(p): Path<(String, String)>,
    body: Result<Body, ApiError>,
) -> Res {
    bulk(&s, &c, p, Role::Create, false, body).await
}

#[utoipa::path(put, path = "/{program}/{project}/bulk", tag = "submission",
    summary = "Create or update entities from several documents in one transaction",
    params(("program" = String, Path), ("project" = String, Path)), request_body = Value, security(("bearer" = [])),
    responses((status = 200, description = "Written", body = BulkTransaction), Errors))]
async fn bulk_put(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path(p): Path<(String, String)>,
    body: Result<Body, ApiError>,
) -> Res {
    bulk(&s, &c, p, Role::Update, false, body).await
}

#[utoipa::path(post, path = "/{program}/{project}/bulk/_dry_run", tag = "submission",
    summary = "Check a bulk create without writing",
    params(("program" = String, Path), ("project" = String, Path)), request_body = Value, security(("bearer" = [])),
    responses((status = 200, description = "Would succeed", body = BulkTransaction), Errors))]
async fn bulk_dry_run_post(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path(p): Path<(String, String)>,
    body: Result<Body, ApiError>,
) -> Res {
    bulk(&s, &c, p, Role::Create, true, body).await
}

#[utoipa::path(put, path = "/{program}/{project}/bulk/_dry_run", tag = "submission",
    summary = "Check a bulk create-or-update without writing",
    params(("program" = String, Path), ("project" = String, Path)), request_body = Value, security(("bearer" = [])),
    responses((status = 200, description = "Would succeed", body = BulkTransaction), Errors))]
async fn bulk_dry_run_put(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path(p): Path<(String, String)>,
    body: Result<Body, ApiError>,
) -> Res {
    bulk(&s, &c, p, Role::Update, true, body).await
}

#[utoipa::path(delete, path = "/{program}/{project}", tag = "submission",
    summary = "Delete an empty project", params(("program" = String, Path), ("project" = String, Path)),
    security(("bearer" = [])), responses((status = 204, description = "Deleted"), Errors))]
async fn project_delete(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path((program, project)): Path<(String, String)>,
) -> Res {
    service(&s)?
        .delete_project(&c, &program, &project)
        .await
        .map_err(sheepdog)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn ids_of(ids: &str) -> Vec<String> {
    ids.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[utoipa::path(get, path = "/{program}/{project}/entities/{ids}", tag = "submission",
    summary = "Entities by id (comma-separated): {entities: [{program, project, properties}]}",
    params(("program" = String, Path), ("project" = String, Path), ("ids" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "The entities", body = Value), Errors))]
async fn entities_get(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path((program, project, ids)): Path<(String, String, String)>,
) -> Res {
    let out = service(&s)?
        .entities_by_id(&c, &program, &project, &ids_of(&ids))
        .await
        .map_err(sheepdog)?;
    json_ok(StatusCode::OK, &out)
}

async fn delete_entities(
    s: &SubmissionState,
    c: &weft_auth::Credentials,
    (program, project, ids): (String, String, String),
    q: &Query,
    dry_run: bool,
) -> Res {
    let fields = param(q, "fields").map(|_| list_param(q, "fields"));
    let report = service(s)?
        .delete_entities(
            c,
            &program,
            &project,
            &ids_of(&ids),
            fields,
            Run::checked_only(dry_run),
        )
        .await
        .map_err(sheepdog)?;
    transaction(&report)
}

#[utoipa::path(delete, path = "/{program}/{project}/entities/{ids}", tag = "submission",
    summary = "Delete entities (refused for one another entity still links to); fields=a,b clears those properties instead",
    params(("program" = String, Path), ("project" = String, Path), ("ids" = String, Path), ("fields" = Option<String>, Query)),
    security(("bearer" = [])), responses((status = 200, description = "Deleted", body = Transaction), Errors))]
async fn entities_delete(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path(p): Path<(String, String, String)>,
    q: Result<Query, ApiError>,
) -> Res {
    let q = q.map_err(restyle)?;
    delete_entities(&s, &c, p, &q, false).await
}

#[utoipa::path(delete, path = "/{program}/{project}/entities/_dry_run/{ids}", tag = "submission",
    summary = "Check a deletion without writing",
    params(("program" = String, Path), ("project" = String, Path), ("ids" = String, Path), ("fields" = Option<String>, Query)),
    security(("bearer" = [])), responses((status = 200, description = "Would succeed", body = Transaction), Errors))]
async fn entities_delete_dry_run(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path(p): Path<(String, String, String)>,
    q: Result<Query, ApiError>,
) -> Res {
    let q = q.map_err(restyle)?;
    delete_entities(&s, &c, p, &q, true).await
}

async fn export(
    s: &SubmissionState,
    c: &weft_auth::Credentials,
    program: &str,
    project: &str,
    q: &Query,
) -> Res {
    let svc = service(s)?;
    let ids = list_param(q, "ids");
    let format = format_param(q, Format::Tsv)?;
    let node_label = param(q, "node_label").map(str::to_owned);
    let export = svc
        .export(
            c,
            program,
            project,
            (!ids.is_empty()).then_some(ids),
            node_label,
            format,
        )
        .await
        .map_err(sheepdog)?;
    let filename = export.filename.clone();
    let content_type = export.content_type;
    let stream = futures::stream::unfold(Some(export), |state| async move {
        let mut export = state?;
        match export.next().await {
            Ok(Some(chunk)) => Some((
                Ok::<Bytes, std::io::Error>(Bytes::from(chunk)),
                Some(export),
            )),
            Ok(None) => None,
            Err(e) => {
                tracing::error!("export failed midway: {}", e.message);
                Some((Err(std::io::Error::other(e.message)), None))
            }
        }
    });
    Ok(attachment(
        &filename,
        content_type,
        axum::body::Body::from_stream(stream),
    ))
}

#[utoipa::path(get, path = "/{program}/{project}/export", tag = "submission",
    summary = "Export entities by ids (comma-separated) or by node_label, as tsv (default), csv or json",
    params(("program" = String, Path), ("project" = String, Path), ("ids" = Option<String>, Query),
        ("node_label" = Option<String>, Query), ("format" = Option<String>, Query)), security(("bearer" = [])),
    responses((status = 200, description = "The export, streamed as an attachment", content_type = "application/octet-stream", body = String), Errors))]
async fn export_get(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path((program, project)): Path<(String, String)>,
    q: Result<Query, ApiError>,
) -> Res {
    let q = q.map_err(restyle)?;
    export(&s, &c, &program, &project, &q).await
}

#[utoipa::path(post, path = "/{program}/{project}/export", tag = "submission",
    summary = "Export, with the parameters in the query string as for GET",
    params(("program" = String, Path), ("project" = String, Path), ("ids" = Option<String>, Query),
        ("node_label" = Option<String>, Query), ("format" = Option<String>, Query)), security(("bearer" = [])),
    responses((status = 200, description = "The export, streamed as an attachment", content_type = "application/octet-stream", body = String), Errors))]
async fn export_post(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path((program, project)): Path<(String, String)>,
    q: Result<Query, ApiError>,
) -> Res {
    let q = q.map_err(restyle)?;
    export(&s, &c, &program, &project, &q).await
}

#[utoipa::path(get, path = "/{program}/{project}/manifest", tag = "submission",
    summary = "A YAML upload manifest of data-file entities (ids=a,b); also at upload_manifest",
    params(("program" = String, Path), ("project" = String, Path), ("ids" = String, Query)), security(("bearer" = [])),
    responses((status = 200, description = "submission_manifest.yaml", content_type = "application/octet-stream", body = String), Errors))]
async fn manifest(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path((program, project)): Path<(String, String)>,
    q: Result<Query, ApiError>,
) -> Res {
    let q = q.map_err(restyle)?;
    let out = service(&s)?
        .manifest(&c, &program, &project, &list_param(&q, "ids"))
        .await
        .map_err(sheepdog)?;
    let yaml = serde_saphyr::to_string(&out).map_err(|e| sheepdog(WeftError::internal(e)))?;
    Ok(attachment(
        "submission_manifest.yaml",
        "application/octet-stream",
        yaml,
    ))
}

#[utoipa::path(get, path = "/{program}/{project}/upload_manifest", tag = "submission",
    summary = "The same as manifest",
    params(("program" = String, Path), ("project" = String, Path), ("ids" = String, Query)), security(("bearer" = [])),
    responses((status = 200, description = "submission_manifest.yaml", content_type = "application/octet-stream", body = String), Errors))]
async fn upload_manifest(
    s: State<Shared>,
    c: Creds,
    p: Path<(String, String)>,
    q: Result<Query, ApiError>,
) -> Res {
    manifest(s, c, p, q).await
}

async fn project_checked(
    s: &SubmissionState,
    c: Option<&weft_auth::Credentials>,
    program: &str,
    project: &str,
) -> Result<Arc<SubmissionService>, ApiError> {
    let svc = service(s)?;
    if let Some(c) = c {
        svc.authenticate(c).await.map_err(sheepdog)?;
    }
    svc.project(program, project).await.map_err(sheepdog)?;
    Ok(svc.clone())
}

#[utoipa::path(get, path = "/{program}/{project}/_dictionary", tag = "submission",
    summary = "The dictionary's links, for a project (needs a valid token)",
    params(("program" = String, Path), ("project" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "Links", body = Links), Errors))]
async fn project_dictionary_links(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path((program, project)): Path<(String, String)>,
) -> Res {
    dictionary_links_of(&*project_checked(&s, Some(&c), &program, &project).await?)
}

#[utoipa::path(get, path = "/{program}/{project}/_dictionary/{entry}", tag = "submission",
    summary = "One dictionary entry, for a project (needs a valid token)",
    params(("program" = String, Path), ("project" = String, Path), ("entry" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "The resolved schema", body = Value), Errors))]
async fn project_dictionary_entry(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path((program, project, entry)): Path<(String, String, String)>,
) -> Res {
    dictionary_entry_of(
        &*project_checked(&s, Some(&c), &program, &project).await?,
        &entry,
    )
}

#[utoipa::path(get, path = "/{program}/{project}/template", tag = "submission",
    summary = "Templates of every submittable node, for a project",
    params(("program" = String, Path), ("project" = String, Path), ("format" = Option<String>, Query)), security(()),
    responses((status = 200, description = "A JSON list of templates", body = Value), Errors))]
async fn project_templates(
    State(s): State<Shared>,
    Path((program, project)): Path<(String, String)>,
    q: Result<Query, ApiError>,
) -> Res {
    let q = q.map_err(restyle)?;
    templates_of(&*project_checked(&s, None, &program, &project).await?, &q)
}

#[utoipa::path(get, path = "/{program}/{project}/template/{node}", tag = "submission",
    summary = "One node's template, for a project",
    params(("program" = String, Path), ("project" = String, Path), ("node" = String, Path), ("format" = Option<String>, Query)),
    security(()),
    responses((status = 200, description = "The template", content_type = "application/octet-stream", body = String), Errors))]
async fn project_template(
    State(s): State<Shared>,
    Path((program, project, node)): Path<(String, String, String)>,
    q: Result<Query, ApiError>,
) -> Res {
    let q = q.map_err(restyle)?;
    template_of(
        &*project_checked(&s, None, &program, &project).await?,
        &node,
        &q,
    )
}
