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
    user_get_user_well_known_jwks,
    get,
    "/user/.well-known/jwks",
    "user",
    "Token verification keys (JWKS)"
);
doc!(
    user_get_well_known_jwks,
    get,
    "/.well-known/jwks",
    "user",
    "Token verification keys (JWKS, root alias)"
);
doc!(
    user_get_user_jwt_keys,
    get,
    "/user/jwt/keys",
    "user",
    "Token verification keys, fence's legacy [[kid, PEM]] form"
);
doc!(
    user_get_user_well_known_openid_configuration,
    get,
    "/user/.well-known/openid-configuration",
    "user",
    "OpenID Connect discovery"
);
doc!(
    user_get_well_known_openid_configuration,
    get,
    "/.well-known/openid-configuration",
    "user",
    "OpenID Connect discovery (root alias)"
);
doc!(
    user_get_user_user,
    get,
    "/user/user",
    "user",
    "The token's user, with its authz mapping"
);
doc!(
    user_get_user_credentials_api,
    get,
    "/user/credentials/api",
    "user",
    "The caller's API keys"
);
doc!(
    user_post_user_credentials_api,
    post,
    "/user/credentials/api",
    "user",
    "Create an API key (credentials.json)"
);
doc!(
    user_delete_user_credentials_api_jti,
    delete,
    "/user/credentials/api/{jti}",
    "user",
    "Revoke an API key"
);
doc!(
    user_post_user_credentials_api_access_token,
    post,
    "/user/credentials/api/access_token",
    "user",
    "Exchange an API key for an access token"
);
doc!(
    user_get_user_credentials_cdis,
    get,
    "/user/credentials/cdis",
    "user",
    "The caller's API keys (deprecated alias)"
);
doc!(
    user_post_user_credentials_cdis,
    post,
    "/user/credentials/cdis",
    "user",
    "Create an API key (deprecated alias)"
);
doc!(
    user_delete_user_credentials_cdis_jti,
    delete,
    "/user/credentials/cdis/{jti}",
    "user",
    "Revoke an API key (deprecated alias)"
);
doc!(
    user_post_user_credentials_cdis_access_token,
    post,
    "/user/credentials/cdis/access_token",
    "user",
    "Exchange an API key for an access token (the SDK's path)"
);
doc!(
    user_get_user_login,
    get,
    "/user/login",
    "user",
    "The login providers (fence's {default_provider, providers})"
);
doc!(
    user_get_user_login_idp,
    get,
    "/user/login/{idp}",
    "user",
    "Log in through a provider (?redirect= where to go after)"
);
doc!(
    user_get_user_login_idp_login,
    get,
    "/user/login/{idp}/login",
    "user",
    "The provider's callback: finishes the login, starts a session"
);
doc!(
    user_get_user_logout,
    get,
    "/user/logout",
    "user",
    "End the browser session (?next= where to go after)"
);
doc!(
    user_get_user_oauth2_authorize,
    get,
    "/user/oauth2/authorize",
    "user",
    "OAuth2/OIDC authorization request (code flow, PKCE)"
);
doc!(
    user_post_user_oauth2_authorize,
    post,
    "/user/oauth2/authorize",
    "user",
    "OAuth2/OIDC authorization request, or the consent form's answer"
);
doc!(
    user_post_user_oauth2_token,
    post,
    "/user/oauth2/token",
    "user",
    "OAuth2 token endpoint: authorization_code, refresh_token, client_credentials"
);
doc!(
    user_post_user_oauth2_revoke,
    post,
    "/user/oauth2/revoke",
    "user",
    "Revoke a refresh token (RFC 7009)"
);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "weft",
        description = "A Gen3-compatible data commons: indexd API, GA4GH DRS and the policy engine (arborist API under /authz)."
    ),
    modifiers(&SecuritySchemes),
    paths(
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
        user_get_user_well_known_jwks,
        user_get_well_known_jwks,
        user_get_user_jwt_keys,
        user_get_user_well_known_openid_configuration,
        user_get_well_known_openid_configuration,
        user_get_user_user,
        user_get_user_credentials_api,
        user_post_user_credentials_api,
        user_delete_user_credentials_api_jti,
        user_post_user_credentials_api_access_token,
        user_get_user_credentials_cdis,
        user_post_user_credentials_cdis,
        user_delete_user_credentials_cdis_jti,
        user_post_user_credentials_cdis_access_token,
        user_get_user_login,
        user_get_user_login_idp,
        user_get_user_login_idp_login,
        user_get_user_logout,
        user_get_user_oauth2_authorize,
        user_post_user_oauth2_authorize,
        user_post_user_oauth2_token,
        user_post_user_oauth2_revoke,
    )
)]
pub struct ApiDoc;

/// The OpenAPI document: the stubs above, and each router module's own part.
#[must_use]
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(under("", "index", crate::index::Api::openapi()));
    doc.merge(under("", "drs", crate::drs::Api::openapi()));
    doc.merge(under("", "system", crate::system::Api::openapi()));
    doc.merge(under("", "data", crate::data::Api::openapi()));
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
