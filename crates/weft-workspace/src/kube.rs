//! The Kubernetes backend: hatchery's objects, in one namespace, through the cluster's API
//! (kube-rs).
//!
//! A launch creates, for the user's slug, the claim `claim-<slug>` (once; it is never
//! deleted: it is the user's persistent directory), the Secret `hatchery-<slug>-token` (the
//! notebook's secret, the API key and `.gen3/credentials.json`), the ConfigMap
//! `hatchery-<slug>-files` (the other files to place), the pod `hatchery-<slug>` and the
//! Service `h-<slug>-svc` (port 80 → the notebook). [`objects`] builds them and says how
//! files reach the claim. The handle names the pod and Service; the notebook is reached
//! through the Service's cluster DNS name, so weft must run in (or be routed into) the
//! cluster.
//!
//! Everything a launch creates carries the label `weft-instance=<id>` (this weft's id,
//! [`default_instance`] unless configured). `running` lists only the pods of this id, so
//! wefts sharing a namespace never adopt or stop each other's pods; a pod of another id is
//! neither probed as this weft's, nor stopped, nor launched over. The object names are per
//! user, not per weft: two wefts in one namespace serving the same user share that user's
//! claim, and only one of them can run that user's workspace at a time.
//!
//! Access needed in the namespace: pods `get`, `list`, `create`, `delete`; services
//! `create`, `delete`; configmaps `create`, `delete`, `patch`; secrets `create`, `delete`,
//! `patch`; persistentvolumeclaims `get`, `create`, `delete`.

pub mod objects;

use std::time::Duration;

use ::kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use ::kube::{Client, Resource};
use async_trait::async_trait;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use md5::{Digest as _, Md5};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;
use weft_config::workspace::KubernetesConfig;

use crate::backend::{Backend, BackendError, Condition, LaunchSpec, Launched, Probe};
use objects::{
    CONDITIONS, INSTANCE_LABEL, NOTEBOOK, SERVICE_PORT, Site, USER_LABEL, check_instance,
    check_path, check_slug, claim_name, files_name, is_secret_file, pod_name, secret_name,
    service_name,
};

/// The instance id of a weft that sets none: the first 12 hex digits of the MD5 of the
/// namespace and the weft's base URL (so it changes with either).
#[must_use]
pub fn default_instance(namespace: &str, base_url: &str) -> String {
    let digest = Md5::digest(format!("{namespace}\n{base_url}").as_bytes());
    hex::encode(digest)[..12].to_owned()
}

/// What a launch returns (as JSON) and every later call reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Handle {
    namespace: String,
    pod: String,
    service: String,
    slug: String,
    port: u16,
}

impl Handle {
    fn new(namespace: &str, slug: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            pod: pod_name(slug),
            service: service_name(slug),
            slug: slug.to_owned(),
            port: SERVICE_PORT,
        }
    }

    fn parse(text: &str) -> Result<Self, BackendError> {
        serde_json::from_str(text)
            .map_err(|e| BackendError::Invalid(format!("not a kubernetes workspace handle: {e}")))
    }

    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Workspaces as pods of one namespace.
pub struct KubeBackend {
    client: Client,
    namespace: String,
    instance: String,
    volume_size: String,
    storage_class: Option<String>,
    home: String,
}

impl std::fmt::Debug for KubeBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeBackend")
            .field("namespace", &self.namespace)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// One object this launch created, to remove if a later step fails.
#[derive(Debug, Clone, Copy)]
enum Made {
    Claim,
    Secret,
    Files,
    Pod,
    Service,
}

impl KubeBackend {
    /// A client for `api_url` with `token` (a bearer token) when `api_url` is set (`http://`
    /// works too), else from the in-cluster service account or the kubeconfig. `instance` is
    /// this weft's id (a label value): `cfg.instance`, else [`default_instance`].
    ///
    /// # Errors
    /// `Invalid` for a bad `api_url` or `instance`; `Failed` when no client can be made.
    pub async fn new(cfg: &KubernetesConfig, instance: &str) -> Result<Self, BackendError> {
        check_instance(instance)?;
        let client = if let Some(url) = cfg.api_url.as_deref() {
            let uri: http::Uri = url.parse().map_err(|e| {
                BackendError::Invalid(format!("workspace.kubernetes.api_url {url:?}: {e}"))
            })?;
            let mut config = ::kube::Config::new(uri);
            config.default_namespace.clone_from(&cfg.namespace);
            config.auth_info.token = cfg
                .token
                .as_ref()
                .map(|t| secrecy::SecretString::from(t.expose().to_owned()));
            config.connect_timeout = Some(Duration::from_secs(10));
            config.read_timeout = Some(Duration::from_secs(60));
            config.reset_reader_on_write = true;
            config.write_timeout = Some(Duration::from_secs(60));
            Client::try_from(config)
        } else {
            Client::try_default().await
        }
        .map_err(|e| BackendError::Failed(format!("cannot reach the kubernetes API: {e}")))?;
        Self::with_client(client, cfg, instance)
    }

