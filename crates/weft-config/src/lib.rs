//! weft-config: one typed configuration tree for the whole binary.
//!
//! Sources, lowest precedence first: built-in defaults, a TOML file, `WEFT_*` environment
//! variables (`WEFT_LISTEN`, `WEFT_INDEX__GUID_PREFIX` for nested keys), then command-line
//! flags (applied by the binary). Unknown keys in the file are errors. Secrets are wrapped
//! in [`Secret`], whose `Debug` never prints them. This crate reads the environment only
//! through [`Config::load`]; nothing else in weft calls `std::env::var` for configuration.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod hub;
pub use hub::HubConfig;
pub mod workspace;
pub use workspace::WorkspaceConfig;

/// A value that must not appear in logs.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Errors while loading configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server binds. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// The public URL clients use (links, DRS hostnames, token issuers).
    /// Default `http://` + the listen address.
    pub base_url: Option<String>,
    /// Directory for the embedded SQLite database and local file storage. Default `./weft-data`.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; unset means SQLite at `<data_dir>/weft.db`.
    pub database_url: Option<Secret>,
    /// Largest accepted request body in bytes. Default 16 MiB.
    pub max_body_bytes: usize,
    /// Seconds a request may take before it is answered 408. Default 60.
    pub request_timeout_secs: u64,
    /// Log format: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// Database tuning.
    pub database: DatabaseConfig,
    /// The index service (indexd API).
    pub index: IndexConfig,
    /// GA4GH DRS.
    pub drs: DrsConfig,
    /// A fence user.yaml applied at every start (as `weft usersync PATH` would).
    pub usersync: Option<PathBuf>,
    pub authz: AuthzConfig,
    /// Where data objects live and how their signed URLs are made.
    pub storage: StorageConfig,
    /// How people log in: external OIDC providers, browser sessions.
    pub login: LoginConfig,
    /// The data hub (aggregate metadata service): enabled when it lists commons.
    pub hub: HubConfig,
    /// The metadata service (MDS API).
    pub mds: MdsConfig,
    /// Where Prometheus metrics are served.
    pub metrics: MetricsConfig,
    /// HTTPS on `listen` (off: plain HTTP, as behind a TLS-terminating load balancer).
    pub tls: TlsConfig,
    /// The data dictionary, which turns on graph submission (sheepdog's API).
    pub dictionary: DictionaryConfig,
    /// The explorer (tube's documents, guppy's API), served when a dictionary is configured.
    pub explore: ExploreConfig,
    /// The web portal: Gen3's data-portal pages, served by this binary.
    pub portal: PortalConfig,
    /// Workspaces (hatchery), manifests (manifestservice) and the workspace token service.
    pub workspace: WorkspaceConfig,
}

/// HTTPS served by weft itself: a certificate chain and its private key, PEM files read at
/// start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// The certificate chain (PEM), leaf first.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

impl TlsConfig {
    /// Whether weft serves HTTPS.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.cert.is_some() && self.key.is_some()
    }
}

/// The web portal at `/`: the commons' name and look, which pages it serves, and the
/// explorer's tabs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortalConfig {
    /// Serve the portal (else `/` is a plain page listing the APIs). Default true.
    pub enabled: bool,
    /// The commons' name, in every page's header. Default `weft`.
    pub name: String,
    /// A sentence or two on the home page.
    pub description: String,
    /// An SVG or PNG file shown beside the name (read at start); unset, weft's own mark.
    pub logo: Option<PathBuf>,
    /// Colours as `#rrggbb`.
    pub colors: PortalColors,
    /// The pages served, of `home`, `login`, `identity`, `dd`, `submission`, `explorer`,
    /// `discovery`, `files`, `workspace`. Default all (a page whose service is off says so).
    pub pages: Vec<String>,
    /// Node types counted per project on the home page; unset, the submittable types of
    /// the dictionary's `clinical`, `biospecimen` and `data_file` categories, at most 8.
    pub home_nodes: Vec<String>,
    /// The explorer's tabs; unset, one per guppy index with facets chosen from its fields.
    pub explorer: Vec<ExplorerTab>,
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            name: "weft".into(),
            description: "A Gen3-compatible data commons: find, explore, submit and download \
                          research data."
                .into(),
            logo: None,
            colors: PortalColors::default(),
            pages: Vec::new(),
            home_nodes: Vec::new(),
            explorer: Vec::new(),
        }
    }
}

/// The portal's colours (`#rrggbb`); the defaults meet WCAG AA contrast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortalColors {
    /// Header, buttons and links.
    pub primary: String,
    /// Highlights and chart bars.
    pub accent: String,
}

impl Default for PortalColors {
    fn default() -> Self {
        Self {
            primary: "#1d4f73".into(),
            accent: "#b3471d".into(),
        }
    }
}

