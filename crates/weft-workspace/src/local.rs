//! The local backend: each user's notebook is a process on this machine, listening on a
//! loopback port, with its own home directory (the persistent directory) under
//! `<dir>/home/<slug>`.
//!
//! Isolation: when weft runs as root (and `separate_users` is not turned off), each user's
//! notebook runs as a Unix user of its own (uid and gid `uid_base + n`), its home is `0700`
//! and owned by that uid, and weft's data directory keeps only `workspaces/` reachable, so
//! a notebook cannot read another user's files or weft's database and objects. The process
//! starts with an empty environment plus what the kind and the service give it (weft's own
//! secrets are never inherited), and the notebook's secret is passed in the environment,
//! never on the command line (which every local user can read in `/proc`).
//!
//! Every process of a workspace, kernels included, carries `WEFT_WORKSPACE=<slug>` in its
//! environment: that is how a stop finds all of them, and how a restarted weft finds the
//! workspaces it had started.

use std::collections::HashMap;
use std::os::unix::fs::{PermissionsExt as _, chown};
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::process::{Child, Command};
use url::Url;

use crate::backend::{Backend, BackendError, Condition, LaunchSpec, Launched, Probe};

/// The environment variable that marks every process of a workspace (its slug).
pub const MARKER: &str = "WEFT_WORKSPACE";

/// The environment variable naming the workspaces' directory of the weft that started it,
/// so two wefts on one machine never touch each other's workspaces.
pub const DIR_MARKER: &str = "WEFT_WORKSPACE_DIR";

/// How long a stop waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The local backend's settings.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// `<dir>/home/<slug>` are the homes, `<dir>/logs/<slug>.log` the notebooks' output.
    pub dir: PathBuf,
    /// Run each user's notebook as its own uid (needs root).
    pub separate_users: bool,
    pub uid_base: u32,
    /// The command of a kind that names none: JupyterLab from the environment `weft
    /// workspace setup` installs.
    pub default_command: Vec<String>,
}

/// What the store keeps to find a local workspace again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalHandle {
    pub slug: String,
    pub pid: u32,
    pub port: u16,
    pub uid: Option<u32>,
}

/// A process per workspace on this machine.
#[derive(Debug)]
pub struct LocalBackend {
    cfg: LocalConfig,
    /// The processes this weft started, by slug, so they are reaped when they exit.
    children: Mutex<HashMap<String, Child>>,
}

/// Whether this process may give its children other uids.
#[must_use]
pub fn can_separate_users() -> bool {
    nix::unistd::geteuid().is_root()
}

