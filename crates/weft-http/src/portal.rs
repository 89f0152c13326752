//! The web portal's pages (`weft-portal` renders them) at the paths Gen3's data-portal uses,
//! its static files under `/portal/`, and sheepdog's `/api/_version`, which Gen3's portals
//! read on start. Each page gathers its view from the services with the caller's
//! credentials (a browser's session cookie became a bearer token in [`crate::gateway`]), so
//! a page shows exactly what the APIs would show the same person.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::Markup;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::{OpenApi, ToSchema};
use weft_auth::{Credentials, Purpose};
use weft_core::WeftError;
use weft_portal::pages::{
    DiscoveryView, ExplorerField, ExplorerIndex, FileView, HomeView, IdentityView, ProjectRow,
    Provider, RecentSubmission, ServicesInfo, Study, StudyView,
};
use weft_portal::{Page, Portal, Viewer};

use crate::extract::{Creds, Query};
use crate::routes::Routes;

/// The portal's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        home,
        login,
        identity,
        dictionary,
        dictionary_node,
        submission,
        submission_project,
        explorer,
        discovery,
        study,
        files,
        file,
        workspace,
        asset,
        theme,
        logo,
        api_version
    ),
    components(schemas(SheepdogVersion, DictionaryVersion))
)]
pub(crate) struct Api;

/// What the portal's pages reach.
pub struct PortalState {
    /// `None` when `[portal] enabled = false`: `/` lists the APIs, the pages are not found.
    pub portal: Option<Arc<Portal>>,
    pub services: ServicesInfo,
    pub tokens: Arc<weft_identity::Tokens>,
    pub authz: Arc<weft_authz::AuthzService>,
    pub login: weft_config::LoginConfig,
    pub index: Arc<weft_indexd::IndexService>,
    pub mds: Arc<weft_mds::MetadataService>,
    pub hub: Option<Arc<weft_hub::HubService>>,
    pub peregrine: Option<Arc<weft_peregrine::Peregrine>>,
    pub guppy: Option<Arc<weft_explore::Guppy>>,
    pub build: crate::Build,
}

type Shared = Arc<PortalState>;

/// The pages' and static files' routes.
pub(crate) fn routes() -> Routes<Shared> {
    Routes::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/identity", get(identity))
        .route("/dd", get(dictionary))
        .route("/dd/{node}", get(dictionary_node))
        .route("/submission", get(submission))
        .route("/submission/{project}", get(submission_project))
        .route("/explorer", get(explorer))
        .route("/discovery", get(discovery))
        .route("/discovery/{*guid}", get(study))
        .route("/files", get(files))
        .route("/files/{*guid}", get(file))
        .route("/workspace", get(workspace))
        .route("/portal/assets/{name}", get(asset))
        .route("/portal/theme.css", get(theme))
        .route("/portal/logo", get(logo))
        .route("/api/_version", get(api_version))
}

/// What the pages' headers say: no caching of what one person sees, no framing elsewhere,
/// scripts and styles only from here.
fn page(status: StatusCode, markup: &Markup) -> Response {
    let mut resp = (status, markup.clone().into_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; \
             script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'; \
             form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// The portal, when it is on and serves `p`.
fn served(s: &PortalState, p: Page) -> Option<&Portal> {
    s.portal.as_deref().filter(|portal| portal.serves(p))
}

/// The answer to a page the portal does not serve.
fn unserved() -> Response {
    not_found("the portal does not serve this page ([portal] pages)")
}

/// Who is looking: the user of the bearer token (a browser's session became one), if valid.
async fn viewer(s: &PortalState, creds: &Credentials) -> Viewer {
    let Credentials::Bearer(token) = creds else {
        return Viewer::default();
    };
    match weft_auth::verify_bearer(&s.tokens, token, &[], Purpose::Access).await {
        Ok(p) => Viewer { username: p.user },
        Err(_) => Viewer::default(),
    }
}

/// A service's refusal or failure as a page.
fn error_page(portal: &Portal, viewer: &Viewer, e: &WeftError) -> Response {
    let status =
        StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let text = if status.is_server_error() {
        tracing::error!(error = %e, "portal page failed");
        "Something went wrong on our side; please try again.".to_owned()
    } else {
        e.message.clone()
    };
    let title = match status.as_u16() {
        401 => "Please log in",
        403 => "Not allowed",
        404 => "Not found",
        _ => "Cannot show this page",
    };
    page(status, &portal.message(viewer, title, &text))
}

#[utoipa::path(get, path = "/", tag = "portal",
    summary = "Home: the commons' name, counts per project and node type, recent submissions, the APIs",
    responses((status = 200, description = "An HTML page", body = String, content_type = "text/html")))]
