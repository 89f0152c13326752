//! The weft binary's library half: the composition root.
//!
//! It is the only place that picks concrete backends (SQLite or PostgreSQL, the policy
//! authorizer, the object stores and their URL signer) from configuration and wires them
//! into the services and the HTTP app. `main.rs` is the CLI on top; integration tests build
//! the same app through [`build`].

pub mod access;
pub mod import;
pub mod tls;
pub mod upload;
pub mod workspace;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use weft_authz::AuthzService;
use weft_config::Config;
use weft_identity::Tokens;
use weft_identity::login::Login;
use weft_identity::oauth::OAuth;
use weft_indexd::drs::DrsContext;
use weft_indexd::{IndexService, IndexUserAuthorizer};
use weft_store::{
    AuthzStore, GraphStore, HubStore, IdentityStore, IndexStore, MetadataStore, OAuthStore,
    WorkspaceStore,
};
pub use weft_tasks::Runner;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = env!("WEFT_COMMIT");

/// The configured PostgreSQL URL ("" when none is set; callers check `uses_postgres`).
fn postgres_url(config: &Config) -> String {
    config
        .database_url
        .as_ref()
        .map(|u| u.expose().to_owned())
        .unwrap_or_default()
}

/// One database, seen through each service's store trait.
#[derive(Clone)]
pub struct Stores {
    pub index: Arc<dyn IndexStore>,
    pub authz: Arc<dyn AuthzStore>,
    pub identity: Arc<dyn IdentityStore>,
    pub oauth: Arc<dyn OAuthStore>,
    pub metadata: Arc<dyn MetadataStore>,
    pub hub: Arc<dyn HubStore>,
    pub graph: Arc<dyn GraphStore>,
    pub workspace: Arc<dyn WorkspaceStore>,
    /// The concrete backend, for the background work it needs ([`Stores::start_tasks`]).
    backend: Backend,
}

/// The concrete store behind [`Stores`].
#[derive(Clone)]
enum Backend {
    Sqlite(weft_store_sqlite::SqliteStore),
    Postgres(weft_store_postgres::PostgresStore),
}

impl Stores {
    fn of<
        S: IndexStore
            + AuthzStore
            + IdentityStore
            + OAuthStore
            + MetadataStore
            + HubStore
            + GraphStore
            + WorkspaceStore,
    >(
        store: S,
        backend: Backend,
    ) -> Self {
        let store = Arc::new(store);
        Self {
            index: Arc::clone(&store) as Arc<dyn IndexStore>,
            authz: Arc::clone(&store) as Arc<dyn AuthzStore>,
            identity: Arc::clone(&store) as Arc<dyn IdentityStore>,
            oauth: Arc::clone(&store) as Arc<dyn OAuthStore>,
            metadata: Arc::clone(&store) as Arc<dyn MetadataStore>,
            hub: Arc::clone(&store) as Arc<dyn HubStore>,
            workspace: Arc::clone(&store) as Arc<dyn WorkspaceStore>,
            graph: store,
            backend,
        }
    }

    /// Start the background work the backend needs while a server runs: on SQLite the WAL
    /// checkpointer (a thread of its own, restarted if a checkpoint fails), on PostgreSQL
    /// the `LISTEN weft_authz` follower (restarted, listening again and re-reading the
    /// version, when its connection is lost). Call before [`authz_service`], so the policy
    /// engine follows the pushed versions.
    pub fn start_tasks(&self, runner: &Runner) {
        match &self.backend {
            Backend::Sqlite(store) => {
                let checkpointer = store.checkpointer();
                runner.spawn_blocking("sqlite-checkpointer", move |ctx| {
                    checkpointer.run(ctx.stop_flag(), &|| ctx.succeeded())?;
                    Ok(())
                });
            }
            Backend::Postgres(store) => {
                let follower = store.authz_follower();
                runner.spawn("authz-listener", move |ctx| {
                    let follower = follower.clone();
                    async move {
                        follower.run(ctx.cancelled(), || ctx.succeeded()).await?;
                        Ok(())
                    }
                });
            }
        }
    }
}

