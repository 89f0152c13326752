//! Wiring of the workspaces: hatchery's service on the configured backend, manifestservice,
//! the workspace token service; and `weft workspace setup`, which installs JupyterLab and the
//! Gen3 SDK for the default `jupyterlab` kind.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use weft_config::Config;
use weft_config::workspace::{WorkspaceBackend, WorkspaceKind};
use weft_tasks::Runner;
use weft_workspace::local::{LocalBackend, LocalConfig};
use weft_workspace::manifests::Manifests;
use weft_workspace::service::Settings;
use weft_workspace::wts::{Provider, TokenService};
use weft_workspace::{Backend, Kind, WorkspaceService};

use crate::Stores;

/// The packages `weft workspace setup` installs by default.
pub const DEFAULT_PACKAGES: &[&str] = &["jupyterlab", "gen3"];

/// The workspaces' directory (homes, logs, the environment).
#[must_use]
pub fn dir(config: &Config) -> PathBuf {
    config
        .workspace
        .dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("workspaces"))
}

/// The Python environment of the default `jupyterlab` kind.
#[must_use]
pub fn python_env(config: &Config) -> PathBuf {
    config
        .workspace
        .python_env
        .clone()
        .unwrap_or_else(|| dir(config).join("env").join("jupyterlab"))
}

/// JupyterLab's command from `env`, if it is installed there.
fn jupyter_command(env: &Path, as_root: bool) -> Vec<String> {
    let jupyter = env.join("bin").join("jupyter");
    if !jupyter.exists() {
        return Vec::new();
    }
    let mut cmd: Vec<String> = vec![
        jupyter.to_string_lossy().into_owned(),
        "lab".into(),
        "--no-browser".into(),
        "--ServerApp.ip=127.0.0.1".into(),
        "--ServerApp.port={port}".into(),
        "--ServerApp.port_retries=0".into(),
        "--ServerApp.base_url={base_url}".into(),
        "--ServerApp.root_dir={home}".into(),
        "--ServerApp.allow_remote_access=True".into(),
        "--ServerApp.disable_check_xsrf=False".into(),
    ];
    if as_root {
        cmd.push("--allow-root".into());
    }
    cmd
}

fn kind_of(k: &WorkspaceKind) -> Kind {
    Kind {
        id: String::new(),
        name: k.name.clone(),
        command: k.command.clone(),
        image: k.image.clone(),
        target_port: k.target_port,
        cpu_limit: k.cpu_limit.clone(),
        memory_limit: k.memory_limit.clone(),
        idle_limit_secs: (k.idle_limit_secs > 0).then_some(k.idle_limit_secs),
        rate_per_hour: k.rate_per_hour,
        env: k.env.iter().map(|(a, b)| (a.clone(), b.clone())).collect(),
        resource_paths: k.resource_paths.clone(),
        pay_models: k.pay_models.clone(),
    }
    .with_id()
}

/// The kinds offered: the configured ones, or `jupyterlab` once `weft workspace setup` has
/// installed it (local backend only).
#[must_use]
pub fn kinds(config: &Config) -> Vec<Kind> {
    if !config.workspace.kinds.is_empty() {
        return config.workspace.kinds.iter().map(kind_of).collect();
    }
    if config.workspace.backend == WorkspaceBackend::Local
        && python_env(config).join("bin").join("jupyter").exists()
    {
        return vec![kind_of(&WorkspaceKind {
            name: "jupyterlab".into(),
            ..WorkspaceKind::default()
        })];
    }
    Vec::new()
}

/// Whether local notebooks run as users of their own.
fn separate_users(config: &Config) -> bool {
    config
        .workspace
        .separate_users
        .unwrap_or_else(weft_workspace::local::can_separate_users)
}

/// What the workspaces' routers need.
pub struct Workspaces {
    pub service: Option<Arc<WorkspaceService>>,
    pub manifests: Arc<Manifests>,
    pub wts: Arc<TokenService>,
}