    /// The backend over a client built elsewhere.
    ///
    /// # Errors
    /// `Invalid` when `instance` is not a label value.
    pub fn with_client(
        client: Client,
        cfg: &KubernetesConfig,
        instance: &str,
    ) -> Result<Self, BackendError> {
        check_instance(instance)?;
        Ok(Self {
            client,
            namespace: cfg.namespace.clone(),
            instance: instance.to_owned(),
            volume_size: cfg.volume_size.clone(),
            storage_class: cfg.storage_class.clone(),
            home: cfg.user_volume_location.clone(),
        })
    }

    fn site(&self) -> Site<'_> {
        Site {
            namespace: &self.namespace,
            instance: &self.instance,
        }
    }

    /// The other weft a pod belongs to, if it does (by its `weft-instance` label; a pod
    /// without one predates the label and is taken as this weft's).
    fn foreign<'p>(&self, pod: &'p Pod) -> Option<&'p str> {
        pod.metadata
            .labels
            .as_ref()?
            .get(INSTANCE_LABEL)
            .map(String::as_str)
            .filter(|id| *id != self.instance)
    }

    fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Create the objects; on an error, the ones created so far are in `made`.
    async fn create_all(&self, spec: &LaunchSpec, made: &mut Vec<Made>) -> Result<(), String> {
        let ns = self.namespace.as_str();
        let slug = spec.slug.as_str();
        let pp = PostParams::default();

        // A pod left from an earlier launch (one that ended, or one being deleted) must go
        // first; a live one means the caller did not stop it.
        let pods: Api<Pod> = self.api(ns);
        if let Some(old) = pods
            .get_opt(&pod_name(slug))
            .await
            .map_err(|e| format!("cannot read pod {}: {}", pod_name(slug), message(&e)))?
        {
            if let Some(other) = self.foreign(&old) {
                return Err(format!(
                    "the workspace pod for this user ({}) belongs to another weft (instance \
                     {other}) in this namespace",
                    pod_name(slug)
                ));
            }
            if old.metadata.deletion_timestamp.is_none() && gone_reason(&old).is_none() {
                return Err(format!(
                    "a workspace pod for this user ({}) is already running",
                    pod_name(slug)
                ));
            }
            remove::<Pod>(&pods, &pod_name(slug)).await?;
            return Err(format!(
                "the previous workspace pod ({}) is still being removed; try again shortly",
                pod_name(slug)
            ));
        }

        let claims: Api<PersistentVolumeClaim> = self.api(ns);
        let claim = claim_name(slug);
        let existing = claims
            .get_opt(&claim)
            .await
            .map_err(|e| format!("cannot read claim {claim}: {}", message(&e)))?;
        if existing.is_none() {
            let object = objects::claim(
                spec,
                self.site(),
                &self.volume_size,
                self.storage_class.as_deref(),
            );
            match claims.create(&pp, &object).await {
                Ok(_) => made.push(Made::Claim),
                // Created meanwhile by someone else: it is not ours to remove.
                Err(e) if is_already_exists(&e) => {}
                Err(e) => return Err(format!("cannot create claim {claim}: {}", message(&e))),
            }
        }

        let secrets: Api<Secret> = self.api(ns);
        create_fresh(
            &secrets,
            &pp,
            &objects::secret(spec, self.site(), &self.home),
        )
        .await?;
        made.push(Made::Secret);

        let files: Api<ConfigMap> = self.api(ns);
        create_fresh(&files, &pp, &objects::files(spec, self.site())).await?;
        made.push(Made::Files);

        pods.create(&pp, &objects::pod(spec, self.site(), &self.home))
            .await
            .map_err(|e| format!("cannot create pod {}: {}", pod_name(slug), message(&e)))?;
        made.push(Made::Pod);

        let services: Api<Service> = self.api(ns);
        create_fresh(&services, &pp, &objects::service(spec, self.site())).await?;
        made.push(Made::Service);
        Ok(())
    }

    async fn undo(&self, slug: &str, made: &[Made]) {
        let ns = self.namespace.as_str();
        for m in made.iter().rev() {
            let done = match m {
                Made::Claim => {
                    remove::<PersistentVolumeClaim>(&self.api(ns), &claim_name(slug)).await
                }
                Made::Secret => remove::<Secret>(&self.api(ns), &secret_name(slug)).await,
                Made::Files => remove::<ConfigMap>(&self.api(ns), &files_name(slug)).await,
                Made::Pod => remove::<Pod>(&self.api(ns), &pod_name(slug)).await,
                Made::Service => remove::<Service>(&self.api(ns), &service_name(slug)).await,
            };
            if let Err(e) = done {
                tracing::warn!(slug, error = %e, "cannot clean up after a failed launch");
            }
        }
    }
}