impl LocalBackend {
    /// # Errors
    /// When the directories cannot be made.
    pub fn new(mut cfg: LocalConfig) -> Result<Self, BackendError> {
        if cfg.separate_users && !can_separate_users() {
            return Err(BackendError::Invalid(
                "workspace.separate_users needs weft to run as root".into(),
            ));
        }
        for (sub, mode) in [("", 0o711), ("home", 0o711), ("logs", 0o700)] {
            let d = cfg.dir.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| failed(&d, &e))?;
            if cfg.separate_users {
                set_mode(&d, mode)?;
            }
        }
        // the notebook runs in its home: the path must not depend on weft's directory
        cfg.dir = cfg.dir.canonicalize().map_err(|e| failed(&cfg.dir, &e))?;
        Ok(Self {
            cfg,
            children: Mutex::new(HashMap::new()),
        })
    }

    /// The user's persistent directory.
    #[must_use]
    pub fn home(&self, slug: &str) -> PathBuf {
        self.cfg.dir.join("home").join(slug)
    }

    fn log_path(&self, slug: &str) -> PathBuf {
        self.cfg.dir.join("logs").join(format!("{slug}.log"))
    }

    /// The last lines the notebook printed (for a status page when it failed).
    #[must_use]
    pub fn log_tail(&self, slug: &str, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path(slug)).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The uid for a user: the owner of their home if it has one of ours, else the first
    /// free one from a place the slug picks.
    fn uid_for(&self, slug: &str) -> Result<u32, BackendError> {
        use std::os::unix::fs::MetadataExt as _;
        let home = self.home(slug);
        if let Ok(m) = std::fs::metadata(&home)
            && m.uid() >= self.cfg.uid_base
        {
            return Ok(m.uid());
        }
        let mut taken = std::collections::HashSet::new();
        let homes = self.cfg.dir.join("home");
        if let Ok(rd) = std::fs::read_dir(&homes) {
            for e in rd.flatten() {
                if let Ok(m) = e.metadata() {
                    taken.insert(m.uid());
                }
            }
        }
        let start = slug
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
            % 50_000;
        (0..50_000u32)
            .map(|i| self.cfg.uid_base + (start + i) % 50_000)
            .find(|u| !taken.contains(u))
            .ok_or_else(|| BackendError::Failed("no free workspace uid".into()))
    }

    fn prepare_home(&self, spec: &LaunchSpec, uid: Option<u32>) -> Result<PathBuf, BackendError> {
        let home = self.home(&spec.slug);
        std::fs::create_dir_all(&home).map_err(|e| failed(&home, &e))?;
        if let Some(uid) = uid {
            chown(&home, Some(uid), Some(uid)).map_err(|e| failed(&home, &e))?;
            set_mode(&home, 0o700)?;
        }
        for (rel, body) in &spec.files {
            write_in(&home, rel, body, uid)?;
        }
        Ok(home)
    }

    fn command(
        &self,
        spec: &LaunchSpec,
        port: u16,
        home: &Path,
    ) -> Result<Vec<String>, BackendError> {
        let template = if spec.kind.command.is_empty() {
            &self.cfg.default_command
        } else {
            &spec.kind.command
        };
        if template.is_empty() {
            return Err(BackendError::Invalid(format!(
                "workspace kind {:?} has no command, and no JupyterLab is installed: run \
                 `weft workspace setup`",
                spec.kind.name
            )));
        }
        Ok(template
            .iter()
            .map(|a| {
                a.replace("{port}", &port.to_string())
                    .replace("{token}", &spec.secret)
                    .replace("{base_url}", &spec.base_path)
                    .replace("{home}", &home.to_string_lossy())
            })
            .collect())
    }

    fn parse(handle: &str) -> Result<LocalHandle, BackendError> {
        serde_json::from_str(handle)
            .map_err(|e| BackendError::Invalid(format!("not a local workspace handle: {e}")))
    }
}

#[async_trait]
impl Backend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn launch(&self, spec: LaunchSpec) -> Result<Launched, BackendError> {
        let uid = if self.cfg.separate_users {
            Some(self.uid_for(&spec.slug)?)
        } else {
            None
        };
        let home = self.prepare_home(&spec, uid)?;
        let port = free_port()?;
        let argv = self.command(&spec, port, &home)?;
        let log_path = self.log_path(&spec.slug);
        let log = std::fs::File::create(&log_path).map_err(|e| failed(&log_path, &e))?;
        let log2 = log.try_clone().map_err(|e| failed(&log_path, &e))?;

        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .current_dir(&home)
            .env_clear()
            .env("PATH", path_for(&argv[0]))
            .env("HOME", &home)
            .env("LANG", "C.UTF-8")
            .env("SHELL", "/bin/bash")
            .env("JUPYTER_TOKEN", &spec.secret)
            .env("WEFT_WORKSPACE_PORT", port.to_string())
            .env(MARKER, &spec.slug)
            .env(DIR_MARKER, &self.cfg.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .process_group(0)
            .kill_on_drop(false);
        if let Some(user) = std::env::var_os("USER").filter(|_| uid.is_none()) {
            cmd.env("USER", user);
        }
        for (k, v) in spec.kind.env.iter().chain(&spec.env) {
            cmd.env(k, v.replace("{home}", &home.to_string_lossy()));
        }
        if let Some(uid) = uid {
            cmd.uid(uid)
                .gid(uid)
                .env("USER", format!("ws-{}", spec.slug));
        }
        let child = cmd
            .spawn()
            .map_err(|e| BackendError::Failed(format!("could not start {:?}: {e}", argv[0])))?;
        let pid = child
            .id()
            .ok_or_else(|| BackendError::Failed("the notebook exited at once".into()))?;
        let handle = LocalHandle {
            slug: spec.slug.clone(),
            pid,
            port,
            uid,
        };
        self.children
            .lock()
            .map_err(|_| BackendError::Failed("lock poisoned".into()))?
            .insert(spec.slug, child);
        Ok(Launched {
            handle: serde_json::to_string(&handle).unwrap_or_default(),
        })
    }

    fn target(&self, handle: &str) -> Result<Url, BackendError> {
        let h = Self::parse(handle)?;
        Url::parse(&format!("http://127.0.0.1:{}", h.port))
            .map_err(|e| BackendError::Invalid(e.to_string()))
    }