/// One explorer tab (data-portal's `explorerConfig[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplorerTab {
    pub title: String,
    /// guppy's type (`case`, `file`).
    #[serde(rename = "type")]
    pub doc_type: String,
    /// Facet fields; unset, text fields with few values and every number field.
    #[serde(default)]
    pub facets: Vec<String>,
    /// Fields drawn as charts (bar; `pie:` before a name draws a pie); unset, the first two
    /// facets.
    #[serde(default)]
    pub charts: Vec<String>,
    /// Table columns; unset, the first eight fields.
    #[serde(default)]
    pub table: Vec<String>,
}

/// The explorer: which documents (tube's `etlMapping.yaml`), guppy's configuration, and how
/// much callers see of what they may not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExploreConfig {
    /// tube's mapping file; unset, a mapping is derived from the dictionary (a document per
    /// subject and per data file). Env `WEFT_EXPLORE__ETL_MAPPING`.
    pub etl_mapping: Option<PathBuf>,
    /// guppy's JSON configuration file (indices, tier level per index, missing-data alias).
    /// Env `WEFT_EXPLORE__GUPPY_CONFIG`.
    pub guppy_config: Option<PathBuf>,
    /// `private`, `regular` or `libre` (guppy's `TIER_ACCESS_LEVEL`).
    pub tier_access_level: String,
    /// Under `regular`, counts of fewer unreadable documents than this are hidden.
    pub tier_access_limit: u64,
}

impl Default for ExploreConfig {
    fn default() -> Self {
        Self {
            etl_mapping: None,
            guppy_config: None,
            tier_access_level: "private".into(),
            tier_access_limit: 1000,
        }
    }
}

/// The commons' data dictionary. Unset: no submission API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DictionaryConfig {
    /// A directory of node YAML files, a JSON dump file, or an `http(s)://` URL of a JSON
    /// dump (Gen3's `DICTIONARY_URL`). Env `WEFT_DICTIONARY__URL`.
    pub url: Option<String>,
}

/// Where `/metrics` (Prometheus text format) is served. Both unset by default: the public
/// port answers `/metrics` with 404 and no other listener is opened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// A listener of its own for `/metrics`, off the public port (e.g. `127.0.0.1:9464`),
    /// for a scraper on the same host or network. Default unset.
    pub listen: Option<SocketAddr>,
    /// A bearer token that opens `/metrics` on the public port
    /// (`Authorization: Bearer <token>`). Default unset.
    pub token: Option<Secret>,
}

/// The metadata service (Gen3 MDS API, under `/mds/` and `/mds-admin/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MdsConfig {
    /// Queries and reads need `mds_gateway` `access` on `/mds_metadata_queries` (MDS's
    /// `FORCE_AUTHZ_CHECK_FOR_METADATA_QUERIES`). Default off: metadata is public.
    pub force_authz_for_queries: bool,
    /// Most records one query returns (MDS's `METADATA_QUERY_RESULTS_LIMIT`). Default 2000.
    pub query_results_limit: u32,
    /// Key paths indexed at every start, so equality filters on them do not scan
    /// (more can be added with `POST /mds-admin/metadata_index/{path}`). Default `["_guid_type"]`.
    pub indexed_paths: Vec<String>,
}

impl Default for MdsConfig {
    fn default() -> Self {
        Self {
            force_authz_for_queries: false,
            query_results_limit: 2000,
            indexed_paths: vec!["_guid_type".to_owned()],
        }
    }
}

/// Login through external OpenID Connect providers, and browser sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Seconds a browser session lasts (fence's `SESSION_LIFETIME`). Default 28800.
    pub session_ttl: i64,
    /// Seconds an access token from the OAuth2 token endpoint lives (fence's
    /// `ACCESS_TOKEN_EXPIRES_IN`). Default 1200.
    pub access_token_ttl: i64,
    /// Seconds a refresh token lives (fence's `REFRESH_TOKEN_EXPIRES_IN`). Default 2592000.
    pub refresh_token_ttl: i64,
    /// Development only: `/user/login/mock` logs anyone in as this user, with no password
    /// (fence's mock login). Never set it on a reachable server.
    pub mock_user: Option<String>,
    /// The provider `/user/oauth2/authorize` sends people to when they are not logged in.
    /// Default: the only provider, or the first by name.
    pub default_provider: Option<String>,
    /// External OpenID Connect providers by name (the `{idp}` of `/user/login/{idp}`).
    pub oidc: std::collections::BTreeMap<String, OidcProviderConfig>,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            session_ttl: 28_800,
            access_token_ttl: 1_200,
            refresh_token_ttl: 2_592_000,
            mock_user: None,
            default_provider: None,
            oidc: std::collections::BTreeMap::new(),
        }
    }
}

/// One external OpenID Connect provider (another weft, Google, Keycloak, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// The issuer URL; its `/.well-known/openid-configuration` is read at first use.
    /// For a weft or fence: `<commons URL>/user`.
    pub issuer: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Scopes asked for. Default `["openid", "email"]`.
    #[serde(default = "default_oidc_scopes")]
    pub scopes: Vec<String>,
    /// The ID-token claim that names the user here. Default `email`.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// Shown on the login page. Default: the provider's name.
    #[serde(default)]
    pub display_name: Option<String>,
}

