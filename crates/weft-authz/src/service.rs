//! The policy engine as a service: the current snapshot, kept current, and every change
//! made durable before it is published.

use std::sync::Arc;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use weft_store::{AuthzChange, AuthzStore, StoreError};

use crate::engine::{Principal, Snapshot};
use crate::error::{AuthzError, AuthzResult};
use crate::model::{Model, Txn, user_key};

/// The service the HTTP API, the other weft services and `weft usersync` share.
pub struct AuthzService {
    store: Arc<dyn AuthzStore>,
    current: ArcSwap<Snapshot>,
    /// Serializes this process's writers (the store serializes processes).
    write_lock: tokio::sync::Mutex<()>,
    /// One reload at a time.
    reload_lock: tokio::sync::Mutex<()>,
    /// Versions pushed by the store, where it can push them.
    watch: Option<tokio::sync::watch::Receiver<u64>>,
    /// Users who may always administer the policy engine (configuration).
    admins: Vec<String>,
}

/// The service `arborist` actions are checked against, and where.
pub const ARBORIST: &str = "arborist";

impl AuthzService {
    /// Load the policy set and start following changes made elsewhere.
    pub async fn open(store: Arc<dyn AuthzStore>, admins: &[String]) -> AuthzResult<Arc<Self>> {
        let rows = store.authz_load().await?;
        let model = Model::from_rows(rows.rows)?;
        let watch = store.authz_watch().await?;
        Ok(Arc::new(Self {
            store,
            current: ArcSwap::from_pointee(Snapshot::new(model, rows.version)),
            write_lock: tokio::sync::Mutex::new(()),
            reload_lock: tokio::sync::Mutex::new(()),
            watch,
            admins: admins.iter().map(|a| user_key(a)).collect(),
        }))
    }

    /// The snapshot as of the last reload, without asking the store.
    #[must_use]
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The current snapshot: reloaded first if another process committed a change.
    pub async fn fresh(&self) -> AuthzResult<Arc<Snapshot>> {
        let snap = self.current.load_full();
        let latest = match &self.watch {
            Some(w) => *w.borrow(),
            None => self.store.authz_version().await?,
        };
        if latest <= snap.version {
            return Ok(snap);
        }
        self.reload().await
    }

    /// Read everything from the store and publish it.
    pub async fn reload(&self) -> AuthzResult<Arc<Snapshot>> {
        let _guard = self.reload_lock.lock().await;
        let rows = self.store.authz_load().await?;
        let current = self.current.load_full();
        if rows.version == current.version {
            return Ok(current);
        }
        let snap = Arc::new(Snapshot::new(Model::from_rows(rows.rows)?, rows.version));
        self.publish(&snap);
        tracing::debug!(version = snap.version, "policy set reloaded");
        Ok(snap)
    }

    fn publish(&self, snap: &Arc<Snapshot>) {
        // A concurrent reload may have published something newer: never go back.
        self.current.rcu(|cur| {
            if cur.version >= snap.version {
                Arc::clone(cur)
            } else {
                Arc::clone(snap)
            }
        });
    }

    /// Run `change` on a copy of the current model, store what it touched in one
    /// transaction, then publish. The change is retried once on a fresh model if another
    /// process wrote in between.
    pub async fn change<R>(
        &self,
        change: impl Fn(&mut Txn) -> AuthzResult<R> + Send,
    ) -> AuthzResult<R> {
        let _guard = self.write_lock.lock().await;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let snap = self.fresh().await?;
            let mut txn = Txn::new(snap.model.clone());
            let out = change(&mut txn)?;
            if txn.is_empty() {
                return Ok(out);
            }
            let changes = txn
                .changes()
                .into_iter()
                .map(|(kind, key, body)| AuthzChange {
                    kind: kind.as_str().to_owned(),
                    key,
                    body,
                })
                .collect();
            match self.store.authz_write(snap.version, changes).await {
                Ok(version) => {
                    self.publish(&Arc::new(Snapshot::new(txn.model, version)));
                    return Ok(out);
                }
                Err(StoreError::RevisionMismatch) if attempts < 3 => {
                    self.reload().await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A login (`/user/login/...`): create the user on first login, with the email the
    /// identity provider gave (an existing user keeps theirs).
    pub async fn ensure_user_on_login(&self, name: &str, email: Option<String>) -> AuthzResult<()> {
        self.change(move |txn| {
            if txn.ensure_user(name)? && email.is_some() {
                txn.update_user(name, None, email.clone())?;
            }
            Ok(())
        })
        .await
    }

    /// Whether `who` may perform every one of `requests` `(path or tag, service, method)`.
    pub async fn allowed(
        &self,
        who: &Principal,
        requests: &[(&str, &str, &str)],
        now: DateTime<Utc>,
    ) -> AuthzResult<bool> {
        let snap = self.fresh().await?;
        Ok(requests
            .iter()
            .all(|(r, s, m)| snap.decide_on(who, r, s, m, now)))
    }

    /// Whether `who` is a bootstrap admin from configuration.
    #[must_use]
    pub fn is_bootstrap_admin(&self, who: &Principal) -> bool {
        match who {
            Principal::User(u) | Principal::UserViaClient { user: u, .. } => {
                self.admins.contains(&user_key(u))
            }
            _ => false,
        }
    }

    /// Administration of the policy engine: `arborist` `method` on
    /// `/services/arborist/{area}`, or a bootstrap admin. Deny by default.
    pub async fn require_admin(
        &self,
        who: &Principal,
        area: &str,
        method: &str,
    ) -> AuthzResult<()> {
        if self.is_bootstrap_admin(who) {
            return Ok(());
        }
        let path = format!("/services/arborist/{area}");
        if self
            .allowed(who, &[(&path, ARBORIST, method)], Utc::now())
            .await?
        {
            return Ok(());
        }
        Err(match who {
            Principal::Anonymous => AuthzError::unauthenticated(format!(
                "this needs a token with `{ARBORIST}` `{method}` on `{path}`"
            )),
            _ => AuthzError::forbidden(format!("not allowed: `{ARBORIST}` `{method}` on `{path}`")),
        })
    }
}
