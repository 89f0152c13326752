//! The OpenAPI 3.1 document of every route, and the API browser (Swagger UI, served from
//! the binary: no CDN). Each router module declares its operations on its handlers
//! (`#[utoipa::path]`) and lists them in its `Api`; [`document`] merges them, once per mount.
//! The integration suite checks the document against the paths the routers register.

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::schemas::SecuritySchemes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "weft",
        description = "A Gen3-compatible data commons: indexd API, GA4GH DRS, the metadata service, fence (identity, OAuth2, data access), the policy engine (arborist API under /authz) and the data hub (aggregate MDS)."
    ),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

/// The OpenAPI document: each router module's own part, declared on its handlers.
#[must_use]
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(under("", "index", crate::index::Api::openapi()));
    doc.merge(under("", "drs", crate::drs::Api::openapi()));
    doc.merge(under("", "authz", crate::authz::Api::openapi()));
    doc.merge(under("", "user", crate::user::Api::openapi()));
    doc.merge(under("", "user", crate::oauth::Api::openapi()));
    doc.merge(under("", "system", crate::system::Api::openapi()));
    doc.merge(under("", "data", crate::data::Api::openapi()));
    doc.merge(under(
        crate::submission::PREFIX,
        "submission",
        crate::submission::Api::openapi(),
    ));
    doc.merge(under(
        crate::submission::PREFIX,
        "graphql",
        crate::peregrine::Api::openapi(),
    ));
    doc.merge(under("", "search", crate::peregrine::SearchApi::openapi()));
    doc.merge(under("", "guppy", crate::guppy::Api::openapi()));
    doc.merge(under("", "portal", crate::portal::Api::openapi()));
    doc.merge(under("", "hatchery", crate::workspace::Api::openapi()));
    doc.merge(under("", "manifests", crate::manifests::Api::openapi()));
    doc.merge(under("", "wts", crate::wts::Api::openapi()));
    for (prefix, ids) in crate::hub::PREFIXES.into_iter().zip(["hub", "hub_root"]) {
        doc.merge(under(prefix, ids, crate::hub::Api::openapi()));
    }
    for (prefix, ids) in crate::mds::PREFIXES
        .into_iter()
        .zip(["mds", "mds_admin", "mds_root"])
    {
        doc.merge(under(prefix, ids, crate::mds::Api::openapi()));
        if !prefix.is_empty() {
            doc.merge(under(prefix, ids, crate::mds::InfoApi::openapi()));
        }
    }
    doc
}

/// A router's part with its paths under `prefix` (a router mounted several times appears
/// once per mount); operation ids get the prefix too, so they stay unique.
fn under(prefix: &str, ids: &str, mut part: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let paths = std::mem::take(&mut part.paths.paths);
    for (path, mut item) in paths {
        // one handler serving several methods (the workspace proxy) documents each with
        // the same id: every method after the first gets its name appended
        let mut seen = std::collections::HashSet::new();
        for (method, op) in [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("options", &mut item.options),
            ("head", &mut item.head),
            ("patch", &mut item.patch),
        ] {
            let Some(op) = op else { continue };
            op.operation_id = op.operation_id.take().map(|id| {
                if seen.insert(id.clone()) {
                    format!("{ids}_{id}")
                } else {
                    format!("{ids}_{id}_{method}")
                }
            });
        }
        part.paths.paths.insert(format!("{prefix}{path}"), item);
    }
    part
}

pub fn router() -> Router {
    Router::new().merge(SwaggerUi::new("/api").url("/openapi.json", document()))
}
