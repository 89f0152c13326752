//! The objects a workspace is made of, built from a [`LaunchSpec`]: pure functions, no I/O.
//!
//! Per user (`slug`), in the configured namespace:
//!
//! | object | name | lives |
//! |---|---|---|
//! | PersistentVolumeClaim | `claim-<slug>` | forever: the user's persistent directory |
//! | Secret | `hatchery-<slug>-token` | with the workspace: the notebook's secret, the API key |
//! | ConfigMap | `hatchery-<slug>-files` | with the workspace: the files weft places |
//! | Pod | `hatchery-<slug>` | with the workspace |
//! | Service | `h-<slug>-svc` | with the workspace: port 80 → the notebook |
//!
//! Every object carries the labels of [`labels`], among them [`INSTANCE_LABEL`]: the id of
//! the weft that made it, so that wefts sharing a namespace each list (and adopt or stop)
//! only their own pods.
//!
//! # What is secret
//!
//! The pod spec holds no secret, since whoever may read pods may read it. The Secret holds
//! the notebook's secret (key [`TOKEN_KEY`], given to the notebook as `JUPYTER_TOKEN`, which
//! Jupyter Server reads), the launch's secret environment ([`SECRET_ENV`], as `env.<NAME>`,
//! given through `secretKeyRef`) and the secret files ([`SECRET_FILES`], with the same two
//! keys per file as the ConfigMap). The readiness probe is a TCP connect, which needs no
//! secret. A kind's own `command` may still use `{token}`, which puts the secret in the
//! pod's arguments: Jupyter needs none there.
//!
//! # How files reach the persistent directory
//!
//! Every file is two keys of the ConfigMap (or, for a secret file, of the Secret): `<key>`
//! holds its bytes (`data` when UTF-8, else `binaryData`) and `<key>.path` its path relative
//! to the user's directory. The ConfigMap is mounted whole (no `items`, no `subPath`) at
//! [`FILES_DIR`], the Secret at [`SECRET_DIR`], which is what makes the kubelet project keys
//! added later into the running pod.
//!
//! A small POSIX shell script ([`place_script`]) copies each file (of both directories) whose
//! bytes it has not placed yet to `<user_volume_location>/<path>` (atomically, through a
//! rename), remembering
//! what it placed in an `emptyDir` ([`PLACED_DIR`]). It runs twice, from the notebook's image
//! (which has a shell): once as the init container `place-files`, so the files are there
//! before the notebook starts (and the pod fails, visibly, if they cannot be written), and
//! then every 10 s in the small `files` container next to the notebook, so a file added with
//! `put_file` (a merge patch of the ConfigMap or the Secret) lands within the kubelet's sync
//! period plus 10 s. Files are real files on the claim: they stay when the workspace stops, the user may
//! edit them, and only new bytes from weft replace them.
//!
//! Mounting the ConfigMap over the directories themselves was not chosen: a volume with
//! `items` never shows keys added later, a `subPath` mount is never updated, and a whole
//! ConfigMap per directory would hide that directory of the claim behind a read-only view.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, Pod,
    PodSecurityContext, PodSpec, Probe, ResourceRequirements, Secret, SecretKeySelector,
    SecretVolumeSource, Service, ServicePort, ServiceSpec, TCPSocketAction, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use md5::{Digest as _, Md5};
use serde_json::{Map, Value};

use crate::backend::{BackendError, LaunchSpec};