async fn home(State(s): State<Shared>, Creds(creds): Creds) -> Response {
    let Some(portal) = served(&s, Page::Home) else {
        return page(StatusCode::OK, &weft_portal::pages::landing(&s.services));
    };
    let viewer = viewer(&s, &creds).await;
    let mut v = HomeView {
        services: s.services.clone(),
        commons: s.peregrine.is_some(),
        ..HomeView::default()
    };
    if let Some(p) = &s.peregrine {
        v.nodes = home_nodes(portal, p.dictionary());
        match project_counts(p, &creds, &v.nodes).await {
            Ok(counts) => {
                v.counts = counts
                    .into_iter()
                    .map(|(project, row)| (project, row.into_iter().map(|(_, c)| c).collect()))
                    .collect();
            }
            Err(e) => return error_page(portal, &viewer, &e),
        }
        v.recent = recent_submissions(p, &creds).await;
    }
    if let Some(h) = &s.hub {
        v.hub_studies = h
            .search(weft_hub::SearchRequest {
                limit: 0,
                ..weft_hub::SearchRequest::default()
            })
            .await
            .ok()
            .map(|r| r.total as u64);
    }
    page(StatusCode::OK, &portal.home(&viewer, &v))
}

/// The node types counted on the home page: configured, or case-like and a few of each of
/// the clinical, biospecimen and data file categories.
fn home_nodes(portal: &Portal, dict: &weft_dictionary::Dictionary) -> Vec<String> {
    let configured: Vec<String> = portal
        .home_nodes
        .iter()
        .filter(|n| dict.node(n).is_some())
        .cloned()
        .collect();
    if !configured.is_empty() {
        return configured;
    }
    let mut out: Vec<String> = ["subject", "case"]
        .iter()
        .filter(|n| dict.node(n).is_some())
        .map(|n| (*n).to_owned())
        .collect();
    for category in ["clinical", "biospecimen", "data_file"] {
        let mut taken = 0;
        for n in dict.nodes() {
            if n.category == category && !out.contains(&n.id) && taken < 2 {
                out.push(n.id.clone());
                taken += 1;
            }
        }
    }
    out.truncate(8);
    out
}

/// The last 20 transactions the caller may read (peregrine's transaction log, as Gen3's
/// home page asks for it); none when the query fails.
async fn recent_submissions(
    p: &weft_peregrine::Peregrine,
    creds: &Credentials,
) -> Vec<RecentSubmission> {
    let body = json!({"query": "{ transaction_log(last: 20) { id submitter project_id \
        created_datetime state documents { doc_size } } }"});
    let Ok(answer) = p.query(creds, body.to_string().as_bytes()).await else {
        return Vec::new();
    };
    let Some(log) = answer.body["data"]["transaction_log"].as_array() else {
        return Vec::new();
    };
    log.iter()
        .map(|t| RecentSubmission {
            id: t["id"]
                .as_i64()
                .or_else(|| t["id"].as_str().and_then(|i| i.parse().ok()))
                .unwrap_or_default(),
            project_id: t["project_id"].as_str().unwrap_or_default().to_owned(),
            submitter: t["submitter"].as_str().unwrap_or_default().to_owned(),
            created: t["created_datetime"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            state: t["state"].as_str().unwrap_or_default().to_owned(),
            bytes: t["documents"].as_array().map_or(0, |docs| {
                docs.iter().filter_map(|d| d["doc_size"].as_u64()).sum()
            }),
        })
        .collect()
}

#[utoipa::path(get, path = "/login", tag = "portal",
    summary = "Log in: the configured identity providers",
    params(("next" = Option<String>, Query, nullable = false, description = "A path of this site to go to after logging in")),
    responses((status = 200, description = "An HTML page", body = String, content_type = "text/html"),
        (status = 404, description = "The page is not served")))]