#[async_trait]
impl Backend for KubeBackend {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    async fn launch(&self, spec: LaunchSpec) -> Result<Launched, BackendError> {
        check_slug(&spec.slug)?;
        if spec.kind.image.is_empty() {
            return Err(BackendError::Invalid(format!(
                "the workspace kind {:?} has no image",
                spec.kind.name
            )));
        }
        for (path, _) in &spec.files {
            check_path(path)?;
        }
        let mut made = Vec::new();
        match self.create_all(&spec, &mut made).await {
            Ok(()) => {
                tracing::info!(slug = %spec.slug, namespace = %self.namespace, "workspace pod created");
                Ok(Launched {
                    handle: Handle::new(&self.namespace, &spec.slug).to_json(),
                })
            }
            Err(e) => {
                self.undo(&spec.slug, &made).await;
                Err(BackendError::Failed(e))
            }
        }
    }

    fn target(&self, handle: &str) -> Result<Url, BackendError> {
        let h = Handle::parse(handle)?;
        let url = format!(
            "http://{}.{}.svc.cluster.local:{}",
            h.service, h.namespace, h.port
        );
        Url::parse(&url).map_err(|e| BackendError::Invalid(format!("{url}: {e}")))
    }

    async fn probe(&self, handle: &str) -> Result<Probe, BackendError> {
        let h = Handle::parse(handle)?;
        let pods: Api<Pod> = self.api(&h.namespace);
        let pod = pods.get_opt(&h.pod).await.map_err(|e| {
            BackendError::Failed(format!("cannot read pod {}: {}", h.pod, message(&e)))
        })?;
        let Some(pod) = pod else {
            return Ok(Probe::Gone("the pod is gone".to_owned()));
        };
        if let Some(other) = self.foreign(&pod) {
            return Ok(Probe::Gone(format!(
                "the pod is gone (its name is taken by another weft's, instance {other})"
            )));
        }
        if pod.metadata.deletion_timestamp.is_some() {
            return Ok(Probe::Gone("the pod is being deleted".to_owned()));
        }
        if let Some(why) = gone_reason(&pod) {
            return Ok(Probe::Gone(why));
        }
        let have = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default();
        // Always the four, in the order a pod passes them, whatever order the API lists them.
        let conditions = CONDITIONS
            .iter()
            .map(|kind| Condition {
                kind: (*kind).to_owned(),
                ok: have.iter().any(|c| c.type_ == *kind && c.status == "True"),
            })
            .collect();
        Ok(Probe::Alive(conditions))
    }

    async fn stop(&self, handle: &str) -> Result<(), BackendError> {
        let h = Handle::parse(handle)?;
        let ns = h.namespace.as_str();
        let pods: Api<Pod> = self.api(ns);
        let pod = pods.get_opt(&h.pod).await.map_err(|e| {
            BackendError::Failed(format!("cannot read pod {}: {}", h.pod, message(&e)))
        })?;
        if let Some(other) = pod.as_ref().and_then(|p| self.foreign(p)) {
            // This weft's workspace is gone already; what has its names is another weft's.
            tracing::info!(pod = %h.pod, instance = other, "not stopping another weft's workspace");
            return Ok(());
        }
        let results = [
            remove::<Pod>(&pods, &h.pod).await,
            remove::<Service>(&self.api(ns), &h.service).await,
            remove::<ConfigMap>(&self.api(ns), &files_name(&h.slug)).await,
            remove::<Secret>(&self.api(ns), &secret_name(&h.slug)).await,
        ];
        for r in results {
            r.map_err(BackendError::Failed)?;
        }
        Ok(())
    }