/// The data hub of the configuration (`None` when it lists no commons), its search index
/// rebuilt from the store in `hub.search_dir` (default `<data_dir>/hub-search`).
pub async fn hub_service(
    config: &Config,
    stores: &Stores,
) -> anyhow::Result<Option<Arc<weft_hub::HubService>>> {
    let dir = config
        .hub
        .search_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("hub-search"));
    weft_hub::HubService::open(&config.hub, Arc::clone(&stores.hub), Some(&dir))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Pull every configured commons once (what `weft hub sync` does), without a search index:
/// a running hub re-indexes what changed within seconds.
pub async fn hub_sync(
    config: &Config,
    stores: &Stores,
    only: Option<&str>,
) -> anyhow::Result<Vec<weft_hub::service::SyncOutcome>> {
    let hub = weft_hub::HubService::open_without_search(&config.hub, Arc::clone(&stores.hub))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ok_or_else(|| {
            anyhow::anyhow!("no hub is configured: the [hub] section lists no commons")
        })?;
    match only {
        None => Ok(hub.sync_all().await),
        Some(name) => {
            if !hub.specs().iter().any(|s| s.name == name) {
                anyhow::bail!("no commons {name:?} is configured");
            }
            let result = hub.sync_one(name).await.map_err(|e| e.to_string());
            Ok(vec![weft_hub::service::SyncOutcome {
                commons: name.to_owned(),
                result,
            }])
        }
    }
}

/// Open the configured database, applying migrations.
pub async fn open_stores(config: &Config) -> anyhow::Result<Stores> {
    if config.uses_postgres() {
        let url = postgres_url(config);
        let store =
            weft_store_postgres::PostgresStore::connect(&url, config.database.max_connections)
                .await
                .context("connecting to PostgreSQL (database_url)")?;
        Ok(Stores::of(store.clone(), Backend::Postgres(store)))
    } else {
        let path = config.sqlite_path();
        let readers = config.database.sqlite_readers;
        let store = tokio::task::spawn_blocking(move || {
            weft_store_sqlite::SqliteStore::open(&path, readers)
                .with_context(|| format!("opening SQLite database {}", path.display()))
        })
        .await??;
        Ok(Stores::of(store.clone(), Backend::Sqlite(store)))
    }
}

/// Open the configured store for the index service only, applying migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn IndexStore>> {
    Ok(open_stores(config).await?.index)
}

/// The policy engine over the store, with the configured bootstrap admins.
pub async fn authz_service(config: &Config, stores: &Stores) -> anyhow::Result<Arc<AuthzService>> {
    AuthzService::open(Arc::clone(&stores.authz), &config.authz.admin_users)
        .await
        .map_err(|e| anyhow::anyhow!("loading the policy set: {e}"))
}

/// The token issuer and verifier of this weft (issuer `<base URL>/user`, as fence).
pub async fn tokens(config: &Config, stores: &Stores) -> anyhow::Result<Arc<Tokens>> {
    Tokens::open(
        Arc::clone(&stores.identity),
        format!("{}/user", config.public_base_url()),
    )
    .await
    .map_err(|e| anyhow::anyhow!("loading signing keys: {e}"))
}

/// The OAuth2 provider of this weft, with the configured token and session lifetimes.
#[must_use]
pub fn oauth(config: &Config, stores: &Stores, tokens: &Arc<Tokens>) -> Arc<OAuth> {
    let mut oauth = OAuth::new(Arc::clone(&stores.oauth), Arc::clone(tokens));
    oauth.access_ttl = config.login.access_token_ttl;
    oauth.refresh_ttl = config.login.refresh_token_ttl;
    oauth.session_ttl = config.login.session_ttl;
    Arc::new(oauth)
}

/// Apply a user.yaml (fence's usersync format) in one transaction; returns the report.
/// `clients:` are named as fence names them, by the OAuth client's name (every client id
/// registered under it); a name no client has is taken as a client id.
pub async fn usersync(
    authz: &AuthzService,
    stores: &Stores,
    path: &std::path::Path,
) -> anyhow::Result<weft_authz::usersync::SyncReport> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = weft_authz::usersync::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut ids: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for c in stores.oauth.clients().await? {
        ids.entry(c.name).or_default().push(c.client_id);
    }
    let lookup = |name: &str| {
        ids.get(name)
            .cloned()
            .unwrap_or_else(|| vec![name.to_owned()])
    };
    authz
        .change(|txn| {
            weft_authz::usersync::apply_with_clients(
                &file,
                txn,
                weft_authz::usersync::PROVIDER,
                &lookup,
            )
        })
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Apply migrations only; returns how many were applied.
pub async fn migrate(config: &Config) -> anyhow::Result<usize> {
    if config.uses_postgres() {
        let url = postgres_url(config);
        Ok(weft_store_postgres::migrate(&url).await?)
    } else {
        let path = config.sqlite_path();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(weft_store_sqlite::SqliteStore::migrate(&path)?)
    }
}