async fn login(State(s): State<Shared>, Creds(creds): Creds, Query(q): Query) -> Response {
    let Some(portal) = served(&s, Page::Login) else {
        return unserved();
    };
    let viewer = viewer(&s, &creds).await;
    let mut providers: Vec<Provider> = s
        .login
        .oidc
        .iter()
        .map(|(id, p)| Provider {
            id: id.clone(),
            name: p.display_name.clone().unwrap_or_else(|| id.clone()),
        })
        .collect();
    if s.login.mock_user.is_some() {
        providers.push(Provider {
            id: "mock".into(),
            name: "the development login".into(),
        });
    }
    // Only a path of this site: never an open redirect.
    let next = q
        .get("next")
        .filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or("/");
    page(
        StatusCode::OK,
        &portal.login(&viewer, &providers, &weft_portal::pages::url_encode(next)),
    )
}

#[utoipa::path(get, path = "/identity", tag = "portal",
    summary = "Profile: the user's resources and permissions, API keys",
    responses((status = 200, description = "An HTML page", body = String, content_type = "text/html"),
        (status = 404, description = "The page is not served")))]
async fn identity(State(s): State<Shared>, Creds(creds): Creds) -> Response {
    let Some(portal) = served(&s, Page::Identity) else {
        return unserved();
    };
    let viewer = viewer(&s, &creds).await;
    let mut v = IdentityView::default();
    match viewer_mapping(&s, &viewer).await {
        Ok(Some(mapping)) => {
            v.permissions = mapping
                .iter()
                .map(|(path, actions)| {
                    let perms = actions
                        .iter()
                        .map(|a| format!("{}: {}", a.service, a.method))
                        .collect();
                    (path.clone(), perms)
                })
                .collect();
        }
        Ok(None) => {}
        Err(e) => return error_page(portal, &viewer, &e),
    }
    page(StatusCode::OK, &portal.identity(&viewer, &v))
}

#[utoipa::path(get, path = "/dd", tag = "portal",
    summary = "The data dictionary: a graph of the node types and a table of them",
    responses((status = 200, description = "An HTML page", body = String, content_type = "text/html"),
        (status = 404, description = "The page is not served, or there is no dictionary")))]
async fn dictionary(State(s): State<Shared>, Creds(creds): Creds) -> Response {
    let Some(portal) = served(&s, Page::Dictionary) else {
        return unserved();
    };
    let viewer = viewer(&s, &creds).await;
    match &s.peregrine {
        Some(p) => page(StatusCode::OK, &portal.dictionary(&viewer, p.dictionary())),
        None => unserved(),
    }
}

#[utoipa::path(get, path = "/dd/{node}", tag = "portal",
    summary = "One node type: its links, properties (types, enums, required) and templates",
    params(("node" = String, Path, description = "The node type")),
    responses((status = 200, description = "An HTML page", body = String, content_type = "text/html"),
        (status = 404, description = "No such node type, or the page is not served")))]
async fn dictionary_node(
    State(s): State<Shared>,
    Creds(creds): Creds,
    Path(node): Path<String>,
) -> Response {
    let Some(portal) = served(&s, Page::Dictionary) else {
        return unserved();
    };
    let viewer = viewer(&s, &creds).await;
    let Some(p) = &s.peregrine else {
        return unserved();
    };
    match p.dictionary().node(&node) {
        Some(n) => page(StatusCode::OK, &portal.dictionary_node(&viewer, n)),
        None => page(
            StatusCode::NOT_FOUND,
            &portal.message(
                &viewer,
                "Not found",
                &format!("The dictionary has no node type {node:?}."),
            ),
        ),
    }
}

/// The readable projects with their counts of `nodes`.
async fn project_counts(
    p: &weft_peregrine::Peregrine,
    creds: &Credentials,
    nodes: &[String],
) -> Result<BTreeMap<String, Vec<(String, u64)>>, WeftError> {
    let Value::Object(map) = p.datasets(creds, nodes).await? else {
        return Ok(BTreeMap::new());
    };
    Ok(map
        .into_iter()
        .map(|(project, counts)| {
            let row = nodes
                .iter()
                .map(|n| (n.clone(), counts[n].as_u64().unwrap_or(0)))
                .collect();
            (project, row)
        })
        .collect())
}

/// The node types records are submitted as (not `program`, `project` or the system's).
fn submittable(dict: &weft_dictionary::Dictionary) -> Vec<String> {
    dict.nodes()
        .filter(|n| n.submittable && n.in_project() && n.id != "project")
        .map(|n| n.id.clone())
        .collect()
}