/// Label on every object weft creates; `running` lists pods by it.
pub const MANAGED_BY: (&str, &str) = ("managed-by", "weft");
/// Label naming the user (the slug) on every object.
pub const USER_LABEL: &str = "weft-user";
/// Label naming the weft that made the object (`workspace.kubernetes.instance`).
pub const INSTANCE_LABEL: &str = "weft-instance";
/// The `app` label, as hatchery's pods carry one.
pub const APP: (&str, &str) = ("app", "hatchery");
/// The notebook's container.
pub const NOTEBOOK: &str = "notebook";
/// Where the files ConfigMap is mounted in the init and `files` containers.
pub const FILES_DIR: &str = "/var/run/weft/files";
/// Where the Secret is mounted in the init and `files` containers (not in the notebook).
pub const SECRET_DIR: &str = "/var/run/weft/secret";
/// Where those containers remember what they placed (an `emptyDir`).
pub const PLACED_DIR: &str = "/var/run/weft/placed";
/// The Secret's key holding the notebook's secret.
pub const TOKEN_KEY: &str = "token";
/// The environment variable the notebook reads its secret from (Jupyter Server's).
pub const TOKEN_ENV: &str = "JUPYTER_TOKEN";
/// Files kept in the Secret instead of the ConfigMap: `.gen3/credentials.json` holds the
/// user's API key.
pub const SECRET_FILES: [&str; 1] = [".gen3/credentials.json"];
/// Variables of the launch's environment given to the notebook from the Secret.
pub const SECRET_ENV: [&str; 1] = ["API_KEY"];
/// The port the Service listens on.
pub const SERVICE_PORT: u16 = 80;
/// The group the claim is made writable for (`fsGroup`): `users`, the group of the
/// Jupyter docker-stacks images' `jovyan`.
pub const FS_GROUP: i64 = 100;

/// The four readiness conditions reported by `probe`, in the order a pod passes them.
pub const CONDITIONS: [&str; 4] = ["PodScheduled", "Initialized", "ContainersReady", "Ready"];

#[must_use]
pub fn claim_name(slug: &str) -> String {
    format!("claim-{slug}")
}

#[must_use]
pub fn files_name(slug: &str) -> String {
    format!("hatchery-{slug}-files")
}

#[must_use]
pub fn secret_name(slug: &str) -> String {
    format!("hatchery-{slug}-token")
}

#[must_use]
pub fn pod_name(slug: &str) -> String {
    format!("hatchery-{slug}")
}

#[must_use]
pub fn service_name(slug: &str) -> String {
    format!("h-{slug}-svc")
}

/// The slug must make valid object names and label values: `[a-z0-9-]`, 1 to 40
/// characters, starting and ending with a letter or digit.
pub fn check_slug(slug: &str) -> Result<(), BackendError> {
    let ok = (1..=40).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(BackendError::Invalid(format!(
            "{slug:?} cannot name a workspace: it needs 1 to 40 of [a-z0-9-], starting and \
             ending with a letter or digit"
        )))
    }
}

/// The instance id must be a label value: 1 to 63 of `[A-Za-z0-9._-]`, starting and ending
/// with a letter or digit.
pub fn check_instance(id: &str) -> Result<(), BackendError> {
    let edge = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    let ok = id.len() <= 63
        && edge(id.bytes().next())
        && edge(id.bytes().last())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(BackendError::Invalid(format!(
            "{id:?} cannot be a weft instance id: it needs 1 to 63 of [A-Za-z0-9._-], starting \
             and ending with a letter or digit"
        )))
    }
}

/// A file's path must stay inside the user's directory and survive the shell script: relative,
/// no `.`, `..` or empty parts, no control characters, at most 1024 bytes.
pub fn check_path(path: &str) -> Result<(), BackendError> {
    let bad = path.is_empty()
        || path.len() > 1024
        || path.starts_with('/')
        || path.chars().any(char::is_control)
        || path
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if bad {
        Err(BackendError::Invalid(format!(
            "{path:?} is not a file path inside the workspace's directory"
        )))
    } else {
        Ok(())
    }
}

/// The ConfigMap key holding a file's bytes: the first 8 hex digits of the MD5 of its path
/// (so distinct paths never share a key, and a key never starts with `.`), then the path with
/// every character but `[A-Za-z0-9._-]` as `_`, cut to 200 bytes
/// (`.gen3/credentials.json` → `…-.gen3_credentials.json`).
#[must_use]
pub fn file_key(path: &str) -> String {
    let hash = hex::encode(Md5::digest(path.as_bytes()));
    let safe: String = path
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cut = safe.len().saturating_sub(200);
    format!("{}-{}", &hash[..8], &safe[cut..])
}