/// The index service over a store, as configured.
#[must_use]
pub fn index_service(config: &Config, store: Arc<dyn IndexStore>) -> Arc<IndexService> {
    let authorizer = Arc::new(IndexUserAuthorizer::new(Arc::clone(&store)));
    Arc::new(IndexService::new(store, authorizer, &config.index))
}

/// Fetches documents from remote indexd services over HTTP, for distributed resolution.
struct HttpRemoteIndex {
    client: reqwest::Client,
}

#[async_trait::async_trait]
impl weft_indexd::dist::RemoteIndex for HttpRemoteIndex {
    async fn fetch(
        &self,
        host: &str,
        id: &str,
    ) -> Result<Option<serde_json::Value>, weft_core::WeftError> {
        let url = format!("{host}{id}");
        let resp = self
            .client
            .get(&url)
            .query(&[("no_dist", "")])
            .send()
            .await
            .map_err(weft_core::WeftError::internal)?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(weft_core::WeftError::internal(format!(
                "{url}: HTTP {}",
                resp.status()
            )));
        }
        // A record is a few KiB: a peer's answer is read up to a bound, never whole.
        let body = weft_hub::pull::read_bounded(resp, MAX_PEER_RECORD_BYTES)
            .await
            .map_err(|e| match e {
                weft_hub::pull::BodyError::TooLarge => weft_core::WeftError::internal(format!(
                    "{url}: the answer is larger than {MAX_PEER_RECORD_BYTES} bytes"
                )),
                weft_hub::pull::BodyError::Read(e) => weft_core::WeftError::internal(e),
            })?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(weft_core::WeftError::internal)
    }
}

/// The largest answer a DIST peer may give for one record.
const MAX_PEER_RECORD_BYTES: u64 = 1 << 20;

/// Distributed resolution: `index.dist`, plus a hub's commons that declare DRS prefixes.
fn dist(
    config: &Config,
    hub: Option<&weft_hub::HubService>,
) -> anyhow::Result<Option<weft_indexd::dist::Dist>> {
    let mut entries = config.index.dist.clone();
    if let Some(h) = hub {
        entries.extend(h.dist_entries());
    }
    if entries.is_empty() {
        return Ok(None);
    }
    // No redirects: a peer's redirect must not make this server call another address
    // (an internal one, say); a 3xx is a failed lookup.
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .connect_timeout(std::time::Duration::from_secs(3))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let remote = Arc::new(HttpRemoteIndex { client });
    Ok(Some(
        weft_indexd::dist::Dist::new(&entries, remote).map_err(|e| anyhow::anyhow!("{e}"))?,
    ))
}