fn default_oidc_scopes() -> Vec<String> {
    vec!["openid".to_owned(), "email".to_owned()]
}

fn default_username_claim() -> String {
    "email".to_owned()
}

/// Object storage behind fence's data endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Directory of local objects (records' `file:///<key>` URLs). Default `<data_dir>/files`.
    pub local_root: Option<PathBuf>,
    /// Longest lifetime of a signed URL in seconds, and the default (fence's
    /// `MAX_PRESIGNED_URL_TTL`). Default 3600.
    pub max_presigned_url_ttl: u64,
    /// Where `POST /user/data/upload` puts new objects (fence's `DATA_UPLOAD_BUCKET`):
    /// `s3://BUCKET`, `gs://BUCKET` or `az://CONTAINER`, each configured below, or `file`
    /// for local storage. Default: local storage.
    pub data_upload_bucket: Option<String>,
    /// Other buckets an upload may name with `bucket` (fence's `ALLOWED_DATA_UPLOAD_BUCKETS`),
    /// spelled as `data_upload_bucket`.
    pub allowed_data_upload_buckets: Vec<String>,
    /// Seconds between two passes that fill blank records whose upload landed in a cloud
    /// bucket (what `weft index-uploads` does once). 0: never (run the command instead).
    pub index_uploads_interval_secs: u64,
    /// S3 (or S3-compatible) buckets by name (fence's `S3_BUCKETS` + `AWS_CREDENTIALS`).
    pub s3_buckets: BTreeMap<String, S3Bucket>,
    /// Google Cloud Storage buckets by name (fence's `GS_BUCKETS`).
    pub gs_buckets: BTreeMap<String, GsBucket>,
    /// Azure Blob Storage containers by name (fence's `AZ_BLOB_CONTAINER_URL` +
    /// `AZ_BLOB_CREDENTIALS`).
    pub azure_containers: BTreeMap<String, AzureContainer>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            local_root: None,
            max_presigned_url_ttl: 3600,
            data_upload_bucket: None,
            allowed_data_upload_buckets: Vec::new(),
            index_uploads_interval_secs: 0,
            s3_buckets: BTreeMap::new(),
            gs_buckets: BTreeMap::new(),
            azure_containers: BTreeMap::new(),
        }
    }
}

/// One S3 bucket: `s3://<name>/<key>` record URLs are signed with these credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Bucket {
    /// Default `us-east-1`.
    pub region: String,
    /// An S3-compatible endpoint (MinIO, Ceph, an emulator), e.g. `http://127.0.0.1:9000`.
    /// Default: AWS.
    pub endpoint_url: Option<String>,
    /// Static credentials; without them the instance's role (IMDS, ECS, web identity) is used.
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    /// Address the bucket as `<endpoint>/<bucket>` (path style) rather than
    /// `<bucket>.<endpoint>`. Default true with `endpoint_url`, false on AWS.
    pub path_style: Option<bool>,
    /// Allow a plain-HTTP endpoint (emulators). Default false.
    pub allow_http: bool,
}

impl Default for S3Bucket {
    fn default() -> Self {
        Self {
            region: "us-east-1".to_owned(),
            endpoint_url: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            path_style: None,
            allow_http: false,
        }
    }
}

/// One GCS bucket: `gs://<name>/<key>` record URLs are signed (V4) with its service account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GsBucket {
    /// A service-account key file (JSON with `private_key` and `client_email`); signing
    /// needs one. Default: application default credentials.
    pub service_account_key: Option<PathBuf>,
    /// Another endpoint than `https://storage.googleapis.com` (an emulator). Needs a
    /// service-account key, whose OAuth exchange is then skipped.
    pub endpoint_url: Option<String>,
    /// Allow a plain-HTTP endpoint (emulators). Default false.
    pub allow_http: bool,
}

/// One Azure Blob container: `az://<name>/<blob>` record URLs, and
/// `https://<account>.blob.core.windows.net/<name>/<blob>` ones, are signed with a SAS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureContainer {
    /// The storage account.
    pub account: String,
    /// The account's access key (base64), which signs the SAS.
    pub access_key: Option<Secret>,
    /// The account's blob endpoint when it is not `https://<account>.blob.core.windows.net`
    /// (Azurite: `http://127.0.0.1:10000/devstoreaccount1`).
    pub endpoint_url: Option<String>,
    /// Allow a plain-HTTP endpoint (emulators). Default false.
    pub allow_http: bool,
}