/// The key holding the path of the file stored under `key`.
#[must_use]
pub fn path_key(key: &str) -> String {
    format!("{key}.path")
}

/// The Secret's key holding the environment variable `name`.
#[must_use]
pub fn env_key(name: &str) -> String {
    format!("env.{name}")
}

/// Whether the file at `path` goes to the Secret rather than the ConfigMap.
#[must_use]
pub fn is_secret_file(path: &str) -> bool {
    SECRET_FILES.contains(&path)
}

/// Where a workspace's objects go: the namespace, and the id of the weft making them.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    pub namespace: &'a str,
    pub instance: &'a str,
}

/// The labels of every object of a user's workspace; the Service selects the pod by them.
#[must_use]
pub fn labels(slug: &str, instance: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (APP.0.to_owned(), APP.1.to_owned()),
        (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
        (USER_LABEL.to_owned(), slug.to_owned()),
        (INSTANCE_LABEL.to_owned(), instance.to_owned()),
    ])
}

/// The label selector `running` lists pods with: weft's, of this instance.
#[must_use]
pub fn managed_selector(instance: &str) -> String {
    format!(
        "{}={},{INSTANCE_LABEL}={instance}",
        MANAGED_BY.0, MANAGED_BY.1
    )
}

fn meta(name: String, site: Site<'_>, spec: &LaunchSpec) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(site.namespace.to_owned()),
        labels: Some(labels(&spec.slug, site.instance)),
        // hatchery's annotation: who the workspace is for.
        annotations: Some(BTreeMap::from([(
            "gen3username".to_owned(),
            spec.user.clone(),
        )])),
        ..ObjectMeta::default()
    }
}

/// The user's claim: one `ReadWriteOnce` volume of `size`.
#[must_use]
pub fn claim(
    spec: &LaunchSpec,
    site: Site<'_>,
    size: &str,
    storage_class: Option<&str>,
) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: meta(claim_name(&spec.slug), site, spec),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(size.to_owned()),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            storage_class_name: storage_class.map(str::to_owned),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

/// The ConfigMap holding `spec.files` but the secret ones (see the module doc for its
/// layout).
#[must_use]
pub fn files(spec: &LaunchSpec, site: Site<'_>) -> ConfigMap {
    let mut data = BTreeMap::new();
    let mut binary = BTreeMap::new();
    for (path, body) in spec.files.iter().filter(|(p, _)| !is_secret_file(p)) {
        let key = file_key(path);
        data.insert(path_key(&key), path.clone());
        match std::str::from_utf8(body) {
            Ok(text) => {
                data.insert(key, text.to_owned());
            }
            Err(_) => {
                binary.insert(key, ByteString(body.clone()));
            }
        }
    }
    ConfigMap {
        metadata: meta(files_name(&spec.slug), site, spec),
        data: Some(data),
        binary_data: (!binary.is_empty()).then_some(binary),
        ..ConfigMap::default()
    }
}

/// The launch's secret environment ([`SECRET_ENV`]), `{home}` filled; a later value of a
/// name replaces an earlier one.
#[must_use]
pub fn secret_env(spec: &LaunchSpec, home: &str) -> BTreeMap<String, String> {
    spec.env
        .iter()
        .filter(|(name, _)| SECRET_ENV.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.replace("{home}", home)))
        .collect()
}