/// Where uploads may go: `storage.data_upload_bucket` (default local storage) first, then
/// `storage.allowed_data_upload_buckets`.
pub fn upload_targets(config: &Config) -> anyhow::Result<Vec<upload::Target>> {
    let default = config
        .storage
        .data_upload_bucket
        .clone()
        .unwrap_or_else(|| "file".to_owned());
    let mut targets = Vec::new();
    for spelling in std::iter::once(&default).chain(&config.storage.allowed_data_upload_buckets) {
        let t = upload::Target::parse(spelling)
            .ok_or_else(|| anyhow::anyhow!("storage: {spelling:?} is not an upload bucket"))?;
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    Ok(targets)
}

/// The blank-record filler every `interval`, as the task `index-uploads`: a pass that fails
/// fails the task (restarted after the runner's backoff).
fn start_index_uploads(
    runner: &Runner,
    index: Arc<IndexService>,
    blobs: Arc<weft_blob::Blobs>,
    targets: Vec<upload::Target>,
    interval: Duration,
) {
    let targets = Arc::new(targets);
    runner.spawn("index-uploads", move |ctx| {
        let (index, blobs, targets) =
            (Arc::clone(&index), Arc::clone(&blobs), Arc::clone(&targets));
        async move {
            loop {
                let r = upload::index_uploads(&index, &blobs, &targets)
                    .await
                    .map_err(|e| format!("index-uploads: {e}"))?;
                if r.filled > 0 || r.failed > 0 {
                    tracing::info!(filled = r.filled, failed = r.failed, "index-uploads");
                }
                ctx.succeeded();
                if !ctx.sleep(interval).await {
                    return Ok(());
                }
            }
        }
    });
}

/// Forget expired authorization codes, sessions and refresh tokens every hour, as the task
/// `oauth-purge`.
fn start_oauth_purge(runner: &Runner, oauth: Arc<OAuth>) {
    runner.spawn("oauth-purge", move |ctx| {
        let oauth = Arc::clone(&oauth);
        async move {
            loop {
                let n = oauth
                    .purge_expired()
                    .await
                    .map_err(|e| format!("purging expired OAuth state: {e}"))?;
                if n > 0 {
                    tracing::info!(
                        rows = n,
                        "purged expired codes, sessions and refresh tokens"
                    );
                }
                ctx.succeeded();
                if !ctx.sleep(Duration::from_secs(3600)).await {
                    return Ok(());
                }
            }
        }
    });
}

/// The hub's syncs (`HubService::run`) as the task `hub-sync`.
fn start_hub(runner: &Runner, hub: &Arc<weft_hub::HubService>) {
    let hub = Arc::clone(hub);
    runner.spawn("hub-sync", move |ctx| {
        let hub = Arc::clone(&hub);
        async move {
            hub.run(ctx).await?;
            Ok(())
        }
    });
}

/// Keep the metrics recorder's memory bounded (`weft_http::metrics_upkeep`) as the task
/// `metrics-upkeep`.
fn start_metrics_upkeep(runner: &Runner, handle: &weft_http::PrometheusHandleAlias) {
    let handle = handle.clone();
    runner.spawn("metrics-upkeep", move |ctx| {
        let handle = handle.clone();
        async move {
            weft_http::metrics_upkeep(&handle, &ctx).await;
            Ok(())
        }
    });
}

/// Fill blank records whose uploads landed (what `weft index-uploads` runs once).
pub async fn index_uploads_once(
    config: &Config,
    stores: &Stores,
) -> anyhow::Result<upload::IndexReport> {
    let base = config.public_base_url();
    let index = index_service(config, Arc::clone(&stores.index));
    let blobs = access::blobs(config, &base, Arc::clone(&stores.identity)).await?;
    let targets = upload_targets(config)?;
    upload::index_uploads(&index, &blobs, &targets)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// The whole HTTP application over the stores, its background tasks on a runner of its own
/// that is never shut down (they end with the runtime): what tests use; `serve` uses
/// [`build_with`].
pub async fn build(
    config: Config,
    stores: Stores,
    metrics: Option<weft_http::PrometheusHandleAlias>,
) -> anyhow::Result<axum::Router> {
    build_with(config, stores, metrics, &Runner::default()).await
}

/// The identity side of a commons: the policy engine, tokens, the OAuth2 provider, login
/// through other providers, and the authorizer every service asks.
struct Identity {
    authz: Arc<AuthzService>,
    tokens: Arc<Tokens>,
    oauth: Arc<OAuth>,
    login: Arc<Login>,
    authorizer: Arc<dyn weft_auth::Authorizer>,
    /// fence's rules for reading, uploading and deleting objects.
    fence: Arc<weft_auth::fence::FenceRules>,
}

/// Loads the policy set (applying the configured user.yaml first, if any) and the signing
/// keys; starts `oauth-purge`.
async fn identity(config: &Config, stores: &Stores, runner: &Runner) -> anyhow::Result<Identity> {
    let authz = authz_service(config, stores).await?;
    if let Some(path) = &config.usersync {
        let report = usersync(&authz, stores, path).await?;
        tracing::info!(file = %path.display(), "usersync: {}", report.summary());
    }
    let tokens = tokens(config, stores).await?;
    let oauth = oauth(config, stores, &tokens);
    start_oauth_purge(runner, Arc::clone(&oauth));
    let login = Arc::new(
        Login::new(config.login.oidc.clone(), tokens.issuer().to_owned())
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let authorizer: Arc<dyn weft_auth::Authorizer> = Arc::new(weft_auth::PolicyAuthorizer::new(
        Arc::new(IndexUserAuthorizer::new(Arc::clone(&stores.index))),
        Arc::clone(&authz),
        Arc::clone(&tokens),
    ));
    let fence = Arc::new(weft_auth::fence::FenceRules {
        authorizer: Arc::clone(&authorizer),
        tokens: Arc::clone(&tokens),
    });
    Ok(Identity {
        authz,
        tokens,
        oauth,
        login,
        authorizer,
        fence,
    })
}

/// The index service, resolving ids it does not hold through DIST (and the hub's commons).
fn index(
    config: &Config,
    stores: &Stores,
    identity: &Identity,
    hub: Option<&weft_hub::HubService>,
) -> anyhow::Result<Arc<IndexService>> {
    let mut service = IndexService::new(
        Arc::clone(&stores.index),
        Arc::clone(&identity.authorizer),
        &config.index,
    );
    if let Some(d) = dist(config, hub)? {
        service = service.with_dist(d);
    }
    Ok(Arc::new(service))
}

/// fence's data side: the object stores, signed access URLs and the upload flow; starts
/// `index-uploads` when configured.
struct Data {
    blobs: Arc<weft_blob::Blobs>,
    access: Arc<access::SignedAccess>,
    uploads: Arc<upload::FenceUploads>,
}

async fn data(
    config: &Config,
    stores: &Stores,
    identity: &Identity,
    index: &Arc<IndexService>,
    runner: &Runner,
) -> anyhow::Result<Data> {
    let base = config.public_base_url();
    let blobs = Arc::new(access::blobs(config, &base, Arc::clone(&stores.identity)).await?);
    let access = Arc::new(access::SignedAccess {
        rules: Arc::clone(&identity.fence),
        blobs: Arc::clone(&blobs),
        max_ttl: config.storage.max_presigned_url_ttl,
    });
    let targets = upload_targets(config)?;
    if config.storage.index_uploads_interval_secs > 0 {
        start_index_uploads(
            runner,
            Arc::clone(index),
            Arc::clone(&blobs),
            targets.clone(),
            Duration::from_secs(config.storage.index_uploads_interval_secs),
        );
    }
    let uploads = Arc::new(upload::FenceUploads {
        index: Arc::clone(index),
        rules: Arc::clone(&identity.fence),
        blobs: Arc::clone(&blobs),
        max_ttl: config.storage.max_presigned_url_ttl,
        targets,
    });
    Ok(Data {
        blobs,
        access,
        uploads,
    })
}

/// The metadata service's routes' state: MDS (its key-path indexes created) and the objects
/// API over the index service and fence's flows.
async fn mds(
    config: &Config,
    stores: &Stores,
    identity: &Identity,
    index: &Arc<IndexService>,
    data: &Data,
    aggregate: bool,
) -> anyhow::Result<weft_http::MdsState> {
    let mds = Arc::new(weft_mds::MetadataService::new(
        Arc::clone(&stores.metadata),
        Arc::clone(&identity.authorizer),
        config.mds.clone(),
    ));
    mds.ensure_indexes()
        .await
        .map_err(|e| anyhow::anyhow!("creating the metadata indexes: {}", e.message))?;
    let objects = Arc::new(weft_mds::objects::Objects {
        mds: Arc::clone(&mds),
        index: Arc::clone(index),
        uploads: Arc::clone(&data.uploads) as Arc<dyn weft_indexd::upload::Uploads>,
        access: Arc::clone(&data.access) as Arc<dyn weft_indexd::drs::AccessSigner>,
    });
    Ok(weft_http::MdsState {
        mds,
        objects,
        aggregate,
        build: BUILD,
    })
}

/// The data dictionary named by `dictionary.url`: a directory of YAML, a JSON dump file, or
/// the `http(s)` URL of a dump. A dictionary with an error stops the start, naming the file,
/// node and key.
pub async fn load_dictionary(url: &str) -> anyhow::Result<weft_dictionary::Dictionary> {
    let loaded = if url.starts_with("http://") || url.starts_with("https://") {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let resp = client
            .get(url)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("fetching the dictionary at {url}: {e}"))?;
        if !resp.status().is_success() {
            anyhow::bail!("fetching the dictionary at {url}: HTTP {}", resp.status());
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| anyhow::anyhow!("fetching the dictionary at {url}: {e}"))?;
        weft_dictionary::Dictionary::from_json_dump(url, &bytes)
    } else {
        let path = std::path::Path::new(url);
        if path.is_dir() {
            weft_dictionary::Dictionary::from_dir(path)
        } else {
            let bytes = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("reading the dictionary {url}: {e}"))?;
            weft_dictionary::Dictionary::from_json_dump(url, &bytes)
        }
    };
    loaded.map_err(|e| anyhow::anyhow!("the data dictionary cannot be used: {e}"))
}

/// Graph submission's state: the service when a dictionary is configured.
/// The commons' graph services (sheepdog's submission, peregrine's GraphQL), on the
/// configured dictionary; neither without one.
async fn submission(
    config: &Config,
    stores: &Stores,
    identity: &Identity,
    index: &Arc<IndexService>,
) -> anyhow::Result<(
    weft_http::SubmissionState,
    weft_http::PeregrineState,
    weft_http::GuppyState,
)> {
    let Some(url) = &config.dictionary.url else {
        return Ok((
            weft_http::SubmissionState { service: None },
            weft_http::PeregrineState {
                service: None,
                build: BUILD,
            },
            weft_http::GuppyState {
                service: None,
                build: BUILD,
            },
        ));
    };
    let dictionary = Arc::new(load_dictionary(url).await?);
    tracing::info!(
        nodes = dictionary.nodes().count(),
        "data dictionary loaded from {url}"
    );
    let peregrine = weft_peregrine::Peregrine::new(
        Arc::clone(&dictionary),
        Arc::clone(&stores.graph),
        Arc::clone(&identity.authorizer),
    )
    .map_err(|e| anyhow::anyhow!("{}", e.detail.as_deref().unwrap_or(&e.message)))?;
    let guppy = explorer(config, stores, identity, &dictionary)?;
    Ok((
        weft_http::SubmissionState {
            service: Some(Arc::new(weft_graph::SubmissionService::new(
                dictionary,
                Arc::clone(&stores.graph),
                Arc::clone(index),
                Arc::clone(&identity.authorizer),
            ))),
        },
        weft_http::PeregrineState {
            service: Some(Arc::new(peregrine)),
            build: BUILD,
        },
        weft_http::GuppyState {
            service: Some(Arc::new(guppy)),
            build: BUILD,
        },
    ))
}

/// The explorer on the dictionary: the mapping of `explore.etl_mapping` (or one derived
/// from the dictionary) and guppy's configuration; a file with an error stops the start,
/// naming the key.
fn explorer(
    config: &Config,
    stores: &Stores,
    identity: &Identity,
    dictionary: &Arc<weft_dictionary::Dictionary>,
) -> anyhow::Result<weft_explore::Guppy> {
    let e = &config.explore;
    let tier = weft_explore::Tier::parse(&e.tier_access_level).ok_or_else(|| {
        anyhow::anyhow!(
            "explore.tier_access_level: {:?} is not private, regular or libre",
            e.tier_access_level
        )
    })?;
    let mapping = match &e.etl_mapping {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|err| anyhow::anyhow!("explore.etl_mapping {}: {err}", path.display()))?;
            weft_explore::EtlMapping::parse(&text, dictionary)
                .map_err(|err| anyhow::anyhow!("explore.etl_mapping {}: {err}", path.display()))?
        }
        None => weft_explore::EtlMapping::derive(dictionary)
            .map_err(|err| anyhow::anyhow!("the mapping derived from the dictionary: {err}"))?,
    };
    let guppy = match &e.guppy_config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|err| anyhow::anyhow!("explore.guppy_config {}: {err}", path.display()))?;
            weft_explore::GuppyConfig::parse(&text, &mapping, tier, e.tier_access_limit)
                .map_err(|err| anyhow::anyhow!("explore.guppy_config {}: {err}", path.display()))?
        }
        None => weft_explore::GuppyConfig::defaults(&mapping, tier, e.tier_access_limit),
    };
    let explorer = Arc::new(weft_explore::Explorer::new(
        Arc::clone(&stores.graph),
        Arc::clone(dictionary),
        mapping,
        guppy,
        Arc::clone(&identity.authorizer),
    ));
    weft_explore::Guppy::new(explorer)
        .map_err(|err| anyhow::anyhow!("{}", err.detail.as_deref().unwrap_or(&err.message)))
}