#[utoipa::path(get, path = "/submission", tag = "portal",
    summary = "Submission: the projects the user may read, with their record counts",
    responses((status = 200, description = "An HTML page", body = String, content_type = "text/html"),
        (status = 404, description = "The page is not served, or there is no dictionary")))]
async fn submission(State(s): State<Shared>, Creds(creds): Creds) -> Response {
    let Some(portal) = served(&s, Page::Submission) else {
        return unserved();
    };
    let viewer = viewer(&s, &creds).await;
    let Some(p) = &s.peregrine else {
        return unserved();
    };
    let mut rows = Vec::new();
    if viewer.username.is_some() {
        let nodes = submittable(p.dictionary());
        let counts = match project_counts(p, &creds, &nodes).await {
            Ok(c) => c,
            Err(e) => return error_page(portal, &viewer, &e),
        };
        let names: Vec<Value> = match p.dataset_projects(&creds).await {
            Ok(v) => v["projects"].as_array().cloned().unwrap_or_default(),
            Err(e) => return error_page(portal, &viewer, &e),
        };
        for (project_id, counts) in counts {
            let name = names
                .iter()
                .find(|n| {
                    n["code"]
                        .as_str()
                        .is_some_and(|c| project_id.ends_with(&format!("-{c}")))
                })
                .and_then(|n| n["name"].as_str())
                .unwrap_or_default()
                .to_owned();
            rows.push(ProjectRow {
                project_id,
                name,
                counts,
            });
        }
    }
    page(StatusCode::OK, &portal.submission(&viewer, &rows))
}

#[utoipa::path(get, path = "/submission/{project}", tag = "portal",
    summary = "One project: its counts, and uploading a TSV, CSV or JSON file to it (dry run first)",
    params(("project" = String, Path, description = "The project id (`program-project`)")),
    responses((status = 200, description = "An HTML page", body = String, content_type = "text/html"),
        (status = 401, description = "Not logged in", body = String, content_type = "text/html"),
        (status = 404, description = "No such readable project, or the page is not served")))]
async fn submission_project(
    State(s): State<Shared>,
    Creds(creds): Creds,
    Path(project): Path<String>,
) -> Response {
    let Some(portal) = served(&s, Page::Submission) else {
        return unserved();
    };
    let viewer = viewer(&s, &creds).await;
    let Some(p) = &s.peregrine else {
        return unserved();
    };
    if viewer.username.is_none() {
        return page(
            StatusCode::UNAUTHORIZED,
            &portal.message(
                &viewer,
                "Please log in",
                "Log in to submit data to a project.",
            ),
        );
    }
    let nodes = submittable(p.dictionary());
    let mut counts = match project_counts(p, &creds, &nodes).await {
        Ok(c) => c,
        Err(e) => return error_page(portal, &viewer, &e),
    };
    let Some(counts) = counts.remove(&project) else {
        return page(
            StatusCode::NOT_FOUND,
            &portal.message(
                &viewer,
                "Not found",
                &format!("There is no project {project:?} you may read."),
            ),
        );
    };
    page(
        StatusCode::OK,
        &portal.submission_project(&viewer, &project, &counts, &nodes),
    )
}

#[utoipa::path(get, path = "/explorer", tag = "portal",
    summary = "Exploration: facets, charts and a table over guppy's indices",
    responses((status = 200, description = "An HTML page", body = String, content_type = "text/html"),
        (status = 404, description = "The page is not served")))]
async fn explorer(State(s): State<Shared>, Creds(creds): Creds) -> Response {
    let Some(portal) = served(&s, Page::Explorer) else {
        return unserved();
    };
    let viewer = viewer(&s, &creds).await;
    let (indices, tier) = match &s.guppy {
        // Not reached: the binary hides the graph's pages without a dictionary.
        None => return unserved(),
        Some(g) => {
            let e = g.explorer();
            let indices: Vec<ExplorerIndex> = e
                .mapping()
                .indices
                .iter()
                .map(|m| ExplorerIndex {
                    doc_type: m.doc_type.clone(),
                    fields: m
                        .fields
                        .iter()
                        .filter_map(|f| match f.kind {
                            weft_explore::mapping::FieldKind::Keyword => Some(ExplorerField {
                                name: f.name.clone(),
                                number: false,
                            }),
                            weft_explore::mapping::FieldKind::Number => Some(ExplorerField {
                                name: f.name.clone(),
                                number: true,
                            }),
                            weft_explore::mapping::FieldKind::Nested(_) => None,
                        })
                        .collect(),
                })
                .collect();
            let c = e.config();
            let level = |t: weft_explore::Tier| match t {
                weft_explore::Tier::Private => "private",
                weft_explore::Tier::Regular => "regular",
                weft_explore::Tier::Libre => "libre",
            };
            let per_type: serde_json::Map<String, Value> = c
                .indices
                .iter()
                .map(|(_, t, own)| {
                    (
                        t.clone(),
                        Value::from(level(own.unwrap_or(c.tier_access_level))),
                    )
                })
                .collect();
            (
                indices,
                json!({ "levels": per_type, "limit": c.tier_access_limit }),
            )
        }
    };
    page(StatusCode::OK, &portal.explorer(&viewer, &indices, &tier))
}