/// The Secret: the notebook's secret, the secret environment and the secret files (see the
/// module doc).
#[must_use]
pub fn secret(spec: &LaunchSpec, site: Site<'_>, home: &str) -> Secret {
    let mut data = BTreeMap::from([(
        TOKEN_KEY.to_owned(),
        ByteString(spec.secret.as_bytes().to_vec()),
    )]);
    for (name, value) in secret_env(spec, home) {
        data.insert(env_key(&name), ByteString(value.into_bytes()));
    }
    for (path, body) in spec.files.iter().filter(|(p, _)| is_secret_file(p)) {
        let key = file_key(path);
        data.insert(path_key(&key), ByteString(path.as_bytes().to_vec()));
        data.insert(key, ByteString(body.clone()));
    }
    Secret {
        metadata: meta(secret_name(&spec.slug), site, spec),
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}

/// The JSON merge patch that adds (or replaces) one file in the Secret.
#[must_use]
pub fn secret_file_patch(path: &str, body: &[u8]) -> Value {
    let key = file_key(path);
    let encode = |b: &[u8]| serde_json::to_value(ByteString(b.to_vec())).unwrap_or(Value::Null);
    serde_json::json!({ "data": {
        path_key(&key): encode(path.as_bytes()),
        key: encode(body),
    }})
}

/// The JSON merge patch that adds (or replaces) one file in the ConfigMap. The key is
/// removed from the map its bytes do not go to, since a key may not be in both.
#[must_use]
pub fn file_patch(path: &str, body: &[u8]) -> Value {
    let key = file_key(path);
    let mut data = Map::new();
    let mut binary = Map::new();
    data.insert(path_key(&key), Value::String(path.to_owned()));
    if let Ok(text) = std::str::from_utf8(body) {
        data.insert(key.clone(), Value::String(text.to_owned()));
        binary.insert(key, Value::Null);
    } else {
        let encoded = serde_json::to_value(ByteString(body.to_vec())).unwrap_or(Value::Null);
        binary.insert(key.clone(), encoded);
        data.insert(key, Value::Null);
    }
    serde_json::json!({ "data": data, "binaryData": binary })
}

/// The shell script that places the files of the ConfigMap (in `$WEFT_FILES`) and of the
/// Secret (in `$WEFT_SECRET`) in the user's directory (`$WEFT_HOME`), remembering what it
/// placed in `$WEFT_PLACED`; it exits non-zero if a file could not be placed.
#[must_use]
pub fn place_script() -> &'static str {
    r#"rc=0
for dir in "$WEFT_FILES" "$WEFT_SECRET"; do
  [ -n "$dir" ] || continue
  for p in "$dir"/*.path; do
    [ -f "$p" ] || continue
    key=${p%.path}; key=${key##*/}
    src="$dir/$key"; seen="$WEFT_PLACED/${dir##*/}.$key"
    [ -f "$src" ] || continue
    cmp -s "$src" "$seen" 2>/dev/null && continue
    dest="$WEFT_HOME/$(cat "$p")"
    if mkdir -p "$(dirname "$dest")" && cp "$src" "$dest.weft-new" && chmod 600 "$dest.weft-new" && mv -f "$dest.weft-new" "$dest" && cp "$src" "$seen"; then :; else rc=1; fi
  done
done
exit $rc"#
}

/// `{port}`, `{token}`, `{base_url}` and `{home}` replaced in one argument.
#[must_use]
pub fn fill(arg: &str, port: u16, token: &str, base_url: &str, home: &str) -> String {
    arg.replace("{port}", &port.to_string())
        .replace("{token}", token)
        .replace("{base_url}", base_url)
        .replace("{home}", home)
}

/// The notebook's arguments (the image's entrypoint is kept): the kind's command with its
/// placeholders filled, or, when it has none, those of the Jupyter docker-stacks images.
/// The notebook's secret comes from `JUPYTER_TOKEN`; a command that uses `{token}` puts it
/// in the pod spec.
#[must_use]
pub fn notebook_args(spec: &LaunchSpec, home: &str) -> Vec<String> {
    let port = spec.kind.target_port;
    if spec.kind.command.is_empty() {
        vec![
            "start-notebook.sh".to_owned(),
            format!("--ServerApp.base_url={}", spec.base_path),
            format!("--ServerApp.port={port}"),
            "--ServerApp.ip=0.0.0.0".to_owned(),
        ]
    } else {
        spec.kind
            .command
            .iter()
            .map(|a| fill(a, port, &spec.secret, &spec.base_path, home))
            .collect()
    }
}