/// Build the workspace services, and start the `workspaces` task (checks, idle stops,
/// metering) when workspaces are on.
pub async fn workspaces(
    config: &Config,
    stores: &Stores,
    tokens: &Arc<weft_identity::Tokens>,
    authorizer: &Arc<dyn weft_auth::Authorizer>,
    runner: &Runner,
) -> anyhow::Result<Workspaces> {
    let base = config.public_base_url();
    let providers = config
        .workspace
        .external_oidc
        .iter()
        .map(|(idp, e)| Provider {
            idp: idp.clone(),
            name: e.name.clone().unwrap_or_else(|| idp.clone()),
            base_url: e.base_url.trim_end_matches('/').to_owned(),
            client_id: e.client_id.clone(),
            client_secret: e.client_secret.expose().to_owned(),
            scopes: e.scopes.clone(),
            refresh_days: e.refresh_token_days,
        })
        .collect();
    let wts = Arc::new(TokenService::new(
        providers,
        Arc::clone(&stores.workspace),
        Arc::clone(tokens),
        &base,
    ));
    let kinds = kinds(config);
    let service = if config.workspace.enabled && !kinds.is_empty() {
        let backend: Arc<dyn Backend> = match config.workspace.backend {
            WorkspaceBackend::Local => {
                let separate = separate_users(config);
                let ws_dir = dir(config);
                let backend = LocalBackend::new(LocalConfig {
                    dir: ws_dir.clone(),
                    separate_users: separate,
                    uid_base: config.workspace.uid_base,
                    default_command: jupyter_command(
                        &python_env(config),
                        !separate && weft_workspace::local::can_separate_users(),
                    ),
                })
                .map_err(|e| anyhow::anyhow!("workspaces: {e}"))?;
                if !separate {
                    tracing::warn!(
                        "workspaces run as weft's own user: a notebook can read weft's data \
                         directory (run weft as root, with workspace.separate_users, to give \
                         each workspace a uid of its own)"
                    );
                }
                if separate {
                    let data = config.data_dir.canonicalize()?;
                    let ws = ws_dir.canonicalize()?;
                    if ws.starts_with(&data) {
                        weft_workspace::local::protect_data_dir(&data, &ws)
                            .map_err(|e| anyhow::anyhow!("workspaces: {e}"))?;
                    } else {
                        std::fs::set_permissions(
                            &data,
                            std::os::unix::fs::PermissionsExt::from_mode(0o700),
                        )?;
                    }
                }
                Arc::new(backend)
            }
            WorkspaceBackend::Kubernetes => {
                let k8s = &config.workspace.kubernetes;
                let instance = k8s.instance.clone().unwrap_or_else(|| {
                    weft_workspace::kube::default_instance(&k8s.namespace, &base)
                });
                Arc::new(
                    weft_workspace::kube::KubeBackend::new(k8s, &instance)
                        .await
                        .map_err(|e| anyhow::anyhow!("workspaces: {e}"))?,
                )
            }
        };
        let settings = Settings {
            // hatchery's GEN3_ENDPOINT is the commons' host (`host[:port]`), which the gen3
            // CLI and drs-pull take as such
            endpoint: crate::authority(
                &config
                    .workspace
                    .kubernetes
                    .endpoint_url
                    .clone()
                    .filter(|_| config.workspace.backend == WorkspaceBackend::Kubernetes)
                    .unwrap_or_else(|| base.clone()),
            )?,
            launch_timeout: Duration::from_secs(config.workspace.launch_timeout_secs),
            check_interval: Duration::from_secs(config.workspace.check_interval_secs),
            api_key_minutes: config.workspace.api_key_minutes,
            default_pay_model: config
                .workspace
                .default_pay_model
                .as_ref()
                .map(|p| (p.workspace_type.clone(), p.soft_limit, p.hard_limit)),
            env: Vec::new(),
        };
        let service = Arc::new(WorkspaceService::new(
            settings,
            kinds,
            backend,
            Arc::clone(&stores.workspace),
            Arc::clone(authorizer),
            Arc::clone(tokens),
        ));
        let task = Arc::clone(&service);
        runner.spawn("workspaces", move |ctx| {
            let task = Arc::clone(&task);
            async move {
                task.run(ctx).await?;
                Ok(())
            }
        });
        Some(service)
    } else {
        None
    };
    let manifests = Arc::new(Manifests::new(
        Arc::clone(&stores.workspace),
        service.clone(),
    ));
    Ok(Workspaces {
        service,
        manifests,
        wts,
    })
}