/// Build every explorer document from the database once, reporting progress per index
/// (`weft explore rebuild`): checks the mapping against what is stored and measures the
/// build. A running server builds its own at start and keeps them live.
pub async fn explore_rebuild(
    config: &Config,
    stores: &Stores,
    progress: &(dyn Fn(&str, usize) + Sync),
) -> anyhow::Result<Vec<(String, usize)>> {
    let url = config.dictionary.url.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "no data dictionary is configured (dictionary.url): there is nothing to explore"
        )
    })?;
    let dictionary = Arc::new(load_dictionary(url).await?);
    let identity = identity(config, stores, &Runner::default()).await?;
    let guppy = explorer(config, stores, &identity, &dictionary)?;
    let explorer = guppy.explorer();
    explorer.rebuild(progress).await?;
    Ok(explorer
        .mapping()
        .indices
        .iter()
        .zip(explorer.tables().await)
        .map(|(m, t)| (m.doc_type.clone(), t.len()))
        .collect())
}

/// The explorer's task: build the documents, then follow the graph's changes.
fn start_explore(runner: &Runner, explorer: &Arc<weft_explore::Explorer>) {
    let explorer = Arc::clone(explorer);
    runner.spawn("explore", move |ctx| {
        let explorer = Arc::clone(&explorer);
        async move {
            explorer.run(&ctx).await?;
            Ok(())
        }
    });
}