    async fn put_file(&self, slug: &str, path: &str, body: &[u8]) -> Result<(), BackendError> {
        check_slug(slug)?;
        check_path(path)?;
        let pp = PatchParams::default();
        let (name, done) = if is_secret_file(path) {
            let secrets: Api<Secret> = self.api(&self.namespace);
            let name = secret_name(slug);
            let patch = Patch::Merge(objects::secret_file_patch(path, body));
            let done = secrets.patch(&name, &pp, &patch).await.map(|_| ());
            (name, done)
        } else {
            let files: Api<ConfigMap> = self.api(&self.namespace);
            let name = files_name(slug);
            let patch = Patch::Merge(objects::file_patch(path, body));
            let done = files.patch(&name, &pp, &patch).await.map(|_| ());
            (name, done)
        };
        done.map_err(|e| {
            if is_not_found(&e) {
                BackendError::Failed(format!("no workspace runs for this user ({name} is gone)"))
            } else {
                BackendError::Failed(format!("cannot add {path} to {name}: {}", message(&e)))
            }
        })?;
        Ok(())
    }

    async fn running(&self) -> Result<Vec<String>, BackendError> {
        let pods: Api<Pod> = self.api(&self.namespace);
        let list = pods
            .list(&ListParams::default().labels(&objects::managed_selector(&self.instance)))
            .await
            .map_err(|e| BackendError::Failed(format!("cannot list pods: {}", message(&e))))?;
        let mut handles = Vec::new();
        for pod in list.items {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let slug = pod
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(USER_LABEL))
                .filter(|s| check_slug(s).is_ok());
            let (Some(slug), Some(name)) = (slug, pod.metadata.name.as_deref()) else {
                continue;
            };
            if name != pod_name(slug) {
                continue;
            }
            handles.push(Handle::new(&self.namespace, slug).to_json());
        }
        Ok(handles)
    }
}

/// Why a pod that still exists is done: it ended (`Failed`, `Succeeded`), or its notebook
/// exited while the `files` container keeps the pod running.
fn gone_reason(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let phase = status.phase.as_deref().unwrap_or_default();
    if matches!(phase, "Failed" | "Succeeded") {
        let why = [status.reason.as_deref(), status.message.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(": ");
        let verb = if phase == "Failed" { "failed" } else { "ended" };
        return Some(if why.is_empty() {
            terminated_notebook(pod).map_or_else(
                || format!("the pod {verb}"),
                |t| format!("the pod {verb}: {t}"),
            )
        } else {
            format!("the pod {verb}: {why}")
        });
    }
    terminated_notebook(pod).map(|t| format!("the notebook exited: {t}"))
}

/// How the notebook container ended, if it did.
fn terminated_notebook(pod: &Pod) -> Option<String> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    let done = statuses
        .iter()
        .find(|c| c.name == NOTEBOOK)?
        .state
        .as_ref()?
        .terminated
        .as_ref()?;
    let mut text = format!("exit code {}", done.exit_code);
    for part in [&done.reason, &done.message].into_iter().flatten() {
        if !part.is_empty() {
            text.push_str(", ");
            text.push_str(part);
        }
    }
    Some(text)
}

/// The API's own words for an error.
fn message(e: &::kube::Error) -> String {
    match e {
        ::kube::Error::Api(s) if !s.message.is_empty() => s.message.clone(),
        ::kube::Error::Api(s) if !s.reason.is_empty() => format!("{} ({})", s.reason, s.code),
        other => other.to_string(),
    }
}

fn is_not_found(e: &::kube::Error) -> bool {
    matches!(e, ::kube::Error::Api(s) if s.is_not_found())
}

fn is_already_exists(e: &::kube::Error) -> bool {
    matches!(e, ::kube::Error::Api(s) if s.is_already_exists() || s.code == 409)
}

/// Delete one object; one already gone is fine.
async fn remove<K>(api: &Api<K>, name: &str) -> Result<(), String>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(format!(
            "cannot delete {} {name}: {}",
            K::kind(&K::DynamicType::default()),
            message(&e)
        )),
    }
}

/// Create an object, replacing one of the same name left by an earlier workspace of the
/// user (a ConfigMap or Service only ever belongs to the pod, which is absent by now).
async fn create_fresh<K>(api: &Api<K>, pp: &PostParams, object: &K) -> Result<(), String>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    match api.create(pp, object).await {
        Ok(_) => return Ok(()),
        Err(e) if is_already_exists(&e) => {}
        Err(e) => return Err(format!("cannot create {kind} {name}: {}", message(&e))),
    }
    remove(api, &name).await?;
    api.create(pp, object)
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot create {kind} {name}: {}", message(&e)))
}
