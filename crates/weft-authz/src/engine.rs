//! Decisions: a snapshot of the model with per-principal indexes, built on first use.
//!
//! A principal's index maps each granted resource path to the actions granted there (with
//! the expiry of the grant that brought them). A decision walks the requested path's
//! ancestors, one hash lookup each, so its cost depends on the depth of the path, not on
//! how many policies, users or resources exist. A snapshot never changes; a change to the
//! policy set publishes a new snapshot, and the indexes of the old one go with it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use dashmap::DashMap;

use crate::model::{ANONYMOUS, Action, Grant, LOGGED_IN, Model, user_key};

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// No token and no user name: the `anonymous` group only.
    Anonymous,
    /// A user by name (matched case-insensitively): direct grants, groups, `anonymous` and
    /// `logged-in`.
    User(String),
    /// A token issued to an OAuth client with no user: the client's policies only.
    Client(String),
    /// A user acting through an OAuth client: both must be allowed.
    UserViaClient { user: String, client: String },
}

impl Principal {
    /// Who a verified token speaks for: its user (`context.user.name`) and/or the OAuth
    /// client it was issued to (`azp`); `None` when it names neither.
    #[must_use]
    pub fn of_token(user: Option<String>, client: Option<String>) -> Option<Self> {
        match (user, client) {
            (Some(user), Some(client)) => Some(Self::UserViaClient { user, client }),
            (Some(user), None) => Some(Self::User(user)),
            (None, Some(client)) => Some(Self::Client(client)),
            (None, None) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Perm {
    action: Action,
    expires_at: Option<DateTime<Utc>>,
}

/// One principal's grants, by resource path.
#[derive(Debug, Default)]
pub struct Grants {
    by_path: FastMap<String, Vec<Perm>>,
}

/// Hash maps on the decision path: foldhash, several times faster than SipHash on short
/// keys; the keys are resource paths and user names, not attacker-chosen floods (a request
/// only looks keys up).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

impl Grants {
    fn add_policy(&mut self, model: &Model, policy: &str, grant: &Grant) {
        let Some(p) = model.policies.get(policy) else {
            return;
        };
        for role in p.role_ids.iter().filter_map(|r| model.roles.get(r)) {
            for perm in &role.permissions {
                for path in &p.resource_paths {
                    let perms = self.by_path.entry(path.clone()).or_default();
                    let new = Perm {
                        action: perm.action.clone(),
                        expires_at: grant.expires_at,
                    };
                    // A grant without expiry makes any other grant of the same action moot.
                    if !perms
                        .iter()
                        .any(|q| q.action == new.action && q.expires_at.is_none())
                    {
                        if new.expires_at.is_none() {
                            perms.retain(|q| q.action != new.action);
                        }
                        if !perms.contains(&new) {
                            perms.push(new);
                        }
                    }
                }
            }
        }
    }

    fn of_group(model: &Model, group: &str) -> Self {
        let mut g = Self::default();
        if let Some(grp) = model.groups.get(group) {
            for p in &grp.policies {
                g.add_policy(model, p, &Grant::default());
            }
        }
        g
    }

    fn of_user(model: &Model, key: &str) -> Self {
        let mut g = Self::default();
        if let Some(u) = model.users.get(key) {
            for (p, grant) in &u.policies {
                g.add_policy(model, p, grant);
            }
        }
        for (grp, membership) in model.groups_of(key) {
            for p in &grp.policies {
                g.add_policy(model, p, membership);
            }
        }
        g
    }

    fn of_client(model: &Model, id: &str) -> Self {
        let mut g = Self::default();
        if let Some(c) = model.clients.get(id) {
            for p in &c.policies {
                g.add_policy(model, p, &Grant::default());
            }
        }
        g
    }

    /// Whether `path` (canonical) or one of its ancestors grants the action at `now`.
    #[must_use]
    pub fn allows(&self, path: &str, service: &str, method: &str, now: DateTime<Utc>) -> bool {
        if self.by_path.is_empty() {
            return false;
        }
        let mut end = path.len();
        loop {
            if let Some(perms) = self.by_path.get(&path[..end])
                && perms.iter().any(|p| {
                    p.action.covers(service, method) && p.expires_at.is_none_or(|e| now < e)
                })
            {
                return true;
            }
            match path[..end].rfind('/') {
                Some(i) if i > 0 => end = i,
                _ => return false,
            }
        }
    }

    /// The first expiry after `now` of any grant here.
    fn next_expiry(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.by_path
            .values()
            .flatten()
            .filter_map(|p| p.expires_at)
            .filter(|e| *e > now)
            .min()
    }

    fn collect_mapping<'a>(
        &'a self,
        children: &'a HashMap<String, Vec<String>>,
        now: DateTime<Utc>,
        out: &mut HashMap<&'a str, Vec<&'a Action>>,
    ) {
        let mut stack: Vec<&'a str> = Vec::new();
        for (path, perms) in &self.by_path {
            let live: Vec<&'a Action> = perms
                .iter()
                .filter(|p| p.expires_at.is_none_or(|e| now < e))
                .map(|p| &p.action)
                .collect();
            if live.is_empty() {
                continue;
            }
            stack.push(path);
            while let Some(p) = stack.pop() {
                let set = out.entry(p).or_default();
                for a in &live {
                    if !set.contains(a) {
                        set.push(a);
                    }
                }
                if let Some(kids) = children.get(p) {
                    stack.extend(kids.iter().map(String::as_str));
                }
            }
        }
    }
}

/// An immutable view of the policy set, with the indexes decisions need.
#[derive(Debug)]
pub struct Snapshot {
    pub model: Model,
    /// The store version this snapshot reflects.
    pub version: u64,
    anonymous: Grants,
    logged_in: Grants,
    users: DashMap<String, Arc<Grants>, foldhash::fast::RandomState>,
    clients: DashMap<String, Arc<Grants>, foldhash::fast::RandomState>,
    /// Direct children of every resource that has any, built on first use (mappings).
    children: OnceLock<HashMap<String, Vec<String>>>,
    /// Mappings already computed, each valid until the first grant in it expires.
    mappings: DashMap<Principal, Remembered, foldhash::fast::RandomState>,
}

/// `auth/mapping`: resource path → actions granted there.
pub type Mapping = BTreeMap<String, BTreeSet<Action>>;

/// A computed mapping and until when it holds (the first expiry of a grant in it).
type Remembered = (Arc<Mapping>, Option<DateTime<Utc>>);

impl Snapshot {
    #[must_use]
    pub fn new(model: Model, version: u64) -> Self {
        Self {
            anonymous: Grants::of_group(&model, ANONYMOUS),
            logged_in: Grants::of_group(&model, LOGGED_IN),
            model,
            version,
            users: DashMap::default(),
            clients: DashMap::default(),
            children: OnceLock::new(),
            mappings: DashMap::default(),
        }
    }

    fn children(&self) -> &HashMap<String, Vec<String>> {
        self.children.get_or_init(|| {
            let mut map: HashMap<String, Vec<String>> = HashMap::new();
            for path in self.model.resources.keys() {
                if let Some(parent) = crate::model::parent_path(path) {
                    map.entry(parent.to_owned()).or_default().push(path.clone());
                }
            }
            map
        })
    }

    fn user_grants(&self, name: &str) -> Arc<Grants> {
        let key = if name.chars().any(char::is_uppercase) {
            user_key(name)
        } else {
            name.to_owned()
        };
        if let Some(g) = self.users.get(&key) {
            return Arc::clone(&g);
        }
        let g = Arc::new(Grants::of_user(&self.model, &key));
        self.users.insert(key, Arc::clone(&g));
        g
    }

    fn client_grants(&self, id: &str) -> Arc<Grants> {
        if let Some(g) = self.clients.get(id) {
            return Arc::clone(&g);
        }
        let g = Arc::new(Grants::of_client(&self.model, id));
        self.clients.insert(id.to_owned(), Arc::clone(&g));
        g
    }

    fn user_allows(
        &self,
        user: &str,
        path: &str,
        service: &str,
        method: &str,
        now: DateTime<Utc>,
    ) -> bool {
        self.anonymous.allows(path, service, method, now)
            || self.logged_in.allows(path, service, method, now)
            || self.user_grants(user).allows(path, service, method, now)
    }

    /// The decision for a canonical resource path (see [`Model::resolve`] for tags).
    #[must_use]
    pub fn decide(
        &self,
        who: &Principal,
        path: &str,
        service: &str,
        method: &str,
        now: DateTime<Utc>,
    ) -> bool {
        match who {
            Principal::Anonymous => self.anonymous.allows(path, service, method, now),
            Principal::User(u) => self.user_allows(u, path, service, method, now),
            Principal::Client(c) => self.client_grants(c).allows(path, service, method, now),
            Principal::UserViaClient { user, client } => {
                self.user_allows(user, path, service, method, now)
                    && self
                        .client_grants(client)
                        .allows(path, service, method, now)
            }
        }
    }

    /// A decision on a path or tag as a request names it; unknown tags and malformed paths
    /// are denied.
    #[must_use]
    pub fn decide_on(
        &self,
        who: &Principal,
        path_or_tag: &str,
        service: &str,
        method: &str,
        now: DateTime<Utc>,
    ) -> bool {
        self.model
            .resolve(path_or_tag)
            .is_some_and(|p| self.decide(who, &p, service, method, now))
    }

    /// arborist's `auth/request` restricted to `policies` (the request's `user.policies`):
    /// only these policies count, and only those `who` holds (directly or through a group)
    /// now. Unknown tags and malformed paths are denied.
    #[must_use]
    pub fn decide_with_policies(
        &self,
        who: &Principal,
        path_or_tag: &str,
        service: &str,
        method: &str,
        policies: &[String],
        now: DateTime<Utc>,
    ) -> bool {
        self.model.resolve(path_or_tag).is_some_and(|path| {
            policies.iter().any(|p| {
                holds_policy(&self.model, who, p, now)
                    && policy_allows(&self.model, p, &path, service, method)
            })
        })
    }

    /// `auth/mapping`: every existing resource at or below a granted path, with the actions
    /// granted there.
    #[must_use]
    pub fn mapping(&self, who: &Principal, now: DateTime<Utc>) -> Arc<Mapping> {
        if let Some(hit) = self.mappings.get(who)
            && hit.1.is_none_or(|until| now < until)
        {
            return Arc::clone(&hit.0);
        }
        let (mapping, until) = self.compute_mapping(who, now);
        let mapping = Arc::new(mapping);
        if self.mappings.len() < MAPPINGS_MAX {
            self.mappings
                .insert(who.clone(), (Arc::clone(&mapping), until));
        }
        mapping
    }

    /// A mapping computed afresh (no memory), and the first moment a grant in it expires
    /// (when it must be recomputed).
    #[must_use]
    pub fn compute_mapping(
        &self,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> (Mapping, Option<DateTime<Utc>>) {
        let children = self.children();
        let mut acc: HashMap<&str, Vec<&Action>> = HashMap::new();
        let mut until = None;
        let user;
        let client;
        let sources: Vec<&Grants> = match who {
            Principal::Anonymous => vec![&self.anonymous],
            Principal::User(u) | Principal::UserViaClient { user: u, .. } => {
                user = self.user_grants(u);
                vec![&self.anonymous, &self.logged_in, &*user]
            }
            Principal::Client(c) => {
                client = self.client_grants(c);
                vec![&*client]
            }
        };
        for g in sources {
            g.collect_mapping(children, now, &mut acc);
            until = earliest(until, g.next_expiry(now));
        }
        let mapping = acc
            .into_iter()
            .map(|(p, actions)| (p.to_owned(), actions.into_iter().cloned().collect()))
            .collect();
        (mapping, until)
    }
}

/// Mappings remembered per snapshot at most (then computed every time).
const MAPPINGS_MAX: usize = 10_000;

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Whether `policy` grants the action on `path` (or an ancestor).
#[must_use]
pub fn policy_allows(model: &Model, policy: &str, path: &str, service: &str, method: &str) -> bool {
    model.policies.get(policy).is_some_and(|pol| {
        pol.resource_paths
            .iter()
            .any(|rp| crate::model::is_at_or_below(path, rp))
            && pol
                .role_ids
                .iter()
                .filter_map(|r| model.roles.get(r))
                .flat_map(|r| &r.permissions)
                .any(|perm| perm.action.covers(service, method))
    })
}

/// Whether `who` holds `policy` at `now` (directly, through a group, a built-in group or
/// as a client).
#[must_use]
pub fn holds_policy(model: &Model, who: &Principal, policy: &str, now: DateTime<Utc>) -> bool {
    let in_group = |g: &str| {
        model
            .groups
            .get(g)
            .is_some_and(|g| g.policies.contains(policy))
    };
    let user_holds = |name: &str| {
        let key = user_key(name);
        in_group(ANONYMOUS)
            || in_group(LOGGED_IN)
            || model
                .users
                .get(&key)
                .and_then(|u| u.policies.get(policy))
                .is_some_and(|g| g.live_at(now))
            || model
                .groups_of(&key)
                .any(|(g, m)| m.live_at(now) && g.policies.contains(policy))
    };
    let client_holds = |id: &str| {
        model
            .clients
            .get(id)
            .is_some_and(|c| c.policies.contains(policy))
    };
    match who {
        Principal::Anonymous => in_group(ANONYMOUS),
        Principal::User(u) => user_holds(u),
        Principal::Client(c) => client_holds(c),
        Principal::UserViaClient { user, client } => user_holds(user) && client_holds(client),
    }
}

/// The reference implementation decisions are tested against: no indexes, every policy of
/// the principal checked against every path, straight from arborist's rules.
#[must_use]
pub fn naive_decide(
    model: &Model,
    who: &Principal,
    path: &str,
    service: &str,
    method: &str,
    now: DateTime<Utc>,
) -> bool {
    fn policies_allow<'a>(
        model: &Model,
        policies: impl Iterator<Item = &'a String>,
        path: &str,
        service: &str,
        method: &str,
    ) -> bool {
        policies
            .into_iter()
            .any(|p| policy_allows(model, p, path, service, method))
    }
    let group_allows = |g: &str| {
        model
            .groups
            .get(g)
            .is_some_and(|g| policies_allow(model, g.policies.iter(), path, service, method))
    };
    let user_allows = |name: &str| {
        let key = user_key(name);
        group_allows(ANONYMOUS)
            || group_allows(LOGGED_IN)
            || model.users.get(&key).is_some_and(|u| {
                policies_allow(
                    model,
                    u.policies
                        .iter()
                        .filter(|(_, g)| g.live_at(now))
                        .map(|(p, _)| p),
                    path,
                    service,
                    method,
                )
            })
            || model.groups.values().any(|g| {
                g.name != ANONYMOUS
                    && g.name != LOGGED_IN
                    && g.users.get(&key).is_some_and(|m| m.live_at(now))
                    && policies_allow(model, g.policies.iter(), path, service, method)
            })
    };
    let client_allows = |id: &str| {
        model
            .clients
            .get(id)
            .is_some_and(|c| policies_allow(model, c.policies.iter(), path, service, method))
    };
    match who {
        Principal::Anonymous => group_allows(ANONYMOUS),
        Principal::User(u) => user_allows(u),
        Principal::Client(c) => client_allows(c),
        Principal::UserViaClient { user, client } => user_allows(user) && client_allows(client),
    }
}