/// The kind's environment, then the launch's; a later name replaces an earlier one in place.
/// The launch's secret variables and `JUPYTER_TOKEN` (last, replacing any other) come from
/// the Secret.
#[must_use]
pub fn notebook_env(spec: &LaunchSpec, home: &str) -> Vec<EnvVar> {
    let mut env: Vec<EnvVar> = Vec::new();
    for (name, value) in spec.kind.env.iter().chain(&spec.env) {
        // `{home}` is the user's persistent directory, as in the command
        let value = &value.replace("{home}", home);
        if let Some(e) = env.iter_mut().find(|e| &e.name == name) {
            e.value = Some(value.clone());
        } else {
            env.push(EnvVar {
                name: name.clone(),
                value: Some(value.clone()),
                ..EnvVar::default()
            });
        }
    }
    let from_secret = |key: String| {
        Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret_name(&spec.slug),
                key,
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        })
    };
    for name in secret_env(spec, home).into_keys() {
        if let Some(e) = env.iter_mut().find(|e| e.name == name) {
            e.value = None;
            e.value_from = from_secret(env_key(&name));
        }
    }
    env.retain(|e| e.name != TOKEN_ENV);
    env.push(EnvVar {
        name: TOKEN_ENV.to_owned(),
        value_from: from_secret(TOKEN_KEY.to_owned()),
        ..EnvVar::default()
    });
    env
}

fn resources(cpu: &str, memory: &str) -> ResourceRequirements {
    // Requests equal to the limits, as hatchery sets them: the pod gets what it may use.
    let list = BTreeMap::from([
        ("cpu".to_owned(), Quantity(cpu.to_owned())),
        ("memory".to_owned(), Quantity(memory.to_owned())),
    ]);
    ResourceRequirements {
        limits: Some(list.clone()),
        requests: Some(list),
        ..ResourceRequirements::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        ..VolumeMount::default()
    }
}

/// A container of the notebook's image that runs the place script (`repeat`: every 10 s,
/// until stopped).
fn placer(name: &str, spec: &LaunchSpec, home: &str, repeat: bool) -> Container {
    let script = place_script();
    let command = if repeat {
        format!("trap 'exit 0' TERM; while :; do ( {script} ) || true; sleep 10 & wait $!; done")
    } else {
        script.to_owned()
    };
    Container {
        name: name.to_owned(),
        image: Some(spec.kind.image.clone()),
        command: Some(vec!["sh".to_owned(), "-c".to_owned(), command]),
        env: Some(
            [
                ("WEFT_HOME", home),
                ("WEFT_FILES", FILES_DIR),
                ("WEFT_SECRET", SECRET_DIR),
                ("WEFT_PLACED", PLACED_DIR),
            ]
            .into_iter()
            .map(|(name, value)| EnvVar {
                name: name.to_owned(),
                value: Some(value.to_owned()),
                ..EnvVar::default()
            })
            .collect(),
        ),
        resources: Some(resources("100m", "64Mi")),
        volume_mounts: Some(vec![
            mount("user-data", home),
            mount("weft-files", FILES_DIR),
            mount("weft-secret", SECRET_DIR),
            mount("weft-placed", PLACED_DIR),
        ]),
        ..Container::default()
    }
}