impl StorageConfig {
    /// Whether `bucket` (`s3://b`, `gs://b`, `az://c` or `file`) names a configured store.
    #[must_use]
    pub fn knows_bucket(&self, bucket: &str) -> bool {
        match bucket.split_once("://") {
            None => bucket == "file",
            Some(("s3", b)) => self.s3_buckets.contains_key(b),
            Some(("gs", b)) => self.gs_buckets.contains_key(b),
            Some(("az", c)) => self.azure_containers.contains_key(c),
            Some(_) => false,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let buckets = self
            .data_upload_bucket
            .iter()
            .chain(&self.allowed_data_upload_buckets);
        for b in buckets {
            if !self.knows_bucket(b) {
                return Err(ConfigError::Invalid(format!(
                    "storage upload bucket {b:?} is neither `file` nor a configured \
                     s3://, gs:// or az:// bucket"
                )));
            }
        }
        let endpoints = self
            .s3_buckets
            .iter()
            .map(|(n, b)| (n, b.endpoint_url.as_deref(), b.allow_http))
            .chain(
                self.gs_buckets
                    .iter()
                    .map(|(n, b)| (n, b.endpoint_url.as_deref(), b.allow_http)),
            )
            .chain(
                self.azure_containers
                    .iter()
                    .map(|(n, b)| (n, b.endpoint_url.as_deref(), b.allow_http)),
            );
        for (name, endpoint, allow_http) in endpoints {
            match endpoint {
                Some(e) if e.starts_with("https://") => {}
                Some(e) if e.starts_with("http://") && allow_http => {}
                Some(e) => {
                    return Err(ConfigError::Invalid(format!(
                        "storage bucket {name}: endpoint_url {e:?} must be https:// \
                         (or http:// with allow_http = true)"
                    )));
                }
                None => {}
            }
        }
        for (name, c) in &self.azure_containers {
            if c.account.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "storage.azure_containers.{name}: account is required"
                )));
            }
        }
        for (name, b) in &self.s3_buckets {
            if b.access_key_id.is_some() != b.secret_access_key.is_some() {
                return Err(ConfigError::Invalid(format!(
                    "storage.s3_buckets.{name}: access_key_id and secret_access_key go together"
                )));
            }
        }
        Ok(())
    }
}

/// The policy engine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthzConfig {
    /// Users who may always administer the policy engine (`arborist` on
    /// `/services/arborist`), whatever the policy set says: the way in on a new install.
    pub admin_users: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            base_url: None,
            data_dir: PathBuf::from("weft-data"),
            database_url: None,
            max_body_bytes: 16 * 1024 * 1024,
            request_timeout_secs: 60,
            log_format: LogFormat::Text,
            database: DatabaseConfig::default(),
            index: IndexConfig::default(),
            drs: DrsConfig::default(),
            usersync: None,
            authz: AuthzConfig::default(),
            storage: StorageConfig::default(),
            login: LoginConfig::default(),
            hub: HubConfig::default(),
            mds: MdsConfig::default(),
            dictionary: DictionaryConfig::default(),
            explore: ExploreConfig::default(),
            portal: PortalConfig::default(),
            workspace: WorkspaceConfig::default(),
            metrics: MetricsConfig::default(),
            tls: TlsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Database tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// PostgreSQL pool size. Default 16.
    pub max_connections: u32,
    /// SQLite read connections. Default 4.
    pub sqlite_readers: usize,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            sqlite_readers: 4,
        }
    }
}

/// The index service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexConfig {
    /// GUID prefix such as `dg.1234/` (indexd's `DEFAULT_PREFIX`). Empty: none.
    pub guid_prefix: String,
    /// indexd's `ADD_PREFIX_ALIAS`: keep new dids unprefixed and add `prefix + did` as an
    /// alias, instead of prefixing the did itself.
    pub add_prefix_alias: bool,
    /// Other index services the global resolver `GET /index/{id}` asks (indexd's `DIST`).
    pub dist: Vec<DistEntry>,
}

/// One remote index service for distributed resolution (indexd's `DIST` entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistEntry {
    pub name: String,
    /// Base URL ending in `/index/`, e.g. `https://other.example/index/`.
    pub host: String,
    /// Regular expressions; ids matching one are tried here first.
    #[serde(default)]
    pub hints: Vec<String>,
    /// Only `indexd` is supported.
    #[serde(default = "default_dist_type", rename = "type")]
    pub kind: String,
}

fn default_dist_type() -> String {
    "indexd".to_owned()
}

/// GA4GH DRS service-info fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrsConfig {
    /// `organization.name` in service-info.
    pub organization_name: String,
    /// `organization.url`; default the base URL.
    pub organization_url: Option<String>,
    /// `maxBulkRequestLength` for bulk object requests.
    pub max_bulk_request_length: usize,
}

impl Default for DrsConfig {
    fn default() -> Self {
        Self {
            organization_name: "weft".to_owned(),
            organization_url: None,
            max_bulk_request_length: 100,
        }
    }
}

/// Top-level keys an environment variable `WEFT_<KEY>` may set.
const ENV_KEYS: &[&str] = &[
    "listen",
    "base_url",
    "data_dir",
    "database_url",
    "max_body_bytes",
    "request_timeout_secs",
    "log_format",
    "database",
    "index",
    "drs",
    "usersync",
    "authz",
    "storage",
    "login",
    "hub",
    "mds",
    "metrics",
    "tls",
    "dictionary",
    "explore",
    "portal",
    "workspace",
];

