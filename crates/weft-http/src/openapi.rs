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
    authz_get,
    get,
    "/authz",
    "authz",
    "Decision by query (public alias of auth/proxy): resource, service, method"
);
doc!(
    authz_get_health,
    get,
    "/authz/health",
    "authz",
    "Health of the policy engine"
);
doc!(
    authz_get_mapping,
    get,
    "/authz/mapping",
    "authz",
    "The caller's auth mapping (public alias)"
);
doc!(
    authz_get_resources,
    get,
    "/authz/resources",
    "authz",
    "Resources the caller may act on (public alias)"
);
doc!(
    authz_get_auth_mapping,
    get,
    "/authz/auth/mapping",
    "authz",
    "The caller's auth mapping: resource path to granted actions"
);
doc!(
    authz_post_auth_mapping,
    post,
    "/authz/auth/mapping",
    "authz",
    "Auth mapping of the caller, a named user or a client"
);
doc!(
    authz_get_auth_proxy,
    get,
    "/authz/auth/proxy",
    "authz",
    "Decision for the bearer token: 200, 401 or 403"
);
doc!(
    authz_post_auth_request,
    post,
    "/authz/auth/request",
    "authz",
    "Decisions for a token, a user or anonymous (all requests must pass)"
);
doc!(
    authz_get_auth_resources,
    get,
    "/authz/auth/resources",
    "authz",
    "Resources the caller may act on"
);
doc!(
    authz_post_auth_resources,
    post,
    "/authz/auth/resources",
    "authz",
    "Resources a token may act on"
);
doc!(
    authz_get_policy,
    get,
    "/authz/policy",
    "authz",
    "List policies (expand: with roles)"
);
doc!(
    authz_post_policy,
    post,
    "/authz/policy",
    "authz",
    "Create a policy"
);
doc!(
    authz_put_policy,
    put,
    "/authz/policy",
    "authz",
    "Overwrite a policy named in the body"
);
doc!(
    authz_get_policy_id,
    get,
    "/authz/policy/{id}",
    "authz",
    "A policy"
);
doc!(
    authz_put_policy_id,
    put,
    "/authz/policy/{id}",
    "authz",
    "Overwrite a policy"
);
doc!(
    authz_delete_policy_id,
    delete,
    "/authz/policy/{id}",
    "authz",
    "Delete a policy"
);
doc!(
    authz_put_bulk_policy,
    put,
    "/authz/bulk/policy",
    "authz",
    "Create or overwrite several policies"
);
doc!(
    authz_get_resource,
    get,
    "/authz/resource",
    "authz",
    "List resources"
);
doc!(
    authz_post_resource,
    post,
    "/authz/resource",
    "authz",
    "Create a resource (and subresources; p: create parents)"
);
doc!(
    authz_put_resource,
    put,
    "/authz/resource",
    "authz",
    "Create or update a resource (merge: keep unlisted children)"
);
doc!(
    authz_get_resource_tag_tag,
    get,
    "/authz/resource/tag/{tag}",
    "authz",
    "A resource by tag"
);
doc!(
    authz_get_resource_path,
    get,
    "/authz/resource/{path}",
    "authz",
    "A resource by path"
);
doc!(
    authz_post_resource_path,
    post,
    "/authz/resource/{path}",
    "authz",
    "Create a resource under this parent"
);
doc!(
    authz_put_resource_path,
    put,
    "/authz/resource/{path}",
    "authz",
    "Create or update a resource under this parent"
);
doc!(
    authz_delete_resource_path,
    delete,
    "/authz/resource/{path}",
    "authz",
    "Delete a resource and everything below it"
);
doc!(authz_get_role, get, "/authz/role", "authz", "List roles");
doc!(
    authz_post_role,
    post,
    "/authz/role",
    "authz",
    "Create a role"
);
doc!(
    authz_get_role_id,
    get,
    "/authz/role/{id}",
    "authz",
    "A role"
);
doc!(
    authz_put_role_id,
    put,
    "/authz/role/{id}",
    "authz",
    "Create or overwrite a role"
);
doc!(
    authz_delete_role_id,
    delete,
    "/authz/role/{id}",
    "authz",
    "Delete a role"
);
doc!(authz_get_user, get, "/authz/user", "authz", "List users");
doc!(
    authz_post_user,
    post,
    "/authz/user",
    "authz",
    "Create a user"
);
doc!(
    authz_get_user_name,
    get,
    "/authz/user/{name}",
    "authz",
    "A user with groups and policies"
);
doc!(
    authz_patch_user_name,
    patch,
    "/authz/user/{name}",
    "authz",
    "Rename a user or change the email"
);
doc!(
    authz_delete_user_name,
    delete,
    "/authz/user/{name}",
    "authz",
    "Delete a user"
);
doc!(
    authz_post_user_name_policy,
    post,
    "/authz/user/{name}/policy",
    "authz",
    "Grant a policy (expires_at optional)"
);
doc!(
    authz_delete_user_name_policy,
    delete,
    "/authz/user/{name}/policy",
    "authz",
    "Revoke every policy (of the X-AuthZ-Provider, if given)"
);
doc!(
    authz_post_user_name_bulk_policy,
    post,
    "/authz/user/{name}/bulk/policy",
    "authz",
    "Grant several policies"
);
doc!(
    authz_delete_user_name_policy_policy,
    delete,
    "/authz/user/{name}/policy/{policy}",
    "authz",
    "Revoke a policy"
);
doc!(
    authz_get_user_name_resources,
    get,
    "/authz/user/{name}/resources",
    "authz",
    "Resources a user may act on (service, method filters)"
);
doc!(
    authz_get_client,
    get,
    "/authz/client",
    "authz",
    "List OAuth clients"
);
doc!(
    authz_post_client,
    post,
    "/authz/client",
    "authz",
    "Create a client"
);
doc!(
    authz_get_client_id,
    get,
    "/authz/client/{id}",
    "authz",
    "A client"
);
doc!(
    authz_delete_client_id,
    delete,
    "/authz/client/{id}",
    "authz",
    "Delete a client"
);
doc!(
    authz_post_client_id_policy,
    post,
    "/authz/client/{id}/policy",
    "authz",
    "Grant a policy to a client"
);
doc!(
    authz_delete_client_id_policy,
    delete,
    "/authz/client/{id}/policy",
    "authz",
    "Revoke every policy of a client"
);
doc!(
    authz_delete_client_id_policy_policy,
    delete,
    "/authz/client/{id}/policy/{policy}",
    "authz",
    "Revoke a policy of a client"
);
doc!(authz_get_group, get, "/authz/group", "authz", "List groups");
doc!(
    authz_post_group,
    post,
    "/authz/group",
    "authz",
    "Create a group"
);
doc!(
    authz_put_group,
    put,
    "/authz/group",
    "authz",
    "Create or overwrite a group"
);
doc!(
    authz_get_group_name,
    get,
    "/authz/group/{name}",
    "authz",
    "A group"
);
doc!(
    authz_delete_group_name,
    delete,
    "/authz/group/{name}",
    "authz",
    "Delete a group"
);
doc!(
    authz_post_group_name_user,
    post,
    "/authz/group/{name}/user",
    "authz",
    "Add a user to a group (expires_at optional)"
);
doc!(
    authz_delete_group_name_user_user,
    delete,
    "/authz/group/{name}/user/{user}",
    "authz",
    "Remove a user from a group"
);
doc!(
    authz_post_group_name_policy,
    post,
    "/authz/group/{name}/policy",
    "authz",
    "Grant a policy to a group"
);
doc!(
    authz_delete_group_name_policy_policy,
    delete,
    "/authz/group/{name}/policy/{policy}",
    "authz",
    "Revoke a policy of a group"
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
        authz_get,
        authz_get_health,
        authz_get_mapping,
        authz_get_resources,
        authz_get_auth_mapping,
        authz_post_auth_mapping,
        authz_get_auth_proxy,
        authz_post_auth_request,
        authz_get_auth_resources,
        authz_post_auth_resources,
        authz_get_policy,
        authz_post_policy,
        authz_put_policy,
        authz_get_policy_id,
        authz_put_policy_id,
        authz_delete_policy_id,
        authz_put_bulk_policy,
        authz_get_resource,
        authz_post_resource,
        authz_put_resource,
        authz_get_resource_tag_tag,
        authz_get_resource_path,
        authz_post_resource_path,
        authz_put_resource_path,
        authz_delete_resource_path,
        authz_get_role,
        authz_post_role,
        authz_get_role_id,
        authz_put_role_id,
        authz_delete_role_id,
        authz_get_user,
        authz_post_user,
        authz_get_user_name,
        authz_patch_user_name,
        authz_delete_user_name,
        authz_post_user_name_policy,
        authz_delete_user_name_policy,
        authz_post_user_name_bulk_policy,
        authz_delete_user_name_policy_policy,
        authz_get_user_name_resources,
        authz_get_client,
        authz_post_client,
        authz_get_client_id,
        authz_delete_client_id,
        authz_post_client_id_policy,
        authz_delete_client_id_policy,
        authz_delete_client_id_policy_policy,
        authz_get_group,
        authz_post_group,
        authz_put_group,
        authz_get_group_name,
        authz_delete_group_name,
        authz_post_group_name_user,
        authz_delete_group_name_user_user,
        authz_post_group_name_policy,
        authz_delete_group_name_policy_policy,
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
