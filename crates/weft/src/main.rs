//! `weft`: the command line.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use weft_config::{Config, LogFormat, Secret};

/// mimalloc: measurably less time in malloc/free than glibc under many small allocations,
/// and no per-thread arena growth (see docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// weft: a Gen3-compatible data commons in one binary.
///
/// With no configuration, `weft serve` runs on 127.0.0.1:8080 with an embedded SQLite
/// database under ./weft-data/. Every option can also come from a TOML file (--config) or
/// WEFT_* environment variables (see `weft config default`).
#[derive(Parser, Debug)]
#[command(name = "weft", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the data lives: shared by every subcommand that touches it.
#[derive(Args, Debug, Clone)]
struct DataArgs {
    /// TOML configuration file.
    #[arg(long, env = "WEFT_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Directory for the embedded SQLite database and local files [default: ./weft-data].
    #[arg(long, env = "WEFT_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://user@host:port/db); unset means embedded SQLite.
    #[arg(long, env = "WEFT_DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP server (applies pending migrations first).
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long, env = "WEFT_LISTEN")]
        listen: Option<SocketAddr>,
        /// Public URL clients use [default: http://<listen>].
        #[arg(long, env = "WEFT_BASE_URL")]
        base_url: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Apply database schema migrations and exit.
    Migrate {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage index (basic-auth) users, as indexd keeps them.
    IndexUser {
        #[command(subcommand)]
        command: IndexUserCommand,
    },
    /// Index operations.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Apply a fence user.yaml (resources, roles, policies, groups, users, clients) to the
    /// policy engine in one transaction, and print what changed. A file with an error
    /// changes nothing.
    Usersync {
        /// The user.yaml file.
        path: PathBuf,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Fill blank index records whose uploads landed in an upload bucket: read each object
    /// (streaming) for its size and MD5 and record its URL, as Gen3's bucket-event indexing
    /// job does for fence. Prints how many were filled.
    IndexUploads {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Access tokens, as fence-create makes them.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// API keys (fence's credentials.json), as fence-create makes them.
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// OAuth2 clients of weft's OIDC provider (fence-create client-create/-list/-delete).
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// The data hub (aggregate metadata service).
    Hub {
        #[command(subcommand)]
        command: HubCommand,
    },
    /// The explorer (tube's documents behind guppy's API).
    Explore {
        #[command(subcommand)]
        command: ExploreCommand,
    },
    /// Workspaces (hatchery): install JupyterLab, pay models, usage.
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
}

#[derive(Subcommand, Debug)]
enum WorkspaceCommand {
    /// Install JupyterLab and the Gen3 SDK into a Python environment (`workspace.python_env`,
    /// default `<data_dir>/workspaces/env/jupyterlab`) for the default `jupyterlab` kind,
    /// which `weft serve` then offers.
    Setup {
        /// The Python that makes the environment [default: /usr/bin/python3 if present,
        /// else python3]. When notebooks run as users of their own, it must be readable by
        /// them (not a Python under /root).
        #[arg(long)]
        python: Option<String>,
        /// Packages to install instead of `jupyterlab gen3` (pip's syntax, pins allowed).
        #[arg(long = "package")]
        packages: Vec<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Give a user a pay model (an account their workspaces are charged to).
    Paymodel {
        /// The user (as they log in).
        #[arg(long)]
        user: String,
        /// hatchery's workspace_type.
        #[arg(long = "type", default_value = "Direct Pay")]
        workspace_type: String,
        /// The billing account.
        #[arg(long)]
        account_id: String,
        /// Usage past which the user is warned.
        #[arg(long)]
        soft_limit: f64,
        /// Usage at which launches are refused and workspaces stopped.
        #[arg(long)]
        hard_limit: f64,
        /// Make it the user's current pay model.
        #[arg(long)]
        current: bool,
        /// Its id (bmh_workspace_id) [default: a new UUID]; an existing id is replaced.
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// The administrator's report: usage per user and pay model, with limits.
    Usage {
        /// Only this user.
        #[arg(long)]
        user: Option<String>,
        /// Only usage of the last DAYS days (the totals are the pay models' own).
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand, Debug)]
enum ExploreCommand {
    /// Build every document of the configured mapping from the database now, with a
    /// progress bar, and report how many each index holds and how long it took. A running
    /// server builds its documents at start and keeps them live by itself.
    Rebuild {
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand, Debug)]
enum HubCommand {
    /// Pull every configured commons now (or one), normalize and store its studies, as
    /// aggregate MDS's populate job does. A commons that fails keeps its last good copy;
    /// the command fails if any did. A running hub re-indexes the new copies by itself.
    Sync {
        /// Only this commons (its name in the configuration).
        #[arg(long)]
        commons: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Generate a new signing key and sign with it from now on (printing its `kid`). Older
    /// keys keep verifying what they signed; every instance picks the new key up.
    Rotate {
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the key ids, the signing one first.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand, Debug)]
enum ClientCommand {
    /// Register a client and print its `client_id` and `client_secret` as JSON. The secret
    /// is shown once: only its hash is kept.
    Create {
        /// A unique name.
        name: String,
        /// Where codes may be sent (exact match); repeat for several.
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Grant types, comma-separated: authorization_code, refresh_token,
        /// client_credentials [default: authorization_code,refresh_token].
        #[arg(long, value_delimiter = ',')]
        grant_types: Vec<String>,
        /// Scopes the client may ask for, comma-separated [default: fence's
        /// CLIENT_ALLOWED_SCOPES: openid, user, data, google_*, ga4gh_passport_v1].
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// Skip the consent page.
        #[arg(long)]
        auto_approve: bool,
        /// A public client (a notebook, a command-line tool): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// The user who owns the client.
        #[arg(long)]
        owner: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Print every client as JSON, one per line (no secrets).
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Delete a client by name; its refresh tokens stop working.
    Delete {
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand, Debug)]
enum ApiKeyCommand {
    /// Print a credentials.json (`api_key`, `key_id`) for a user; the gen3 SDK and
    /// gen3-client exchange it for access tokens at /user/credentials/api/access_token.
    Create {
        /// The user name the key speaks for.
        #[arg(long)]
        user: String,
        /// Scopes, comma-separated (fence and openid are always included).
        #[arg(long, default_value = "openid,user,data,fence", value_delimiter = ',')]
        scopes: Vec<String>,
        /// Lifetime in seconds (default 30 days).
        #[arg(long, default_value_t = 2_592_000)]
        expires_in: i64,
        /// Public URL of this weft (the key's issuer is <URL>/user) [default: http://<listen>].
        #[arg(long, env = "WEFT_BASE_URL")]
        base_url: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Print a signed access token for a user.
    Create {
        /// The user name the token speaks for (`context.user.name`).
        #[arg(long)]
        user: String,
        /// Scopes, comma-separated.
        #[arg(long, default_value = "openid,user,data,fence", value_delimiter = ',')]
        scopes: Vec<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        expires_in: i64,
        /// Public URL of this weft (the token issuer is <URL>/user) [default: http://<listen>].
        #[arg(long, env = "WEFT_BASE_URL")]
        base_url: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print a commented configuration file with every default.
    Default,
    /// Print the effective configuration (secrets redacted).
    Show {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand, Debug)]
enum IndexUserCommand {
    /// Create an index user, or set a new password for an existing one.
    Add {
        /// User name for HTTP basic auth.
        name: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand, Debug)]
enum IndexCommand {
    /// Import a Gen3 indexing manifest (TSV: guid, md5, size, authz, acl, url, file_name).
    /// All rows are checked first; a bad row is reported with its line number and nothing
    /// from the file is imported.
    Import {
        /// The manifest file.
        manifest: PathBuf,
        /// Hide the progress bar.
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        data: DataArgs,
    },
}

fn load_config(data: &DataArgs) -> anyhow::Result<Config> {
    // WEFT_DATA_DIR / WEFT_DATABASE_URL / WEFT_CONFIG reach us through clap; the rest of
    // WEFT_* through the config loader.
    let env = std::env::vars().filter(|(k, _)| {
        !matches!(
            k.as_str(),
            "WEFT_DATA_DIR" | "WEFT_DATABASE_URL" | "WEFT_CONFIG"
        )
    });
    let mut config = Config::load(data.config.as_deref(), env)?;
    if let Some(d) = &data.data_dir {
        config.data_dir.clone_from(d);
    }
    if let Some(u) = &data.database_url
        && !u.is_empty()
    {
        config.database_url = Some(Secret(u.clone()));
    }
    Ok(Config::load_validated(config)?)
}

/// The configuration with `--base-url` applied (tokens name their issuer by it).
fn load_config_at(data: &DataArgs, base_url: Option<String>) -> anyhow::Result<Config> {
    let mut config = load_config(data)?;
    if let Some(b) = base_url {
        config.base_url = Some(b);
    }
    Ok(Config::load_validated(config)?)
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // colours only for a person at a terminal, never in files or journald
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

/// How long a stopping server waits for its background tasks.
const TASKS_STOP_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

async fn serve(mut config: Config) -> anyhow::Result<()> {
    init_tracing(config.log_format);
    let metrics = weft_http::install_metrics();
    let stores = weft::open_stores(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local = listener.local_addr()?;
    let tls = match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => Some(weft::tls::server_config(cert, key)?),
        _ => None,
    };
    if config.base_url.is_none() {
        let scheme = if tls.is_some() { "https" } else { "http" };
        config.base_url = Some(format!("{scheme}://{local}"));
    }
    tracing::info!(
        listen = %local,
        base_url = %config.public_base_url(),
        database = if config.uses_postgres() { "postgres" } else { "sqlite" },
        "weft {} serving",
        weft::VERSION
    );
    let metrics_listener = match config.metrics.listen {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (metrics.listen)"))?;
            tracing::info!(listen = %l.local_addr()?, "metrics served");
            Some(l)
        }
        None => None,
    };
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    if let (Some(l), Some(handle)) = (metrics_listener, metrics.clone()) {
        tokio::spawn(async move {
            let served = axum::serve(l, weft_http::metrics_app(handle))
                .with_graceful_shutdown(async {
                    let _ = metrics_stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the metrics listener failed");
            }
        });
    }
    let runner = weft::Runner::default();
    let app = weft::build_with(config, stores, metrics, &runner).await?;
    let stopping = runner.token();
    let stop = async move {
        tokio::select! {
            () = shutdown_signal() => {}
            () = stopping.cancelled() => {}
        }
    };
    let served = match tls {
        Some(tls) => {
            axum::serve(weft::tls::TlsListener::new(listener, tls)?, app)
                .with_graceful_shutdown(stop)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
    };
    let _ = stop_metrics.send(());
    // The same signal stops the background tasks; wait a bounded time for them.
    if runner.shutdown(TASKS_STOP_WITHIN).await {
        tracing::info!("background tasks stopped");
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}

async fn index_user_add(config: &Config, name: &str, stdin: bool) -> anyhow::Result<()> {
    if name.is_empty() || name.contains(':') {
        bail!("user name must be non-empty and contain no ':'");
    }
    let password = if stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        let p = rpassword::prompt_password(format!("password for {name}: "))?;
        let again = rpassword::prompt_password("again: ")?;
        if p != again {
            bail!("passwords differ");
        }
        p
    };
    if password.is_empty() {
        bail!("the password must not be empty");
    }
    let hash = weft_indexd::auth::hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = weft::open_store(config).await?;
    store.put_index_user(name, &hash).await?;
    eprintln!("index user {name} saved");
    Ok(())
}

async fn index_import(
    config: &Config,
    manifest: &std::path::Path,
    quiet: bool,
) -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        // the stores time the phases of a bulk load at debug level (docs/benchmarks.md)
        init_tracing(config.log_format);
    }
    let store = weft::open_store(config).await?;
    let service = weft::index_service(config, store);
    let started = Instant::now();
    let bar = |len: u64, template: &str| {
        let bar = if quiet {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(len)
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    };
    // First pass: check every row, keep only where each record is.
    let size = std::fs::metadata(manifest).map_or(0, |m| m.len());
    let checking = bar(
        size,
        "{bar:40} {bytes}/{total_bytes} checked ({bytes_per_sec}, eta {eta})",
    );
    let path = manifest.to_owned();
    let svc = Arc::clone(&service);
    let check_bar = checking.clone();
    let checked = tokio::task::spawn_blocking(move || {
        weft::import::check_manifest(&svc, &path, 20, &|n| check_bar.set_position(n))
    })
    .await??;
    checking.finish_and_clear();
    let rows = match checked {
        Ok(r) => r,
        Err(errors) => {
            for e in &errors {
                eprintln!("{}:{}: {}", manifest.display(), e.line, e.message);
            }
            bail!(
                "{} bad row(s) in {}; nothing was imported",
                errors.len(),
                manifest.display()
            );
        }
    };
    let total = rows.len() as u64;
    if !quiet {
        eprintln!(
            "checked {total} records in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    // Second pass: build the records in did order on a blocking thread while the store
    // inserts them; the bounded channel keeps a few batches in flight at most.
    let importing = bar(total, "{bar:40} {pos}/{len} records ({per_sec}, eta {eta})");
    let progress_bar = importing.clone();
    let progress: weft_store::Progress = Arc::new(move |n| progress_bar.set_position(n));
    let (tx, rx) = std::sync::mpsc::sync_channel(4);
    let svc = Arc::clone(&service);
    let producer = tokio::task::spawn_blocking(move || rows.stream(&svc, &tx));
    let n = service
        .import(rx, total, Some(progress))
        .await
        .map_err(|e| anyhow::anyhow!("import failed, nothing was imported: {e}"))?;
    producer.await?;
    importing.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "imported {n} records in {secs:.1} s ({:.0} records/s)",
        n as f64 / secs.max(1e-9)
    );
    Ok(())
}

async fn usersync(config: &Config, path: &std::path::Path) -> anyhow::Result<()> {
    let stores = weft::open_stores(config).await?;
    let authz = weft::authz_service(config, &stores).await?;
    let report = weft::usersync(&authz, &stores, path).await?;
    print!("{report}");
    if !report.to_string().ends_with('\n') {
        println!();
    }
    Ok(())
}

async fn index_uploads(config: &Config) -> anyhow::Result<()> {
    let stores = weft::open_stores(config).await?;
    let r = weft::index_uploads_once(config, &stores).await?;
    println!(
        "blank records: {}, filled: {}, not uploaded yet: {}, failed: {}",
        r.blank, r.filled, r.pending, r.failed
    );
    if r.failed > 0 {
        bail!(
            "{} blank records could not be filled (see the log)",
            r.failed
        );
    }
    Ok(())
}

async fn explore_rebuild(config: &Config, quiet: bool) -> anyhow::Result<()> {
    let stores = weft::open_stores(config).await?;
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new_spinner()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let started = Instant::now();
    let counts = weft::explore_rebuild(config, &stores, &|index, n| {
        bar.set_message(format!("{index}: {n} documents"));
        bar.tick();
    })
    .await?;
    bar.finish_and_clear();
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    for (index, n) in &counts {
        println!("{index}: {n} documents");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{total} documents built in {secs:.1} s ({:.0}/s)",
        total as f64 / secs.max(1e-9)
    );
    Ok(())
}

async fn workspace_command(command: WorkspaceCommand) -> anyhow::Result<()> {
    match command {
        WorkspaceCommand::Setup {
            python,
            packages,
            data,
        } => {
            let config = load_config(&data)?;
            let python = python.unwrap_or_else(|| {
                if std::path::Path::new("/usr/bin/python3").exists() {
                    "/usr/bin/python3".into()
                } else {
                    "python3".into()
                }
            });
            let env = weft::workspace::setup(&config, &python, &packages)?;
            println!("{}", env.display());
            Ok(())
        }
        WorkspaceCommand::Paymodel {
            user,
            workspace_type,
            account_id,
            soft_limit,
            hard_limit,
            current,
            id,
            data,
        } => {
            anyhow::ensure!(
                soft_limit.is_finite()
                    && hard_limit.is_finite()
                    && 0.0 <= soft_limit
                    && soft_limit <= hard_limit,
                "need 0 <= --soft-limit <= --hard-limit"
            );
            let config = load_config(&data)?;
            let stores = weft::open_stores(&config).await?;
            let id = id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let old = stores
                .workspace
                .pay_models(None)
                .await?
                .into_iter()
                .find(|p| p.id == id);
            if let Some(o) = old.as_ref().filter(|o| o.user != user) {
                bail!("pay model {id} belongs to {}: pick another --id", o.user);
            }
            stores
                .workspace
                .put_pay_model(weft_store::PayModelRow {
                    id: id.clone(),
                    user,
                    workspace_type,
                    account_id,
                    region: "local".into(),
                    local: true,
                    request_status: "active".into(),
                    soft_limit,
                    hard_limit,
                    total_usage: old.as_ref().map_or(0.0, |p| p.total_usage),
                    current: current || old.is_some_and(|p| p.current),
                })
                .await?;
            println!("{id}");
            Ok(())
        }
        WorkspaceCommand::Usage {
            user,
            days,
            json,
            data,
        } => {
            let config = load_config(&data)?;
            let stores = weft::open_stores(&config).await?;
            let since = chrono::Utc::now().timestamp() - days.max(0) * 86_400;
            let report = weft::workspace::usage_report(&stores, user.as_deref(), since).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", weft::workspace::usage_table(&report));
            }
            Ok(())
        }
    }
}

async fn hub_sync(config: &Config, only: Option<&str>) -> anyhow::Result<()> {
    let stores = weft::open_stores(config).await?;
    let outcomes = weft::hub_sync(config, &stores, only).await?;
    let mut failed = 0;
    for o in &outcomes {
        match &o.result {
            Ok(n) => println!("{}: {n} studies", o.commons),
            Err(e) => {
                failed += 1;
                println!("{}: failed, last good copy kept: {e}", o.commons);
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} commons could not be pulled", outcomes.len());
    }
    Ok(())
}

async fn token_create(
    config: &Config,
    user: &str,
    scopes: &[String],
    expires_in: i64,
) -> anyhow::Result<()> {
    if expires_in <= 0 {
        bail!("--expires-in must be positive");
    }
    let stores = weft::open_stores(config).await?;
    let tokens = weft::tokens(config, &stores).await?;
    let token = tokens
        .issue_access(user, scopes, expires_in)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{token}");
    Ok(())
}

async fn api_key_create(
    config: &Config,
    user: &str,
    scopes: &[String],
    expires_in: i64,
) -> anyhow::Result<()> {
    if expires_in <= 0 {
        bail!("--expires-in must be positive");
    }
    let mut scopes = scopes.to_vec();
    for s in ["fence", "openid"] {
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_owned());
        }
    }
    let stores = weft::open_stores(config).await?;
    let tokens = weft::tokens(config, &stores).await?;
    let (api_key, key_id) = tokens
        .issue_api_key(user, &scopes, expires_in)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "{}",
        serde_json::json!({ "api_key": api_key, "key_id": key_id })
    );
    Ok(())
}

async fn client_command(command: ClientCommand) -> anyhow::Result<()> {
    let data = match &command {
        ClientCommand::Create { data, .. }
        | ClientCommand::List { data }
        | ClientCommand::Delete { data, .. } => data.clone(),
    };
    let config = load_config(&data)?;
    let stores = weft::open_stores(&config).await?;
    let tokens = weft::tokens(&config, &stores).await?;
    let oauth = weft::oauth(&config, &stores, &tokens);
    match command {
        ClientCommand::Create {
            name,
            redirect_uris,
            grant_types,
            scopes,
            auto_approve,
            public,
            owner,
            ..
        } => {
            let (client, secret) = oauth
                .create_client(weft_identity::oauth::NewClient {
                    name,
                    redirect_uris,
                    allowed_scopes: scopes,
                    grant_types,
                    auto_approve,
                    public,
                    owner,
                })
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.description))?;
            println!(
                "{}",
                serde_json::json!({"client_id": client.client_id, "client_secret": secret,
                                   "name": client.name})
            );
        }
        ClientCommand::List { .. } => {
            for c in oauth.clients().await.map_err(|e| anyhow::anyhow!("{e}"))? {
                println!(
                    "{}",
                    serde_json::json!({"client_id": c.client_id, "name": c.name,
                        "public": c.secret_hash.is_none(), "redirect_uris": c.redirect_uris,
                        "grant_types": c.grant_types, "scopes": c.allowed_scopes,
                        "auto_approve": c.auto_approve, "owner": c.owner})
                );
            }
        }
        ClientCommand::Delete { name, .. } => {
            if !oauth
                .delete_client(&name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                bail!("no client named {name}");
            }
            eprintln!("client {name} deleted");
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Serve {
                listen,
                base_url,
                data,
            } => {
                let mut config = load_config(&data)?;
                if let Some(l) = listen {
                    config.listen = l;
                }
                if let Some(b) = base_url {
                    config.base_url = Some(b);
                }
                let config = Config::load_validated(config)?;
                serve(config).await
            }
            Command::Migrate { data } => {
                let config = load_config(&data)?;
                let n = weft::migrate(&config).await?;
                eprintln!("{n} migration(s) applied");
                Ok(())
            }
            Command::Config {
                command: ConfigCommand::Default,
            } => {
                print!("{}", Config::example());
                Ok(())
            }
            Command::Config {
                command: ConfigCommand::Show { data },
            } => {
                let config = load_config(&data)?;
                println!("{config:#?}");
                Ok(())
            }
            Command::IndexUser {
                command:
                    IndexUserCommand::Add {
                        name,
                        password_stdin,
                        data,
                    },
            } => {
                let config = load_config(&data)?;
                index_user_add(&config, &name, password_stdin).await
            }
            Command::Index {
                command:
                    IndexCommand::Import {
                        manifest,
                        quiet,
                        data,
                    },
            } => {
                let config = load_config(&data)?;
                index_import(&config, &manifest, quiet).await
            }
            Command::Usersync { path, data } => {
                let config = load_config(&data)?;
                usersync(&config, &path).await
            }
            Command::IndexUploads { data } => {
                let config = load_config(&data)?;
                index_uploads(&config).await
            }
            Command::Token {
                command:
                    TokenCommand::Create {
                        user,
                        scopes,
                        expires_in,
                        base_url,
                        data,
                    },
            } => {
                let config = load_config_at(&data, base_url)?;
                token_create(&config, &user, &scopes, expires_in).await
            }
            Command::ApiKey {
                command:
                    ApiKeyCommand::Create {
                        user,
                        scopes,
                        expires_in,
                        base_url,
                        data,
                    },
            } => {
                let config = load_config_at(&data, base_url)?;
                api_key_create(&config, &user, &scopes, expires_in).await
            }
            Command::Client { command } => client_command(command).await,
            Command::Hub {
                command: HubCommand::Sync { commons, data },
            } => {
                let config = load_config(&data)?;
                hub_sync(&config, commons.as_deref()).await
            }
            Command::Explore {
                command: ExploreCommand::Rebuild { quiet, data },
            } => {
                let config = load_config(&data)?;
                explore_rebuild(&config, quiet).await
            }
            Command::Workspace { command } => workspace_command(command).await,
            Command::Keys { command } => {
                let (KeysCommand::Rotate { data } | KeysCommand::List { data }) = &command;
                let config = load_config(data)?;
                let stores = weft::open_stores(&config).await?;
                let tokens = weft::tokens(&config, &stores).await?;
                if matches!(command, KeysCommand::Rotate { .. }) {
                    let kid = tokens.rotate().await.map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!("{kid}");
                } else {
                    for k in tokens.public_keys() {
                        println!("{}", k.kid);
                    }
                }
                Ok(())
            }
        }
    })
}