impl Config {
    /// Load from an optional TOML file, then overlay `WEFT_*` variables from `env`.
    ///
    /// `env` is passed in (normally `std::env::vars()`) so tests can supply their own.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str::<toml::Table>(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?
            }
            None => toml::Table::new(),
        };
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("WEFT_") else {
                continue;
            };
            let key = rest.to_ascii_lowercase();
            let path: Vec<&str> = key.split("__").collect();
            if !ENV_KEYS.contains(&path[0]) {
                continue;
            }
            set_path(&mut table, &path, env_value(&value));
        }
        let config: Self = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.message().to_owned()))?;
        config.validate()?;
        Ok(config)
    }

    /// Re-check a configuration after overrides (e.g. command-line flags) were applied.
    pub fn load_validated(config: Self) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.database_url {
            let u = url.expose();
            if !(u.starts_with("postgres://")
                || u.starts_with("postgresql://")
                || u.starts_with("sqlite:"))
            {
                return Err(ConfigError::Invalid(
                    "database_url must start with postgres://, postgresql:// or sqlite:".into(),
                ));
            }
        }
        if let Some(b) = &self.base_url
            && !(b.starts_with("http://") || b.starts_with("https://"))
        {
            return Err(ConfigError::Invalid(
                "base_url must be an http(s) URL".into(),
            ));
        }
        if self.max_body_bytes == 0 {
            return Err(ConfigError::Invalid("max_body_bytes must be > 0".into()));
        }
        for (what, ttl) in [
            ("session_ttl", self.login.session_ttl),
            ("access_token_ttl", self.login.access_token_ttl),
            ("refresh_token_ttl", self.login.refresh_token_ttl),
        ] {
            if ttl <= 0 {
                return Err(ConfigError::Invalid(format!("login.{what} must be > 0")));
            }
        }
        if let Some(p) = &self.login.default_provider
            && !self.login.oidc.contains_key(p)
            && !(p == "mock" && self.login.mock_user.is_some())
        {
            return Err(ConfigError::Invalid(format!(
                "login.default_provider `{p}` is not a configured provider"
            )));
        }
        for (name, p) in &self.login.oidc {
            if name == "mock" {
                return Err(ConfigError::Invalid(
                    "login.oidc: `mock` is the name of the development login".into(),
                ));
            }
            if !(p.issuer.starts_with("http://") || p.issuer.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!(
                    "login.oidc.{name}.issuer must be an http(s) URL"
                )));
            }
        }
        self.storage.validate()?;
        self.hub.validate()?;
        self.workspace.validate()?;
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(ConfigError::Invalid(
                "tls needs both cert and key (PEM files), or neither".into(),
            ));
        }
        if let Some(t) = &self.metrics.token
            && t.expose().trim().len() < 16
        {
            return Err(ConfigError::Invalid(
                "metrics.token must be at least 16 characters".into(),
            ));
        }
        if self.storage.max_presigned_url_ttl == 0 {
            return Err(ConfigError::Invalid(
                "storage.max_presigned_url_ttl must be > 0".into(),
            ));
        }
        Ok(())
    }

    /// The public base URL without a trailing slash.
    #[must_use]
    pub fn public_base_url(&self) -> String {
        let url = self.base_url.clone().unwrap_or_else(|| {
            let scheme = if self.tls.enabled() { "https" } else { "http" };
            format!("{scheme}://{}", self.listen)
        });
        url.trim_end_matches('/').to_owned()
    }

    /// The SQLite database file used when no `database_url` is set.
    #[must_use]
    pub fn sqlite_path(&self) -> PathBuf {
        match self
            .database_url
            .as_ref()
            .and_then(|u| u.expose().strip_prefix("sqlite:"))
        {
            Some(p) => PathBuf::from(p.trim_start_matches("//")),
            None => self.data_dir.join("weft.db"),
        }
    }

    /// The directory local objects live in: `storage.local_root`, else `<data_dir>/files`.
    #[must_use]
    pub fn local_root(&self) -> PathBuf {
        self.storage
            .local_root
            .clone()
            .unwrap_or_else(|| self.data_dir.join("files"))
    }

    /// Whether PostgreSQL is configured.
    #[must_use]
    pub fn uses_postgres(&self) -> bool {
        self.database_url
            .as_ref()
            .is_some_and(|u| u.expose().starts_with("postgres"))
    }

    /// A commented example configuration with every default.
    #[must_use]
    pub fn example() -> String {
        EXAMPLE.to_owned()
    }
}

const EXAMPLE: &str = r##"# weft configuration. Every key is optional; shown values are the defaults.
# Each top-level key can also be set as WEFT_<KEY>, nested ones as WEFT_<SECTION>__<KEY>.

# Address the HTTP server binds.
listen = "127.0.0.1:8080"
# Public URL clients use (links, DRS hostnames, token issuers). Default: http:// + listen.
# base_url = "https://commons.example.org"
# Embedded SQLite database and local file storage live here.
data_dir = "weft-data"
# PostgreSQL instead of SQLite:
# database_url = "postgres://weft@127.0.0.1:5432/weft"
# Largest accepted request body, in bytes.
max_body_bytes = 16777216
# Seconds before a request times out.
request_timeout_secs = 60
# "text" or "json".
log_format = "text"
# A fence user.yaml (policies, users, groups) applied at every start, as `weft usersync`:
# usersync = "examples/user.yaml"