/// The DRS context of this commons: its hostname, GUID prefix and token issuer.
fn drs_context(config: &Config) -> anyhow::Result<DrsContext> {
    let base = config.public_base_url();
    Ok(DrsContext {
        hostname: authority(&base)?,
        prefix: config.index.guid_prefix.clone(),
        bearer_issuer: format!("{base}/user"),
    })
}

/// What this build reports.
const BUILD: weft_http::Build = weft_http::Build {
    version: VERSION,
    commit: COMMIT,
};

/// The whole HTTP application over the stores: each service built by a function of its own
/// above, handed to its router; the background tasks started on `runner` (the store's, the
/// OAuth purge, the hub's syncs, the blank-record filler, the metrics upkeep), whose states
/// `/_status` shows.
pub async fn build_with(
    config: Config,
    stores: Stores,
    metrics: Option<weft_http::PrometheusHandleAlias>,
    runner: &Runner,
) -> anyhow::Result<axum::Router> {
    stores.start_tasks(runner);
    if let Some(handle) = &metrics {
        start_metrics_upkeep(runner, handle);
    }
    let identity = identity(&config, &stores, runner).await?;
    let hub = hub_service(&config, &stores).await?;
    if let Some(h) = &hub {
        start_hub(runner, h);
    }
    let index = index(&config, &stores, &identity, hub.as_deref())?;
    let data = data(&config, &stores, &identity, &index, runner).await?;
    let mds = mds(&config, &stores, &identity, &index, &data, hub.is_some()).await?;
    let (submission, peregrine, guppy) = submission(&config, &stores, &identity, &index).await?;
    if let Some(g) = &guppy.service {
        start_explore(runner, g.explorer());
    }
    let workspaces = workspace::workspaces(
        &config,
        &stores,
        &identity.tokens,
        &identity.authorizer,
        runner,
    )
    .await?;
    let drs = drs_context(&config)?;
    let base = config.public_base_url();
    let portal = weft_http::PortalState {
        portal: if config.portal.enabled {
            let mut portal = weft_portal::Portal::new(&config.portal, VERSION)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if submission.service.is_none() {
                // No dictionary (a hub, an index-only commons): no graph to show.
                for page in [
                    weft_portal::Page::Dictionary,
                    weft_portal::Page::Submission,
                    weft_portal::Page::Explorer,
                ] {
                    portal.hide(page);
                }
            }
            Some(Arc::new(portal))
        } else {
            None
        },
        services: weft_portal::pages::ServicesInfo {
            version: VERSION.to_owned(),
            base_url: base.clone(),
            postgres: config.uses_postgres(),
            submission: submission.service.is_some(),
            hub: hub.is_some(),
        },
        tokens: Arc::clone(&identity.tokens),
        authz: Arc::clone(&identity.authz),
        login: config.login.clone(),
        index: Arc::clone(&index),
        mds: Arc::clone(&mds.mds),
        hub: hub.clone(),
        peregrine: peregrine.service.clone(),
        guppy: guppy.service.clone(),
        build: BUILD,
    };
    let gateway = weft_http::GatewayState::new(
        Arc::clone(&identity.oauth),
        Arc::clone(&identity.tokens),
        base.clone(),
    );
    let tokens = Arc::clone(&identity.tokens);
    let services = weft_http::Services {
        system: weft_http::SystemState {
            index: Arc::clone(&index),
            metrics,
            metrics_token: config.metrics.token.clone(),
            tasks: runner.tasks(),
            base_url: base.clone(),
            uses_postgres: config.uses_postgres(),
            started: Instant::now(),
            build: BUILD,
        },
        index: weft_http::IndexState {
            index: Arc::clone(&index),
            drs: drs.clone(),
            dist: config.index.dist.clone(),
            build: BUILD,
        },
        drs: weft_http::DrsState {
            index: Arc::clone(&index),
            drs,
            access: Arc::clone(&data.access) as Arc<dyn weft_indexd::drs::AccessSigner>,
            organization_name: config.drs.organization_name.clone(),
            organization_url: config
                .drs
                .organization_url
                .clone()
                .unwrap_or_else(|| base.clone()),
            max_bulk_request_length: config.drs.max_bulk_request_length,
        },
        mds,
        data: weft_http::DataState {
            index: Arc::clone(&index),
            access: data.access,
            uploads: data.uploads,
            blobs: data.blobs,
            storage: config.storage.clone(),
        },
        user: weft_http::UserState {
            authz: Arc::clone(&identity.authz),
            tokens: Arc::clone(&identity.tokens),
            oauth: Arc::clone(&identity.oauth),
            base_url: base.clone(),
        },
        oauth: weft_http::OAuthState {
            authz: Arc::clone(&identity.authz),
            oauth: identity.oauth,
            tokens: Arc::clone(&identity.tokens),
            login: identity.login,
            login_config: config.login.clone(),
            base_url: base,
        },
        authz: weft_http::AuthzState {
            authz: identity.authz,
            tokens: Arc::clone(&identity.tokens),
        },
        hub: weft_http::HubState { hub },
        submission,
        peregrine,
        guppy,
        portal,
        workspace: weft_http::WorkspaceState {
            service: workspaces.service,
        },
        manifests: weft_http::ManifestsState {
            service: workspaces.manifests,
            tokens: Arc::clone(&tokens),
        },
        wts: weft_http::WtsState {
            service: workspaces.wts,
            tokens,
        },
        gateway,
    };
    let limits = weft_http::Limits {
        max_body_bytes: config.max_body_bytes,
        request_timeout: Duration::from_secs(config.request_timeout_secs),
    };
    Ok(weft_http::app(services, &limits))
}

/// The `host[:port]` of `url` (the port only when not the scheme's default), parsed by `url`:
/// the DRS hostname of this commons.
fn authority(url: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("base URL `{url}`: {e}"))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("base URL `{url}` names no host"))?;
    Ok(match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

#[cfg(test)]
mod authority_tests {
    use super::authority;

    #[test]
    fn authorities() {
        assert_eq!(
            authority("http://127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            authority("https://Commons.Example.org/").unwrap(),
            "commons.example.org"
        );
        assert_eq!(
            authority("https://c.example.org:443/base").unwrap(),
            "c.example.org"
        );
        assert_eq!(
            authority("https://u:p@c.example.org:8443").unwrap(),
            "c.example.org:8443"
        );
        assert_eq!(authority("http://[::1]:9/").unwrap(), "[::1]:9");
        assert!(authority("not a url").is_err());
    }
}
