//! The OpenAPI 3.1 document of every route, and the API browser (Swagger UI, served from
//! the binary: no CDN). Each route has one entry here (MDS routes once, under `/mds/`); a test
//! in the binary's integration suite checks the two lists agree.

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::SharedState;
use crate::schemas::SecuritySchemes;

macro_rules! doc {
    ($name:ident, $method:ident, $path:literal, $tag:literal, $summary:literal) => {
        #[utoipa::path($method, path = $path, tag = $tag, summary = $summary,
            responses((status = 200, description = "Success"), (status = 400, description = "Bad request, JSON error body")))]
        #[allow(dead_code)]
        fn $name() {}
    };
}

doc!(home, get, "/", "weft", "Landing page (HTML)");
doc!(
    status,
    get,
    "/_status",
    "weft",
    "Health of weft and its database"
);
doc!(version, get, "/_version", "weft", "weft version and commit");
doc!(metrics, get, "/metrics", "weft", "Prometheus metrics");

doc!(
    data_download,
    get,
    "/user/data/download/{guid}",
    "data",
    "A signed URL for the record's object (fence): ?protocol=&expires_in=&redirect; 200 {url}"
);
doc!(
    data_local,
    get,
    "/user/data/local/{key}",
    "data",
    "The bytes of a local object behind a signed URL (?expires=&sig=); Range supported"
);
doc!(
    data_local_put,
    put,
    "/user/data/local/{key}",
    "data",
    "Upload a local object behind a signed URL (?expires=&guid=&sig= fills the blank record; ?expires=&upload_id=&part=&sig= is one multipart part); 200 with ETag"
);
doc!(
    data_buckets,
    get,
    "/user/data/buckets",
    "data",
    "The configured buckets without credentials (fence): {S3_BUCKETS: {name: {region, endpoint_url?}}, GS_BUCKETS: {name: {}}}"
);
doc!(
    data_upload,
    post,
    "/user/data/upload",
    "data",
    "A blank record and a presigned PUT URL (fence): {file_name, authz?, guid?, protocol?, bucket?, expires_in?}; 201 {guid, url}"
);
doc!(
    data_upload_guid,
    get,
    "/user/data/upload/{guid}",
    "data",
    "A presigned PUT URL for an existing record (fence): ?file_name=&protocol=&bucket=&expires_in=; 200 {url}"
);
doc!(
    data_multipart_init,
    post,
    "/user/data/multipart/init",
    "data",
    "Start a multipart upload (fence): {file_name, guid?, bucket?}; 201 {guid, uploadId}"
);
doc!(
    data_multipart_upload,
    post,
    "/user/data/multipart/upload",
    "data",
    "A presigned URL for one part (fence): {key, uploadId, partNumber}; 200 {presigned_url}"
);
doc!(
    data_multipart_complete,
    post,
    "/user/data/multipart/complete",
    "data",
    "Finish a multipart upload (fence): {key, uploadId, parts: [{PartNumber, ETag}]}; 200 {message: OK}"
);
doc!(
    data_delete,
    delete,
    "/user/data/{guid}",
    "data",
    "Delete the record's stored objects, then the record (fence); 204"
);


doc!(
    hub_commons,
    get,
    "/mds/aggregate/commons",
    "hub",
    "{commons: [names]}: the commons the hub holds studies of"
);
doc!(
    hub_metadata,
    get,
    "/mds/aggregate/metadata",
    "hub",
    "Aggregated studies by commons ({commons: [{guid: doc}]}); limit, offset, counts, flatten, pagination"
);
doc!(
    hub_commons_metadata,
    get,
    "/mds/aggregate/metadata/{name}",
    "hub",
    "Every study of one commons ([doc])"
);
doc!(
    hub_commons_info,
    get,
    "/mds/aggregate/metadata/{name}/info",
    "hub",
    "A commons' info ({commons_url})"
);
doc!(
    hub_study,
    get,
    "/mds/aggregate/metadata/guid/{guid}",
    "hub",
    "One aggregated study by GUID"
);
doc!(
    hub_tags,
    get,
    "/mds/aggregate/tags",
    "hub",
    "Tag counts across commons ({category: {total, names: [{name: n}]}})"
);
doc!(
    hub_info,
    get,
    "/mds/aggregate/info/{what}",
    "hub",
    "schema, aggregations, a commons' info, or a DRS prefix's {host, name, type}"
);
doc!(
    hub_status,
    get,
    "/mds/aggregate/status",
    "hub",
    "weft: each commons' sync state (last success, last error, studies, next attempt)"
);
doc!(
    hub_search,
    get,
    "/mds/aggregate/search",
    "hub",
    "weft: discovery search (q, tag=Category:Name, commons, limit, offset) with facet counts"
);
#[derive(OpenApi)]
#[openapi(
    info(
        title = "weft",
        description = "A Gen3-compatible data commons: indexd API, GA4GH DRS and the policy engine (arborist API under /authz)."
    ),
    modifiers(&SecuritySchemes),
    paths(
        home,
        status,
        version,
        metrics,
        data_download,
        data_local,
        data_local_put,
        data_buckets,
        data_upload,
        data_upload_guid,
        data_multipart_init,
        data_multipart_upload,
        data_multipart_complete,
        data_delete,
        hub_commons,
        hub_metadata,
        hub_commons_metadata,
        hub_commons_info,
        hub_study,
        hub_tags,
        hub_info,
        hub_status,
        hub_search,
    )
)]
pub struct ApiDoc;

/// The OpenAPI document: the stubs above, and each router module's own part.
#[must_use]
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(under("", "index", crate::index::Api::openapi()));
    doc.merge(under("", "drs", crate::drs::Api::openapi()));
    doc.merge(under("", "authz", crate::authz::Api::openapi()));
    doc.merge(under("", "user", crate::user::Api::openapi()));
    doc.merge(under("", "user", crate::oauth::Api::openapi()));
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
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            op.operation_id = op.operation_id.take().map(|id| format!("{ids}_{id}"));
        }
        part.paths.paths.insert(format!("{prefix}{path}"), item);
    }
    part
}

pub fn router() -> Router<SharedState> {
    Router::new().merge(SwaggerUi::new("/api").url("/openapi.json", document()))
}