/// The study fields a discovery card names it by.
const NAME_FIELDS: [&str; 6] = [
    "name",
    "study_name",
    "full_name",
    "project_title",
    "title",
    "short_name",
];
const SUMMARY_FIELDS: [&str; 4] = [
    "summary",
    "study_description",
    "description",
    "brief_summary",
];

/// A discovery record's `gen3_discovery` object as a card; `accessible` from the mapping.
fn study_of(
    guid: &str,
    doc: &Value,
    commons: Option<String>,
    mapping: Option<&weft_authz::engine::Mapping>,
) -> Study {
    let d = doc.get("gen3_discovery").unwrap_or(doc);
    let text = |fields: &[&str]| {
        fields
            .iter()
            .find_map(|f| d.get(*f).and_then(Value::as_str).filter(|s| !s.is_empty()))
            .map(str::to_owned)
    };
    let tags = d["tags"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter_map(|t| {
                    Some((
                        t["category"].as_str().unwrap_or("").to_owned(),
                        t["name"].as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let authz = d["authz"].as_str().unwrap_or("");
    Study {
        guid: guid.to_owned(),
        name: text(&NAME_FIELDS).unwrap_or_else(|| guid.to_owned()),
        commons: commons.or_else(|| {
            d["commons"]
                .as_str()
                .or_else(|| d["commons_name"].as_str())
                .map(str::to_owned)
        }),
        summary: text(&SUMMARY_FIELDS),
        tags,
        subjects: d["_subjects_count"].as_u64(),
        accessible: mapping.is_some_and(|m| accessible(m, authz)),
    }
}

/// The portal's access badge: `read` for service `*`, `peregrine` or `guppy`, or
/// `read-storage` for `fence`, at the study's path or above it.
fn accessible(mapping: &weft_authz::engine::Mapping, authz: &str) -> bool {
    if authz.is_empty() {
        return false;
    }
    mapping.iter().any(|(path, actions)| {
        let covers = authz == path
            || authz
                .strip_prefix(path.as_str())
                .is_some_and(|rest| rest.starts_with('/'));
        covers
            && actions.iter().any(|a| {
                (a.method == "read" || a.method == "*")
                    && matches!(a.service.as_str(), "*" | "peregrine" | "guppy")
                    || (a.method == "read-storage" && matches!(a.service.as_str(), "fence" | "*"))
            })
    })
}

/// The logged-in viewer's auth mapping (none for an anonymous one).
async fn viewer_mapping(
    s: &PortalState,
    viewer: &Viewer,
) -> Result<Option<Arc<weft_authz::engine::Mapping>>, WeftError> {
    let Some(user) = viewer.username.clone() else {
        return Ok(None);
    };
    let snap = s.authz.fresh().await?;
    Ok(Some(snap.mapping(
        &weft_authz::Principal::User(user),
        chrono::Utc::now(),
    )))
}

#[utoipa::path(get, path = "/discovery", tag = "portal",
    summary = "Discovery: search studies by text and tags (the hub's, or this commons' metadata)",
    params(("q" = Option<String>, Query, nullable = false, description = "Words to search for"),
        ("tag" = Option<String>, Query, nullable = false, description = "`Category:name`, repeatable; every one must match")),
    responses((status = 200, description = "An HTML page", body = String, content_type = "text/html"),
        (status = 400, description = "The search could not be read (the page says why)", body = String, content_type = "text/html"),
        (status = 404, description = "The page is not served")))]
async fn discovery(State(s): State<Shared>, Creds(creds): Creds, Query(q): Query) -> Response {
    let Some(portal) = served(&s, Page::Discovery) else {
        return unserved();
    };
    let viewer = viewer(&s, &creds).await;
    // Without the mapping a study only shows as not accessible.
    let mapping = viewer_mapping(&s, &viewer).await.ok().flatten();
    let mut v = DiscoveryView {
        q: q.get("q").unwrap_or("").trim().to_owned(),
        selected: q
            .0
            .iter()
            .filter(|(k, _)| k == "tag")
            .filter_map(|(_, t)| {
                let (c, n) = t.split_once(':')?;
                Some((c.trim().to_owned(), n.trim().to_owned()))
            })
            .collect(),
        ..DiscoveryView::default()
    };
    if let Some(h) = &s.hub {
        let req = weft_hub::SearchRequest {
            q: Some(v.q.clone()).filter(|q| !q.is_empty()),
            tags: v.selected.clone(),
            commons: Vec::new(),
            limit: 100,
            offset: 0,
        };
        match h.search(req).await {
            Ok(r) => {
                v.total = r.total;
                v.studies = r
                    .hits
                    .iter()
                    .map(|hit| {
                        study_of(
                            &hit.guid,
                            &hit.doc,
                            Some(hit.commons.clone()),
                            mapping.as_deref(),
                        )
                    })
                    .collect();
                v.facets = r
                    .facets
                    .tags
                    .into_iter()
                    .map(|(c, names)| (c, names.into_iter().collect()))
                    .collect();
                v.source = "the data hub".into();
            }
            Err(e) => {
                // Most often query syntax (`"unclosed`, a lone `)`): the page, saying so.
                v.error = Some(format!("The search could not be read: {e}"));
                v.source = "the data hub".into();
                return page(StatusCode::BAD_REQUEST, &portal.discovery(&viewer, &v));
            }
        }
    } else {
        let studies = match commons_studies(&s, &creds).await {
            Ok(st) => st,
            Err(e) => return error_page(portal, &viewer, &e),
        };
        let words: Vec<String> =
            v.q.to_lowercase()
                .split_whitespace()
                .map(str::to_owned)
                .collect();
        let mut facets: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (guid, doc) in &studies {
            let text = doc.to_string().to_lowercase();
            if !words.iter().all(|w| text.contains(w)) {
                continue;
            }
            let study = study_of(guid, doc, None, mapping.as_deref());
            if !v.selected.iter().all(|sel| study.tags.contains(sel)) {
                continue;
            }
            for (c, n) in &study.tags {
                *facets
                    .entry(c.clone())
                    .or_default()
                    .entry(n.clone())
                    .or_default() += 1;
            }
            v.studies.push(study);
        }
        v.total = v.studies.len();
        v.facets = facets
            .into_iter()
            .map(|(c, n)| (c, n.into_iter().collect()))
            .collect();
        v.source = "this commons' metadata service".into();
    }
    page(StatusCode::OK, &portal.discovery(&viewer, &v))
}

/// This commons' discovery records (MDS `_guid_type=discovery_metadata`).
async fn commons_studies(
    s: &PortalState,
    creds: &Credentials,
) -> Result<Vec<(String, Value)>, WeftError> {
    let params = vec![
        ("_guid_type".to_owned(), "discovery_metadata".to_owned()),
        ("data".to_owned(), "True".to_owned()),
        ("limit".to_owned(), "2000".to_owned()),
    ];
    match s.mds.query(creds, &params).await? {
        weft_mds::QueryResult::Data(rows) => Ok(rows
            .into_iter()
            .filter_map(|(g, d)| Some((g, serde_json::from_str(d.get()).ok()?)))
            .collect()),
        weft_mds::QueryResult::Guids(_) => Ok(Vec::new()),
    }
}

#[utoipa::path(get, path = "/discovery/{guid}", tag = "portal",
    summary = "One study: its metadata and links to its data in the commons that holds it",
    params(("guid" = String, Path, description = "The study's GUID")),
    responses((status = 200, description = "An HTML page", body = String, content_type = "text/html"),
        (status = 400, description = "Not a GUID (a NUL in it)", body = String, content_type = "text/html"),
        (status = 404, description = "No such study, or the page is not served")))]
async fn study(State(s): State<Shared>, Creds(creds): Creds, Path(guid): Path<String>) -> Response {
    let Some(portal) = served(&s, Page::Discovery) else {
        return unserved();
    };
    let viewer = viewer(&s, &creds).await;
    // Without the mapping a study only shows as not accessible.
    let mapping = viewer_mapping(&s, &viewer).await.ok().flatten();
    let found = match &s.hub {
        Some(h) => h.study(&guid).await.ok().flatten(),
        None => match s.mds.get(&creds, &guid).await {
            Ok(text) => serde_json::from_str::<Value>(&text).ok(),
            Err(e) if e.code.http_status() == 404 => None,
            Err(e) => return error_page(portal, &viewer, &e),
        },
    };
    let Some(doc) = found else {
        return page(
            StatusCode::NOT_FOUND,
            &portal.message(
                &viewer,
                "Not found",
                &format!("There is no study {guid:?}."),
            ),
        );
    };
    let study = study_of(&guid, &doc, None, mapping.as_deref());
    let d = doc.get("gen3_discovery").unwrap_or(&doc).clone();
    let files = d["__manifest"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|f| {
                    let id = f["object_id"].as_str()?.to_owned();
                    let name = f["file_name"].as_str().unwrap_or(&id).to_owned();
                    let base = f["commons_url"]
                        .as_str()
                        .or_else(|| d["commons_url"].as_str())
                        .map(|u| {
                            if u.contains("://") {
                                u.trim_end_matches('/').to_owned()
                            } else {
                                // A bare host (Gen3's `commons_url`): this weft's scheme.
                                let scheme =
                                    s.services.base_url.split("://").next().unwrap_or("https");
                                format!("{scheme}://{}", u.trim_end_matches('/'))
                            }
                        })
                        .unwrap_or_default();
                    let link = format!("{base}/files/{id}");
                    Some((id, name, f["file_size"].as_u64(), link))
                })
                .collect()
        })
        .unwrap_or_default();
    page(
        StatusCode::OK,
        &portal.study(
            &viewer,
            &StudyView {
                study,
                metadata: d,
                files,
            },
        ),
    )
}

