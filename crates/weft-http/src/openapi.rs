//! The OpenAPI 3.1 document of every route, and the API browser (Swagger UI, served from
//! the binary: no CDN). Each route in `index`, `drs` and `system` has one entry here; a test
//! in the binary's integration suite checks the two lists agree.

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::SharedState;

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
    index_list,
    get,
    "/index/index/",
    "index",
    "List and query records (hash, size, urls, acl, authz, file_name, version, uploader, ids, metadata; limit/start/page)"
);
doc!(
    index_create,
    post,
    "/index/index/",
    "index",
    "Create a record (basic auth or policy); 200 {did, rev, baseid}"
);
doc!(
    index_get,
    get,
    "/index/index/{did}",
    "index",
    "Get a record by did or baseid (non-strict prefix), or a bundle by id"
);
doc!(
    index_update,
    put,
    "/index/index/{did}",
    "index",
    "Update a record; ?rev= required, 409 on mismatch"
);
doc!(
    index_delete,
    delete,
    "/index/index/{did}",
    "index",
    "Delete a record; ?rev= required"
);
doc!(
    index_new_version,
    post,
    "/index/index/{did}",
    "index",
    "Add a new version sharing the record's baseid"
);
doc!(
    index_versions,
    get,
    "/index/index/{did}/versions",
    "index",
    "All versions, keyed \"0\", \"1\", ... oldest first"
);
doc!(
    index_versions_update,
    put,
    "/index/index/{did}/versions",
    "index",
    "Set acl/authz of every version"
);
doc!(
    index_latest,
    get,
    "/index/index/{did}/latest",
    "index",
    "Newest version (?has_version=true skips unversioned)"
);
doc!(
    index_aliases,
    get,
    "/index/index/{did}/aliases",
    "index",
    "Aliases of a record"
);
doc!(
    index_aliases_add,
    post,
    "/index/index/{did}/aliases",
    "index",
    "Add aliases"
);
doc!(
    index_aliases_replace,
    put,
    "/index/index/{did}/aliases",
    "index",
    "Replace aliases"
);
doc!(
    index_aliases_delete,
    delete,
    "/index/index/{did}/aliases",
    "index",
    "Delete all aliases"
);
doc!(
    index_alias_delete,
    delete,
    "/index/index/{did}/aliases/{alias}",
    "index",
    "Delete one alias"
);
doc!(
    index_blank,
    post,
    "/index/index/blank/",
    "index",
    "Create a blank record for an upload; 201"
);
doc!(
    index_blank_version,
    post,
    "/index/index/blank/{did}",
    "index",
    "Create a blank new version; 201"
);
doc!(
    index_blank_update,
    put,
    "/index/index/blank/{did}",
    "index",
    "Fill size, hashes and urls of a blank record; ?rev="
);
doc!(
    bundle_list,
    get,
    "/index/bundle/",
    "index",
    "List bundles (form=bundle by default; form=all adds records, form=object lists records); limit/start/page"
);
doc!(
    bundle_create,
    post,
    "/index/bundle/",
    "index",
    "Create a bundle of records and bundles (basic auth or policy); 200 {bundle_id, name, contents}"
);
doc!(
    bundle_get,
    get,
    "/index/bundle/{id}",
    "index",
    "A bundle as indexd's DRS-style document (?expand=true shows nested contents)"
);
doc!(
    bundle_delete,
    delete,
    "/index/bundle/{id}",
    "index",
    "Delete a bundle"
);
doc!(
    index_bulk,
    post,
    "/index/bulk/documents",
    "index",
    "Records for a JSON list of dids"
);
doc!(
    index_urls,
    get,
    "/index/urls/",
    "index",
    "URLs of records matching size/hash/ids"
);
doc!(
    index_query_urls,
    get,
    "/index/_query/urls/q",
    "index",
    "Records whose URLs include/exclude a substring"
);
doc!(
    index_query_urls_metadata,
    get,
    "/index/_query/urls/metadata/q",
    "index",
    "Records whose URL metadata has key=value"
);
doc!(
    index_mint,
    get,
    "/index/guid/mint",
    "index",
    "Mint new GUIDs (?count=, max 10000)"
);
doc!(
    index_prefix,
    get,
    "/index/guid/prefix",
    "index",
    "The configured GUID prefix"
);
doc!(
    index_dist,
    get,
    "/index/_dist",
    "index",
    "Distributed resolution configuration (indexd DIST)"
);
doc!(
    index_status,
    get,
    "/index/_status",
    "index",
    "indexd health: text Healthy"
);
doc!(
    index_version,
    get,
    "/index/_version",
    "index",
    "indexd-style version"
);
doc!(
    index_stats,
    get,
    "/index/_stats",
    "index",
    "File count and total size (?month=&year=)"
);
doc!(
    index_resolve,
    get,
    "/index/{id}",
    "index",
    "Global resolver: did, baseid, bundle id or alias"
);

doc!(
    drs_service_info,
    get,
    "/ga4gh/drs/v1/service-info",
    "drs",
    "DRS service-info"
);
doc!(
    drs_list,
    get,
    "/ga4gh/drs/v1/objects",
    "drs",
    "List DRS objects and bundles (limit/start/page, form=object|bundle)"
);
doc!(
    drs_bulk,
    post,
    "/ga4gh/drs/v1/objects",
    "drs",
    "Bulk DRS objects: {bulk_object_ids}"
);
doc!(
    drs_bulk_options,
    options,
    "/ga4gh/drs/v1/objects",
    "drs",
    "Bulk authorizations: {bulk_object_ids}"
);
doc!(
    drs_object,
    get,
    "/ga4gh/drs/v1/objects/{object_id}",
    "drs",
    "A DRS object or bundle (id, prefix:id or drs://host/id; ?expand=true)"
);
doc!(
    drs_object_post,
    post,
    "/ga4gh/drs/v1/objects/{object_id}",
    "drs",
    "A DRS object (POST form)"
);
doc!(
    drs_object_options,
    options,
    "/ga4gh/drs/v1/objects/{object_id}",
    "drs",
    "Authorizations of a DRS object"
);
doc!(
    drs_access,
    get,
    "/ga4gh/drs/v1/objects/{object_id}/access/{access_id}",
    "drs",
    "An access URL for the object"
);
doc!(
    drs_access_post,
    post,
    "/ga4gh/drs/v1/objects/{object_id}/access/{access_id}",
    "drs",
    "An access URL (POST form)"
);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "weft",
        description = "A Gen3-compatible data commons: indexd API and GA4GH DRS."
    ),
    paths(
        home,
        status,
        version,
        metrics,
        index_list,
        index_create,
        index_get,
        index_update,
        index_delete,
        index_new_version,
        index_versions,
        index_versions_update,
        index_latest,
        index_aliases,
        index_aliases_add,
        index_aliases_replace,
        index_aliases_delete,
        index_alias_delete,
        index_blank,
        index_blank_version,
        index_blank_update,
        bundle_list,
        bundle_create,
        bundle_get,
        bundle_delete,
        index_bulk,
        index_urls,
        index_query_urls,
        index_query_urls_metadata,
        index_mint,
        index_prefix,
        index_dist,
        index_status,
        index_version,
        index_stats,
        index_resolve,
        drs_service_info,
        drs_list,
        drs_bulk,
        drs_bulk_options,
        drs_object,
        drs_object_post,
        drs_object_options,
        drs_access,
        drs_access_post,
    )
)]
pub struct ApiDoc;

/// The OpenAPI document.
#[must_use]
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub fn router() -> Router<SharedState> {
    Router::new().merge(SwaggerUi::new("/api").url("/openapi.json", document()))
}