[database]
# PostgreSQL connection pool size.
max_connections = 16
# SQLite read connections.
sqlite_readers = 4

[index]
# GUID prefix, e.g. "dg.1234/" (indexd DEFAULT_PREFIX). Empty for none.
guid_prefix = ""
# Keep dids unprefixed and register prefix+did as an alias instead (indexd ADD_PREFIX_ALIAS).
add_prefix_alias = false
# Remote index services for the global resolver (indexd DIST):
# [[index.dist]]
# name = "other commons"
# host = "https://other.example.org/index/"
# hints = ["dg\\.4321/.*"]
# type = "indexd"

[drs]
organization_name = "weft"
# organization_url = "https://commons.example.org"
max_bulk_request_length = 100

[authz]
# Users who may always administer the policy engine (service `arborist`), whatever the
# policy set says. Give one a token with `weft token create --user NAME`.
admin_users = []

[storage]
# Local objects: a record URL `file:///<key>` is the file <local_root>/<key>, served by weft
# itself behind an HMAC-signed, expiring URL. Default: <data_dir>/files.
# local_root = "/srv/weft/files"
# Longest (and default) lifetime of a signed URL, in seconds (fence MAX_PRESIGNED_URL_TTL).
max_presigned_url_ttl = 3600
# Where POST /user/data/upload puts new objects (fence DATA_UPLOAD_BUCKET): "file" (local
# storage) or "s3://NAME", "gs://NAME", "az://NAME" configured below. Default: local storage.
# data_upload_bucket = "s3://my-upload-bucket"
# Other buckets an upload may name (fence ALLOWED_DATA_UPLOAD_BUCKETS).
allowed_data_upload_buckets = []
# Seconds between passes filling blank records whose upload landed in a cloud bucket
# (as `weft index-uploads`); 0 = never.
index_uploads_interval_secs = 0

# S3 buckets (fence S3_BUCKETS); record URLs s3://NAME/KEY are presigned with these.
# [storage.s3_buckets.my-upload-bucket]
# region = "us-east-1"
# endpoint_url = "https://minio.example.org"   # S3-compatible stores; default AWS
# access_key_id = "AKIA..."                    # default: the instance role
# secret_access_key = "..."
# path_style = true                            # default: true with endpoint_url
# allow_http = false

# Google Cloud Storage buckets (fence GS_BUCKETS); gs://NAME/KEY.
# [storage.gs_buckets.my-gcs-bucket]
# service_account_key = "/etc/weft/gcs-key.json"

# Azure Blob containers (fence AZ_BLOB_CONTAINER_URL); az://NAME/BLOB and
# https://ACCOUNT.blob.core.windows.net/NAME/BLOB.
# [storage.azure_containers.my-container]
# account = "mystorageaccount"
# access_key = "base64..."

[login]
# Seconds a browser session lasts (fence SESSION_LIFETIME).
session_ttl = 28800
# Lifetimes of tokens from /user/oauth2/token (fence ACCESS_TOKEN_EXPIRES_IN,
# REFRESH_TOKEN_EXPIRES_IN).
access_token_ttl = 1200
refresh_token_ttl = 2592000
# Development only: /user/login/mock logs anyone in as this user, without a password.
# mock_user = "dev@example.org"
# Where /user/oauth2/authorize sends people who are not logged in (default: the only or
# first provider).
# default_provider = "keycloak"
# External OpenID Connect providers; users log in at /user/login/<name>. Register
# <base_url>/user/login/<name>/login as the redirect URI at the provider.
# [login.oidc.keycloak]
# issuer = "https://idp.example.org/realms/research"
# client_id = "weft"
# client_secret = "..."
# scopes = ["openid", "email"]
# username_claim = "email"

[hub]
# The data hub (aggregate metadata service, /mds/aggregate/...), on when it lists commons.
# Aggregate MDS's own JSON configuration file (configuration, gen3_commons, adapter_commons):
# config_file = "examples/mesh/hub.json"
# Seconds between two pulls of each commons.
sync_interval_secs = 3600
# First retry of a failed pull after this many seconds, doubling up to sync_interval_secs.
retry_min_secs = 5
# Seconds one page request to a commons may take.
request_timeout_secs = 60
# Largest page body a commons may answer (bytes); a longer or endless one fails its pull.
max_page_bytes = 67108864
# Most page bytes, and most distinct records, one pull of a commons may bring.
max_pull_bytes = 2147483648
max_pull_records = 1000000
# Discovery search index directory, rebuilt at start. Default: <data_dir>/hub-search.
# search_dir = "/var/lib/weft/hub-search"
# Commons inline, in the same format as the JSON file (docs/compat/hub.md):
# [hub.gen3_commons.commons-a]
# mds_url = "http://127.0.0.1:8081"
# commons_url = "127.0.0.1:8081"
# drs_prefixes = ["dg.AAAA"]     # weft: GUID prefixes this commons owns
# [hub.adapter_commons.commons-b]
# mds_url = "http://127.0.0.1:8082"
# commons_url = "127.0.0.1:8082"
# adapter = "gen3"
# field_mappings = { full_name = "path:study_title", commons = "Commons B" }
[mds]
# Reads and queries of /mds/metadata need `mds_gateway` `access` on /mds_metadata_queries
# (MDS FORCE_AUTHZ_CHECK_FOR_METADATA_QUERIES). Writes always need it on /mds_gateway.
force_authz_for_queries = false
# Most records one query returns (MDS METADATA_QUERY_RESULTS_LIMIT).
query_results_limit = 2000
# Key paths indexed at every start, so equality filters on them do not scan.
indexed_paths = ["_guid_type"]