/// `weft workspace setup`: a Python environment with JupyterLab and the Gen3 SDK, for the
/// default `jupyterlab` kind.
pub fn setup(config: &Config, python: &str, packages: &[String]) -> anyhow::Result<PathBuf> {
    let env = python_env(config);
    if let Some(parent) = env.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if !env.join("bin").join("python").exists() {
        eprintln!("creating {}", env.display());
        let ok = std::process::Command::new(python)
            .args(["-m", "venv"])
            .arg(&env)
            .status()?
            .success();
        anyhow::ensure!(ok, "`{python} -m venv {}` failed", env.display());
    }
    let pkgs: Vec<String> = if packages.is_empty() {
        DEFAULT_PACKAGES.iter().map(|p| (*p).to_owned()).collect()
    } else {
        packages.to_vec()
    };
    eprintln!("installing {}", pkgs.join(" "));
    let ok = std::process::Command::new(env.join("bin").join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(&pkgs)
        .status()?
        .success();
    anyhow::ensure!(ok, "pip install {} failed", pkgs.join(" "));
    // readable by the workspaces' own users
    let ok = std::process::Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(&env)
        .status()?
        .success();
    anyhow::ensure!(
        ok,
        "could not open {} to the workspace users",
        env.display()
    );
    Ok(env)
}

/// One line of the usage report: a user's pay model and what was charged to it.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct UsageLine {
    pub user: String,
    pub pay_model: String,
    pub workspace_type: String,
    pub account_id: String,
    pub request_status: String,
    pub current: bool,
    pub soft_limit: f64,
    pub hard_limit: f64,
    /// The pay model's total usage, all time.
    pub total_usage: f64,
    /// Charged in the report's period.
    pub period_usage: f64,
    /// Workspace hours in the report's period.
    pub period_hours: f64,
}

/// Usage per user and pay model (`weft workspace usage`).
///
/// # Errors
/// When the store fails.
pub async fn usage_report(
    stores: &Stores,
    user: Option<&str>,
    since: i64,
) -> anyhow::Result<Vec<UsageLine>> {
    let models = stores.workspace.pay_models(user).await?;
    let usage = stores.workspace.usage(user, since).await?;
    Ok(models
        .into_iter()
        .map(|p| {
            let mine = usage
                .iter()
                .filter(|u| u.user == p.user && u.account == p.id);
            let (cost, secs) = mine.fold((0.0, 0_i64), |(c, s), u| {
                (c + u.cost, s + (u.to - u.from.max(since)).max(0))
            });
            #[allow(clippy::cast_precision_loss)]
            let hours = secs as f64 / 3600.0;
            UsageLine {
                user: p.user,
                pay_model: p.id,
                workspace_type: p.workspace_type,
                account_id: p.account_id,
                request_status: p.request_status,
                current: p.current,
                soft_limit: p.soft_limit,
                hard_limit: p.hard_limit,
                total_usage: p.total_usage,
                period_usage: cost,
                period_hours: hours,
            }
        })
        .collect())
}

/// The report as a plain table.
#[must_use]
pub fn usage_table(lines: &[UsageLine]) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "{:<24} {:<36} {:<18} {:<12} {:>10} {:>10} {:>10} {:>10} {:>8}\n",
        "USER", "PAY MODEL", "TYPE", "STATUS", "SOFT", "HARD", "TOTAL", "PERIOD", "HOURS"
    );
    for l in lines {
        let _ = writeln!(
            out,
            "{:<24} {:<36} {:<18} {:<12} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>8.2}{}",
            l.user,
            l.pay_model,
            l.workspace_type,
            l.request_status,
            l.soft_limit,
            l.hard_limit,
            l.total_usage,
            l.period_usage,
            l.period_hours,
            if l.current { " *" } else { "" }
        );
    }
    out
}