/// The workspace pod: the `place-files` init container, the `notebook` and the `files`
/// container (see the module doc), the claim mounted at `home`.
#[must_use]
pub fn pod(spec: &LaunchSpec, site: Site<'_>, home: &str) -> Pod {
    let kind = &spec.kind;
    let notebook = Container {
        name: NOTEBOOK.to_owned(),
        image: Some(kind.image.clone()),
        args: Some(notebook_args(spec, home)),
        env: Some(notebook_env(spec, home)),
        ports: Some(vec![k8s_openapi::api::core::v1::ContainerPort {
            container_port: i32::from(kind.target_port),
            name: Some("notebook".to_owned()),
            ..Default::default()
        }]),
        resources: Some(resources(&kind.cpu_limit, &kind.memory_limit)),
        volume_mounts: Some(vec![mount("user-data", home)]),
        // A connect, which needs no secret (the notebook answers `api/status` only to its
        // token); the service asks `api/status` itself before it reports `Running`.
        readiness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::Int(i32::from(kind.target_port)),
                ..TCPSocketAction::default()
            }),
            period_seconds: Some(5),
            ..Probe::default()
        }),
        ..Container::default()
    };
    Pod {
        metadata: meta(pod_name(&spec.slug), site, spec),
        spec: Some(PodSpec {
            init_containers: Some(vec![placer("place-files", spec, home, false)]),
            containers: vec![notebook, placer("files", spec, home, true)],
            // As hatchery: a notebook that exits is not restarted; its pod is reported gone.
            restart_policy: Some("Never".to_owned()),
            enable_service_links: Some(false),
            security_context: Some(PodSecurityContext {
                fs_group: Some(FS_GROUP),
                ..PodSecurityContext::default()
            }),
            volumes: Some(vec![
                Volume {
                    name: "user-data".to_owned(),
                    persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                        claim_name: claim_name(&spec.slug),
                        ..PersistentVolumeClaimVolumeSource::default()
                    }),
                    ..Volume::default()
                },
                Volume {
                    name: "weft-files".to_owned(),
                    config_map: Some(ConfigMapVolumeSource {
                        name: files_name(&spec.slug),
                        ..ConfigMapVolumeSource::default()
                    }),
                    ..Volume::default()
                },
                Volume {
                    name: "weft-secret".to_owned(),
                    secret: Some(SecretVolumeSource {
                        secret_name: Some(secret_name(&spec.slug)),
                        ..SecretVolumeSource::default()
                    }),
                    ..Volume::default()
                },
                Volume {
                    name: "weft-placed".to_owned(),
                    empty_dir: Some(EmptyDirVolumeSource::default()),
                    ..Volume::default()
                },
            ]),
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

/// The Service in front of the pod: ClusterIP, port 80 → the notebook's port.
#[must_use]
pub fn service(spec: &LaunchSpec, site: Site<'_>) -> Service {
    Service {
        metadata: meta(service_name(&spec.slug), site, spec),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(labels(&spec.slug, site.instance)),
            ports: Some(vec![ServicePort {
                name: Some("http".to_owned()),
                protocol: Some("TCP".to_owned()),
                port: i32::from(SERVICE_PORT),
                target_port: Some(IntOrString::Int(i32::from(spec.kind.target_port))),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_safe_and_distinct() {
        let a = file_key(".gen3/credentials.json");
        assert!(a.ends_with("-.gen3_credentials.json"), "{a}");
        assert_ne!(file_key("a/b"), file_key("a_b"));
        let long = file_key(&"x/".repeat(300));
        assert!(long.len() <= 209);
        for k in [a, long, file_key("manifests/ü 1.json")] {
            assert!(
                k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            );
        }
    }

    #[test]
    fn slugs_and_paths_are_checked() {
        for ok in ["alice", "a-1", "0"] {
            assert!(check_slug(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", &"a".repeat(41)] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
        for ok in [".gen3/credentials.json", "manifests/m 1.json", "a"] {
            assert!(check_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "./a",
            "a\nb",
            "a/",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(
            fill(
                "--p={port} {token} {base_url} {home}",
                8888,
                "t",
                "/b/",
                "/h"
            ),
            "--p=8888 t /b/ /h"
        );
    }

    #[test]
    fn secret_patches_encode_bytes_and_path() {
        let patch = secret_file_patch(".gen3/credentials.json", b"{}");
        let key = file_key(".gen3/credentials.json");
        assert_eq!(patch["data"][&key], "e30=");
        assert_eq!(
            patch["data"][path_key(&key)],
            "LmdlbjMvY3JlZGVudGlhbHMuanNvbg=="
        );
    }

    #[test]
    fn instances_are_label_values() {
        for ok in ["a", "weft-a", "W.1_b", &"x".repeat(63)] {
            assert!(check_instance(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a.", "a b", "a/b", &"x".repeat(64)] {
            assert!(check_instance(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_patch_moves_a_key_between_maps() {
        let text = file_patch("a.txt", b"hi");
        let key = file_key("a.txt");
        assert_eq!(text["data"][&key], "hi");
        assert_eq!(text["binaryData"][&key], Value::Null);
        assert_eq!(text["data"][path_key(&key)], "a.txt");
        let bin = file_patch("a.txt", &[0xff, 0x00]);
        assert_eq!(bin["binaryData"][&key], "/wA=");
        assert_eq!(bin["data"][&key], Value::Null);
    }

    /// The place script against a directory laid out as the kubelet lays out a ConfigMap
    /// volume (keys as links into `..data`).
    #[cfg(unix)]
    #[test]
    fn the_place_script_places_new_bytes_only() {
        use std::fs;
        use std::os::unix::fs::symlink;

        let dir = tempfile::tempdir().unwrap();
        let (files, secret, placed, home) = (
            dir.path().join("files"),
            dir.path().join("secret"),
            dir.path().join("placed"),
            dir.path().join("home"),
        );
        for d in [&placed, &home] {
            fs::create_dir_all(d).unwrap();
        }
        let project_in = |files: &std::path::Path, generation: u32, entries: &[(&str, &[u8])]| {
            let data = files.join(format!("..{generation}"));
            fs::create_dir_all(&data).unwrap();
            for (path, body) in entries {
                let key = file_key(path);
                fs::write(data.join(&key), body).unwrap();
                fs::write(data.join(path_key(&key)), path).unwrap();
            }
            let link = files.join("..data");
            let _ = fs::remove_file(&link);
            symlink(&data, &link).unwrap();
            for entry in fs::read_dir(&data).unwrap() {
                let name = entry.unwrap().file_name();
                let _ = fs::remove_file(files.join(&name));
                symlink(files.join("..data").join(&name), files.join(&name)).unwrap();
            }
        };
        let project = |generation: u32, entries: &[(&str, &[u8])]| {
            project_in(&files, generation, entries);
        };
        let run = || {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(place_script())
                .env("WEFT_FILES", &files)
                .env("WEFT_SECRET", &secret)
                .env("WEFT_PLACED", &placed)
                .env("WEFT_HOME", &home)
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap()
        };

        // No Secret mounted yet: the ConfigMap's files are placed all the same.
        project(1, &[("m/a b.json", b"[]")]);
        assert!(run().success());
        assert_eq!(fs::read(home.join("m/a b.json")).unwrap(), b"[]");

        // The Secret's files too, with its other keys (`token`) left alone.
        project_in(&secret, 1, &[(".gen3/credentials.json", b"{}")]);
        fs::write(secret.join("..1").join(TOKEN_KEY), b"t").unwrap();
        symlink(
            secret.join("..data").join(TOKEN_KEY),
            secret.join(TOKEN_KEY),
        )
        .unwrap();
        assert!(run().success());
        assert_eq!(
            fs::read(home.join(".gen3/credentials.json")).unwrap(),
            b"{}"
        );
        assert!(!home.join(TOKEN_KEY).exists());
        project_in(&secret, 2, &[(".gen3/credentials.json", b"{\"k\":2}")]);
        assert!(run().success());
        assert_eq!(
            fs::read(home.join(".gen3/credentials.json")).unwrap(),
            b"{\"k\":2}"
        );

        // The user's edit stays until weft sends new bytes.
        fs::write(home.join("m/a b.json"), b"edited").unwrap();
        project(2, &[("m/a b.json", b"[]"), ("m/c.json", b"c")]);
        assert!(run().success());
        assert_eq!(fs::read(home.join("m/a b.json")).unwrap(), b"edited");
        assert_eq!(fs::read(home.join("m/c.json")).unwrap(), b"c");
        project(3, &[("m/a b.json", b"[1]")]);
        assert!(run().success());
        assert_eq!(fs::read(home.join("m/a b.json")).unwrap(), b"[1]");

        // A file that cannot be written fails the run.
        fs::write(home.join("blocked"), b"").unwrap();
        project(4, &[("blocked/x", b"x")]);
        assert!(!run().success());
    }
}