[dictionary]
# The data dictionary, which turns on graph submission (/api/v0/submission/): a directory of
# node YAML files, a JSON dump file, or the http(s) URL of a dump. Unset: no submission API.
# url = "/srv/dictionary/gdcdictionary/schemas"

[explore]
# The explorer (guppy's API at /guppy/), served with the dictionary. Its documents follow
# tube's etlMapping.yaml; unset, a mapping is derived from the dictionary (a document per
# case or subject, and per data file).
# etl_mapping = "/srv/etlMapping.yaml"
# guppy's JSON configuration (indices, tier_access_level per index, missing_data_alias).
# guppy_config = "/srv/guppy_config.json"
# "private" (only what the caller may read), "regular" (counts of all, small ones hidden)
# or "libre" (everything).
tier_access_level = "private"
# Under "regular", counts of fewer unreadable documents than this show as -1.
tier_access_limit = 1000

[portal]
# The web portal at / (home, login, profile and API keys, dictionary, submission, explorer,
# discovery, file pages), served by this binary with nothing fetched from elsewhere.
enabled = true
name = "weft"
# description = "A Gen3-compatible data commons: ..."
# logo = "/srv/logo.svg"
# Which pages to serve; unset, all of home, login, identity, dd, submission, explorer,
# discovery, files, workspace.
# pages = ["home", "login", "identity", "dd", "explorer", "discovery", "files"]
# Node types counted per project on the home page; unset, chosen from the dictionary.
# home_nodes = ["case", "sample", "aliquot"]

[portal.colors]
primary = "#1d4f73"
accent = "#b3471d"

# Explorer tabs; unset, one per guppy index.
# [[portal.explorer]]
# title = "Cases"
# type = "case"
# facets = ["gender", "race", "ethnicity", "age_at_diagnosis"]
# charts = ["gender", "pie:race"]
# table = ["submitter_id", "project_id", "gender", "race"]

[workspace]
# Notebooks next to the data (hatchery at /lw-workspace/). With no kinds listed, the
# `jupyterlab` kind is offered once `weft workspace setup` has installed it.
enabled = true
# "local" (a process per user on this machine) or "kubernetes".
backend = "local"
# dir = "<data_dir>/workspaces"
# python_env = "<dir>/env/jupyterlab"
# Each notebook as a uid of its own (needs root); default: true when weft runs as root.
# separate_users = true
uid_base = 200000
launch_timeout_secs = 120
check_interval_secs = 15
api_key_minutes = 43200
# [[workspace.kinds]]
# name = "JupyterLab, 2 CPUs"
# command = ["/srv/env/bin/jupyter", "lab", "--ServerApp.port={port}", "--ServerApp.base_url={base_url}"]
# image = "quay.io/jupyter/minimal-notebook"   # kubernetes
# cpu_limit = "2"
# memory_limit = "4Gi"
# idle_limit_secs = 3600
# rate_per_hour = 0.5
# resource_paths = ["/workspace/large"]
# pay_models = ["Direct Pay"]
# [workspace.default_pay_model]
# workspace_type = "Trial Workspace"
# soft_limit = 80.0
# hard_limit = 100.0
# Another commons a workspace here may pull from (the workspace token service):
# [workspace.external_oidc.commons-a]
# base_url = "https://a.example.org"
# client_id = "..."
# client_secret = "..."

[workspace.kubernetes]
namespace = "jupyter-pods"
volume_size = "10Gi"
user_volume_location = "/home/jovyan/pd"

[tls]
# HTTPS on `listen` (else plain HTTP, as behind a TLS-terminating load balancer):
# cert = "/srv/tls/fullchain.pem"
# key = "/srv/tls/privkey.pem"

[metrics]
# Prometheus metrics are not served on the public port unless a token is set here.
# A listener of its own for /metrics, off the public port:
# listen = "127.0.0.1:9464"
# Or open /metrics on the public port to `Authorization: Bearer <token>` (16+ characters):
# token = "..."
"##;

/// A bare environment string as TOML: numbers and booleans typed, everything else a string.
fn env_value(raw: &str) -> toml::Value {
    // A TOML array or inline table: `WEFT_AUTHZ__ADMIN_USERS='["a@x.org", "b@x.org"]'`.
    if raw.trim_start().starts_with(['[', '{'])
        && let Ok(mut t) = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        && let Some(v) = t.remove("v")
    {
        return v;
    }
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_owned()),
    }
}