    async fn probe(&self, handle: &str) -> Result<Probe, BackendError> {
        let h = Self::parse(handle)?;
        let exited = {
            let mut children = self
                .children
                .lock()
                .map_err(|_| BackendError::Failed("lock poisoned".into()))?;
            match children.get_mut(&h.slug) {
                Some(c) if c.id() == Some(h.pid) => match c.try_wait() {
                    Ok(Some(status)) => {
                        children.remove(&h.slug);
                        Some(format!("the notebook exited ({status})"))
                    }
                    Ok(None) => None,
                    Err(e) => Some(format!("the notebook cannot be watched: {e}")),
                },
                _ => (!self.process_of(h.pid, &h.slug))
                    .then(|| "the notebook process is gone".to_owned()),
            }
        };
        Ok(match exited {
            Some(why) => {
                let tail = self.log_tail(&h.slug, 5);
                Probe::Gone(if tail.is_empty() {
                    why
                } else {
                    format!("{why}: {tail}")
                })
            }
            None => Probe::Alive(vec![Condition {
                kind: "ProcessStarted".into(),
                ok: true,
            }]),
        })
    }

    async fn stop(&self, handle: &str) -> Result<(), BackendError> {
        let h = Self::parse(handle)?;
        let child = self
            .children
            .lock()
            .map_err(|_| BackendError::Failed("lock poisoned".into()))?
            .remove(&h.slug);
        // the server first (it shuts its kernels down), then whatever is left
        self.signal_all(&h.slug, Signal::SIGTERM);
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        while tokio::time::Instant::now() < deadline && !self.processes_of(&h.slug).is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.signal_all(&h.slug, Signal::SIGKILL);
        if let Some(mut c) = child {
            let _ = tokio::time::timeout(Duration::from_secs(2), c.wait()).await;
        }
        Ok(())
    }

    async fn put_file(&self, slug: &str, path: &str, body: &[u8]) -> Result<(), BackendError> {
        use std::os::unix::fs::MetadataExt as _;
        let home = self.home(slug);
        let uid = if self.cfg.separate_users {
            std::fs::metadata(&home).ok().map(|m| m.uid())
        } else {
            None
        };
        write_in(&home, path, body, uid)
    }

    async fn running(&self) -> Result<Vec<String>, BackendError> {
        let mut out = Vec::new();
        for (pid, env) in self.marked_processes() {
            // the server itself is the one that knows its port; kernels carry it too, so
            // keep the group leader (its pid is its process group)
            let Some(slug) = env.get(MARKER) else {
                continue;
            };
            let Some(port) = env.get("WEFT_WORKSPACE_PORT").and_then(|p| p.parse().ok()) else {
                continue;
            };
            if nix::unistd::getpgid(Some(Pid::from_raw(pid_i32(pid))))
                .is_ok_and(|g| g.as_raw() == pid_i32(pid))
            {
                out.push(
                    serde_json::to_string(&LocalHandle {
                        slug: slug.clone(),
                        pid,
                        port,
                        uid: proc_uid(pid),
                    })
                    .unwrap_or_default(),
                );
            }
        }
        Ok(out)
    }
}

fn failed(path: &Path, e: &std::io::Error) -> BackendError {
    BackendError::Failed(format!("{}: {e}", path.display()))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), BackendError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| failed(path, &e))
}

/// Write `body` at `rel` under `home` (no `..`, no absolute paths), owned by `uid`.
fn write_in(home: &Path, rel: &str, body: &[u8], uid: Option<u32>) -> Result<(), BackendError> {
    let rel_path = Path::new(rel);
    if rel.is_empty()
        || !rel_path
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(BackendError::Invalid(format!(
            "not a relative path: {rel:?}"
        )));
    }
    let mut dir = home.to_path_buf();
    if let Some(parent) = rel_path.parent() {
        for part in parent.components() {
            dir.push(part);
            // a link planted in place of a directory would lead the write elsewhere
            if std::fs::symlink_metadata(&dir).is_ok_and(|m| !m.is_dir()) {
                std::fs::remove_file(&dir).map_err(|e| failed(&dir, &e))?;
            }
            if std::fs::symlink_metadata(&dir).is_err() {
                std::fs::create_dir(&dir).map_err(|e| failed(&dir, &e))?;
                if let Some(uid) = uid {
                    chown(&dir, Some(uid), Some(uid)).map_err(|e| failed(&dir, &e))?;
                }
            }
        }
    }
    let path = home.join(rel_path);
    // never follow a link the notebook's user may have planted
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
        std::fs::remove_file(&path).map_err(|e| failed(&path, &e))?;
    }
    std::fs::write(&path, body).map_err(|e| failed(&path, &e))?;
    set_mode(&path, 0o600)?;
    if let Some(uid) = uid {
        chown(&path, Some(uid), Some(uid)).map_err(|e| failed(&path, &e))?;
    }
    Ok(())
}