fn file_view(r: &Value) -> FileView {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    FileView {
        guid: r["did"].as_str().unwrap_or_default().to_owned(),
        file_name: r["file_name"].as_str().map(str::to_owned),
        size: r["size"].as_u64(),
        hashes: r["hashes"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        authz: strings(&r["authz"]),
        urls: r["urls"].as_array().map_or(0, Vec::len),
        updated: r["updated_date"].as_str().map(str::to_owned),
        version: r["version"].as_str().map(str::to_owned),
    }
}

#[utoipa::path(get, path = "/files", tag = "portal",
    summary = "Files: find a record by GUID; the first records of the index",
    params(("guid" = Option<String>, Query, nullable = false, description = "Go to this record's page")),
    responses((status = 200, description = "An HTML page", body = String, content_type = "text/html"),
        (status = 303, description = "To the page of `guid`"),
        (status = 404, description = "The page is not served")))]
async fn files(State(s): State<Shared>, Creds(creds): Creds, Query(q): Query) -> Response {
    let Some(portal) = served(&s, Page::Files) else {
        return unserved();
    };
    if let Some(guid) = q.get("guid").map(str::trim).filter(|g| !g.is_empty()) {
        let to = format!("/files/{}", weft_portal::pages::url_encode(guid));
        return axum::response::Redirect::to(&to).into_response();
    }
    let viewer = viewer(&s, &creds).await;
    let params = weft_indexd::query::Params(vec![("limit".into(), "50".into())]);
    let listing = match s.index.list(&params).await {
        Ok(l) => l,
        Err(e) => return error_page(portal, &viewer, &e),
    };
    let json: Value = serde_json::from_slice(&listing.to_json()).unwrap_or_default();
    let recent: Vec<FileView> = json["records"]
        .as_array()
        .map(|rs| rs.iter().map(file_view).collect())
        .unwrap_or_default();
    page(StatusCode::OK, &portal.files(&viewer, &recent))
}