fn set_path(table: &mut toml::Table, path: &[&str], value: toml::Value) {
    let (first, rest) = (path[0], &path[1..]);
    if rest.is_empty() {
        table.insert(first.to_owned(), value);
        return;
    }
    let entry = table
        .entry(first.to_owned())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !entry.is_table() {
        *entry = toml::Value::Table(toml::Table::new());
    }
    if let toml::Value::Table(t) = entry {
        set_path(t, rest, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lists_are_toml_arrays() {
        let c = Config::load(
            None,
            env(&[("WEFT_AUTHZ__ADMIN_USERS", r#"["a@x.org", "b@x.org"]"#)]),
        )
        .unwrap();
        assert_eq!(c.authz.admin_users, vec!["a@x.org", "b@x.org"]);
        let c = Config::load(None, env(&[("WEFT_INDEX__GUID_PREFIX", "[not toml")])).unwrap();
        assert_eq!(c.index.guid_prefix, "[not toml");
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn storage_buckets_from_file_and_env() {
        let dir = std::env::temp_dir().join(format!("weft-config-storage-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("weft.toml");
        std::fs::write(
            &file,
            "[storage]\ndata_upload_bucket = \"s3://up-load\"\n\
             [storage.s3_buckets.up-load]\nregion = \"eu-west-1\"\n\
             access_key_id = \"AK\"\nsecret_access_key = \"SK\"\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&file),
            env(&[(
                "WEFT_STORAGE__AZURE_CONTAINERS",
                r#"{ box = { account = "acct", access_key = "a2V5" } }"#,
            )]),
        )
        .unwrap();
        let b = &c.storage.s3_buckets["up-load"];
        assert_eq!(b.region, "eu-west-1");
        assert_eq!(format!("{:?}", b.secret_access_key), "Some(Secret(***))");
        assert_eq!(c.storage.azure_containers["box"].account, "acct");
        assert!(c.storage.knows_bucket("az://box"));
        assert!(c.storage.knows_bucket("file"));
        assert!(!c.storage.knows_bucket("gs://up-load"));

        // an upload bucket that is not configured, an http endpoint without allow_http,
        // half a key pair, an Azure container without account
        for bad in [
            vec![("WEFT_STORAGE__DATA_UPLOAD_BUCKET", "s3://nowhere")],
            vec![(
                "WEFT_STORAGE__S3_BUCKETS",
                r#"{ b = { endpoint_url = "http://127.0.0.1:9000" } }"#,
            )],
            vec![(
                "WEFT_STORAGE__S3_BUCKETS",
                r#"{ b = { access_key_id = "x" } }"#,
            )],
            vec![("WEFT_STORAGE__AZURE_CONTAINERS", r#"{ c = { } }"#)],
            vec![(
                "WEFT_STORAGE__ALLOWED_DATA_UPLOAD_BUCKETS",
                r#"["ftp://x"]"#,
            )],
        ] {
            let err = Config::load(None, env(&bad)).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid(_)), "{bad:?}: {err}");
        }
        let ok = Config::load(
            None,
            env(&[(
                "WEFT_STORAGE__S3_BUCKETS",
                r#"{ b = { endpoint_url = "http://127.0.0.1:9000", allow_http = true } }"#,
            )]),
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn defaults() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_base_url(), "http://127.0.0.1:8080");
        assert_eq!(c.sqlite_path(), PathBuf::from("weft-data/weft.db"));
        assert!(!c.uses_postgres());
    }

    #[test]
    fn example_parses_to_defaults() {
        let c: Config = toml::from_str(&Config::example()).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn file_then_env() {
        let dir = std::env::temp_dir().join(format!("weft-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("weft.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\n[index]\nguid_prefix = \"dg.1/\"\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&file),
            env(&[
                ("WEFT_LISTEN", "127.0.0.1:9001"),
                ("WEFT_INDEX__ADD_PREFIX_ALIAS", "true"),
                ("WEFT_DICTIONARY__URL", "/srv/dictionary"),
                ("WEFT_DATABASE_URL", "postgres://u@h/db"),
                ("WEFT_TEST_DATABASE_URL", "ignored"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9001");
        assert_eq!(c.index.guid_prefix, "dg.1/");
        assert!(c.index.add_prefix_alias);
        assert_eq!(c.dictionary.url.as_deref(), Some("/srv/dictionary"));
        assert!(c.uses_postgres());
        assert_eq!(format!("{:?}", c.database_url), "Some(Secret(***))");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let dir = std::env::temp_dir().join(format!("weft-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("weft.toml");
        std::fs::write(&file, "lisen = \"0.0.0.0:9000\"\n").unwrap();
        let err = Config::load(Some(&file), env(&[])).unwrap_err().to_string();
        assert!(err.contains("lisen"), "{err}");
        let err = Config::load(None, env(&[("WEFT_DATABASE_URL", "mysql://x")])).unwrap_err();
        assert!(err.to_string().contains("database_url"));
        let err = Config::load(None, env(&[("WEFT_LISTEN", "nope")])).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid(_)));
    }
}