fn free_port() -> Result<u16, BackendError> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| BackendError::Failed(format!("no free port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| BackendError::Failed(format!("no free port: {e}")))
}

/// `PATH` for the notebook: the command's own directory first (a venv's `bin`).
fn path_for(program: &str) -> String {
    let base = "/usr/local/bin:/usr/bin:/bin";
    match Path::new(program).parent().filter(|p| p.is_absolute()) {
        Some(p) => format!("{}:{base}", p.display()),
        None => base.to_owned(),
    }
}

fn pid_i32(pid: u32) -> i32 {
    i32::try_from(pid).unwrap_or(i32::MAX)
}

impl LocalBackend {
    /// Every live process of this weft's workspaces, with its environment.
    fn marked_processes(&self) -> Vec<(u32, HashMap<String, String>)> {
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let dir_marker = format!("{DIR_MARKER}={}", self.cfg.dir.display());
        let mut out = Vec::new();
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(raw) = std::fs::read(e.path().join("environ")) else {
                continue;
            };
            if !raw.split(|b| *b == 0).any(|kv| kv == dir_marker.as_bytes()) {
                continue;
            }
            let env = raw
                .split(|b| *b == 0)
                .filter_map(|kv| {
                    let s = String::from_utf8_lossy(kv);
                    s.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))
                })
                .collect();
            if !is_zombie(pid) {
                out.push((pid, env));
            }
        }
        out
    }

    fn processes_of(&self, slug: &str) -> Vec<u32> {
        self.marked_processes()
            .into_iter()
            .filter(|(_, env)| env.get(MARKER).is_some_and(|s| s == slug))
            .map(|(pid, _)| pid)
            .collect()
    }

    /// Whether `pid` is a live process of workspace `slug`.
    fn process_of(&self, pid: u32, slug: &str) -> bool {
        !is_zombie(pid) && self.processes_of(slug).contains(&pid)
    }

    fn signal_all(&self, slug: &str, sig: Signal) {
        for pid in self.processes_of(slug) {
            let _ = kill(Pid::from_raw(pid_i32(pid)), sig);
        }
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

fn proc_uid(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Keep only `keep` reachable in `data_dir` for other users: the directory becomes
/// traverse-only and every other entry in it private. Called when workspaces run as users
/// of their own.
///
/// # Errors
/// When a mode cannot be changed.
pub fn protect_data_dir(data_dir: &Path, keep: &Path) -> Result<(), BackendError> {
    set_mode(data_dir, 0o711)?;
    let keep_name = keep
        .strip_prefix(data_dir)
        .ok()
        .and_then(|p| p.components().next())
        .map(|c| c.as_os_str().to_owned());
    let rd = std::fs::read_dir(data_dir).map_err(|e| failed(data_dir, &e))?;
    for e in rd.flatten() {
        if Some(e.file_name()) == keep_name {
            continue;
        }
        let path = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o7700;
        set_mode(&path, mode)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn files_stay_inside_the_home() {
        let dir = tempfile::tempdir().unwrap();
        write_in(dir.path(), "manifests/m.json", b"[]", None).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("manifests/m.json")).unwrap(),
            b"[]"
        );
        for bad in ["../x", "/etc/passwd", "a/../../b", ""] {
            assert!(
                matches!(
                    write_in(dir.path(), bad, b"", None),
                    Err(BackendError::Invalid(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_planted_link_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"secret").unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        std::os::unix::fs::symlink(&outside, home.join("f")).unwrap();
        write_in(&home, "f", b"new", None).unwrap();
        assert_eq!(std::fs::read(&outside).unwrap(), b"secret");
        assert_eq!(std::fs::read(home.join("f")).unwrap(), b"new");
    }

    #[test]
    fn the_path_starts_with_the_commands_directory() {
        assert!(path_for("/w/env/bin/jupyter").starts_with("/w/env/bin:"));
        assert_eq!(path_for("jupyter"), "/usr/local/bin:/usr/bin:/bin");
    }
}