#[utoipa::path(get, path = "/files/{guid}", tag = "portal",
    summary = "One data object: GUID, size, hashes, authz, and a download through its signed URL",
    params(("guid" = String, Path, description = "The record's GUID (prefixed GUIDs contain a slash)")),
    responses((status = 200, description = "An HTML page", body = String, content_type = "text/html"),
        (status = 400, description = "Not a GUID (a NUL in it, or too long)", body = String, content_type = "text/html"),
        (status = 404, description = "No such record, or the page is not served")))]
async fn file(State(s): State<Shared>, Creds(creds): Creds, Path(guid): Path<String>) -> Response {
    let Some(portal) = served(&s, Page::Files) else {
        return unserved();
    };
    let viewer = viewer(&s, &creds).await;
    match s.index.get(&guid).await {
        Ok(r) => {
            let v = serde_json::to_value(&r).unwrap_or_default();
            page(StatusCode::OK, &portal.file(&viewer, &file_view(&v)))
        }
        Err(e) if e.code.http_status() == 404 => page(
            StatusCode::NOT_FOUND,
            &portal.message(&viewer, "Not found", &format!("There is no file {guid:?}.")),
        ),
        Err(e) => error_page(portal, &viewer, &e),
    }
}

#[utoipa::path(get, path = "/workspace", tag = "portal",
    summary = "Workspaces: launch a notebook, watch it start, open and stop it; the pay model and manifests (its script calls /lw-workspace/ and /manifests/)",
    responses((status = 200, description = "An HTML page", body = String, content_type = "text/html"),
        (status = 404, description = "The page is not served")))]
async fn workspace(State(s): State<Shared>, Creds(creds): Creds) -> Response {
    let Some(portal) = served(&s, Page::Workspace) else {
        return unserved();
    };
    let viewer = viewer(&s, &creds).await;
    page(StatusCode::OK, &portal.workspace(&viewer))
}

fn not_found(what: &str) -> Response {
    crate::error::ApiError::from(WeftError::not_found(what)).into_response()
}

fn static_file(content_type: &str, body: impl Into<axum::body::Body>) -> Response {
    let mut resp = body.into().into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[utoipa::path(get, path = "/portal/assets/{name}", tag = "portal",
    summary = "The portal's stylesheet and scripts (compiled into the binary)",
    params(("name" = String, Path, description = "`portal.css`, `portal.js`, `identity.js`, `submission.js`, `explorer.js` or `workspace.js`")),
    responses((status = 200, description = "The file", body = String, content_type = "text/javascript"),
        (status = 404, description = "No such file")))]
async fn asset(Path(name): Path<String>) -> Response {
    match weft_portal::assets::get(&name) {
        Some(a) => static_file(a.content_type, a.body),
        None => not_found(&format!("the portal has no file {name:?}")),
    }
}

#[utoipa::path(get, path = "/portal/theme.css", tag = "portal",
    summary = "The configured colours as a stylesheet",
    responses((status = 200, description = "CSS", body = String, content_type = "text/css")))]
async fn theme(State(s): State<Shared>) -> Response {
    let css = s
        .portal
        .as_ref()
        .map_or_else(String::new, |p| p.theme_css.clone());
    static_file("text/css; charset=utf-8", css)
}

#[utoipa::path(get, path = "/portal/logo", tag = "portal",
    summary = "The configured logo",
    responses((status = 200, description = "The image", body = String, content_type = "image/svg+xml"),
        (status = 404, description = "No logo is configured")))]
async fn logo(State(s): State<Shared>) -> Response {
    match s.portal.as_ref().and_then(|p| p.logo.as_ref()) {
        Some(l) => static_file(l.content_type, l.bytes.clone()),
        None => not_found("no logo is configured ([portal] logo)"),
    }
}

/// sheepdog's `/_version` (at `/api/_version` behind Gen3's gateway).
#[derive(Serialize, ToSchema)]
pub(crate) struct SheepdogVersion {
    commit: &'static str,
    version: &'static str,
    /// The data dictionary's version (absent without a dictionary).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    dictionary: Option<DictionaryVersion>,
}

/// The dictionary's `commit` and `version` (from its `_settings` or dump; empty when unknown).
#[derive(Serialize, ToSchema)]
pub(crate) struct DictionaryVersion {
    commit: String,
    version: String,
}

#[utoipa::path(get, path = "/api/_version", tag = "submission",
    summary = "The submission service's version and its dictionary's (sheepdog's `/_version`)",
    responses((status = 200, description = "Versions", body = SheepdogVersion)))]
async fn api_version(State(s): State<Shared>) -> Response {
    let dictionary = s.peregrine.as_ref().map(|p| DictionaryVersion {
        commit: String::new(),
        version: p.dictionary().version().unwrap_or_default().to_owned(),
    });
    axum::Json(SheepdogVersion {
        commit: s.build.commit,
        version: s.build.version,
        dictionary,
    })
    .into_response()
}
