//! Property tests: the indexed decisions of a snapshot agree with the naive reference
//! implementation (`engine::naive_decide`) on random policy sets, principals, paths, actions
//! and times, including expired and future grants and memberships.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use weft_authz::engine::{Principal, Snapshot, naive_decide};
use weft_authz::model::{
    ANONYMOUS, Action, LOGGED_IN, Model, Permission, Policy, ResourceIn, Role, Txn,
};

const SEGMENTS: [&str; 3] = ["a", "b", "c"];
const SERVICES: [&str; 3] = ["x", "y", "*"];
const METHODS: [&str; 3] = ["r", "w", "*"];
const USERS: [&str; 4] = ["u0", "U1", "u2", "u3"];
const CLIENTS: [&str; 2] = ["c0", "c1"];

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

/// An expiry relative to t0: none, or some minutes before/after.
fn expiry(code: u8) -> Option<DateTime<Utc>> {
    match code % 4 {
        0 | 1 => None,
        2 => Some(t0() - Duration::minutes(i64::from(code))),
        _ => Some(t0() + Duration::minutes(i64::from(code))),
    }
}

fn path(segs: &[u8]) -> String {
    let mut p = String::new();
    for s in segs {
        p.push('/');
        p.push_str(SEGMENTS[usize::from(*s) % SEGMENTS.len()]);
    }
    p
}

/// A group's members `(user, expiry code)` and policies.
type GroupSpec = (Vec<(u8, u8)>, Vec<u8>);

#[derive(Debug, Clone)]
struct Spec {
    resources: Vec<Vec<u8>>,
    roles: Vec<Vec<(u8, u8)>>,
    policies: Vec<(Vec<u8>, Vec<u8>)>,
    user_grants: Vec<(u8, u8, u8)>,
    /// Per group: members (user, expiry code) and policies.
    groups: Vec<GroupSpec>,
    anonymous: Vec<u8>,
    logged_in: Vec<u8>,
    clients: Vec<(u8, Vec<u8>)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(prop::collection::vec(0u8..3, 1..4), 1..8),
        prop::collection::vec(prop::collection::vec((0u8..3, 0u8..3), 1..3), 1..4),
        prop::collection::vec(
            (
                prop::collection::vec(any::<u8>(), 1..3),
                prop::collection::vec(any::<u8>(), 1..3),
            ),
            1..6,
        ),
        prop::collection::vec((0u8..4, any::<u8>(), any::<u8>()), 0..8),
        prop::collection::vec(
            (
                prop::collection::vec((0u8..4, any::<u8>()), 0..3),
                prop::collection::vec(any::<u8>(), 0..3),
            ),
            0..3,
        ),
        prop::collection::vec(any::<u8>(), 0..2),
        prop::collection::vec(any::<u8>(), 0..2),
        prop::collection::vec((0u8..2, prop::collection::vec(any::<u8>(), 0..3)), 0..2),
    )
        .prop_map(
            |(resources, roles, policies, user_grants, groups, anonymous, logged_in, clients)| {
                Spec {
                    resources,
                    roles,
                    policies,
                    user_grants,
                    groups,
                    anonymous,
                    logged_in,
                    clients,
                }
            },
        )
}

/// Build a valid model from the spec through the same changes the API makes.
fn build(spec: &Spec) -> Model {
    let mut t = Txn::new(Model::new());
    for r in &spec.resources {
        let input = ResourceIn {
            path: Some(path(r)),
            ..Default::default()
        };
        let _ = t.create_resource("/", &input, true);
    }
    let paths: Vec<String> = t.model.resources.keys().cloned().collect();
    for (i, perms) in spec.roles.iter().enumerate() {
        let role = Role {
            id: format!("role{i}"),
            description: String::new(),
            permissions: perms
                .iter()
                .enumerate()
                .map(|(j, (s, m))| Permission {
                    id: format!("p{j}"),
                    description: String::new(),
                    action: Action {
                        service: SERVICES[usize::from(*s)].to_owned(),
                        method: METHODS[usize::from(*m)].to_owned(),
                    },
                    constraints: Default::default(),
                })
                .collect(),
        };
        t.create_role(role).expect("valid role");
    }
    let nroles = spec.roles.len();
    for (i, (roles, res)) in spec.policies.iter().enumerate() {
        let policy = Policy {
            id: format!("pol{i}"),
            description: String::new(),
            role_ids: roles
                .iter()
                .map(|r| format!("role{}", usize::from(*r) % nroles))
                .collect(),
            resource_paths: res
                .iter()
                .map(|r| paths[usize::from(*r) % paths.len()].clone())
                .collect(),
        };
        t.create_policy(policy).expect("valid policy");
    }
    let npol = spec.policies.len();
    let pol = |b: u8| format!("pol{}", usize::from(b) % npol);
    for u in USERS {
        t.create_user(u, None).expect("user");
    }
    for (u, p, e) in &spec.user_grants {
        t.grant_user_policy(USERS[usize::from(*u)], &pol(*p), expiry(*e), None)
            .expect("grant");
    }
    for (i, (members, policies)) in spec.groups.iter().enumerate() {
        let name = format!("g{i}");
        let policies: Vec<String> = policies.iter().map(|p| pol(*p)).collect();
        t.create_group(&name, &[], &policies).expect("group");
        for (u, e) in members {
            t.add_user_to_group(&name, USERS[usize::from(*u)], expiry(*e), None)
                .expect("member");
        }
    }
    let anon: Vec<String> = spec.anonymous.iter().map(|p| pol(*p)).collect();
    t.put_group(ANONYMOUS, &[], &anon, None).expect("anonymous");
    let logged: Vec<String> = spec.logged_in.iter().map(|p| pol(*p)).collect();
    t.put_group(LOGGED_IN, &[], &logged, None)
        .expect("logged-in");
    for (c, policies) in &spec.clients {
        let id = CLIENTS[usize::from(*c)];
        let policies: Vec<String> = policies.iter().map(|p| pol(*p)).collect();
        let _ = t.create_client(id, &policies);
    }
    t.model
}

fn principal(code: u8) -> Principal {
    match code % 10 {
        0 => Principal::Anonymous,
        1..=5 => Principal::User(USERS[usize::from(code) % USERS.len()].to_owned()),
        6 => Principal::User("stranger".to_owned()),
        7 => Principal::Client(CLIENTS[usize::from(code) % 2].to_owned()),
        _ => Principal::UserViaClient {
            user: USERS[usize::from(code) % USERS.len()].to_owned(),
            client: CLIENTS[usize::from(code) % 2].to_owned(),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn indexed_decisions_match_the_reference(
        spec in spec(),
        requests in prop::collection::vec(
            (any::<u8>(), prop::collection::vec(0u8..3, 1..5), 0usize..2, 0usize..2, -3i64..4),
            1..40,
        ),
    ) {
        let model = build(&spec);
        let snap = Snapshot::new(model.clone(), 1);
        for (who, segs, s, m, minutes) in requests {
            let who = principal(who);
            let p = path(&segs);
            let service = ["x", "y"][s];
            let method = ["r", "w"][m];
            let now = t0() + Duration::minutes(minutes * 100);
            let fast = snap.decide(&who, &p, service, method, now);
            let slow = naive_decide(&model, &who, &p, service, method, now);
            prop_assert_eq!(fast, slow, "{:?} {} {} {} at {}", who, p, service, method, now);
        }
    }

    #[test]
    fn every_mapping_entry_is_allowed(spec in spec(), who in any::<u8>()) {
        let model = build(&spec);
        let snap = Snapshot::new(model.clone(), 1);
        // arborist maps a user's grants; a token through a client maps as its user.
        let who = match principal(who) {
            Principal::UserViaClient { user, .. } => Principal::User(user),
            p => p,
        };
        let now = t0();
        for (p, actions) in snap.mapping(&who, now).iter() {
            prop_assert!(model.resources.contains_key(p), "{} is not a resource", p);
            for a in actions {
                let s = if a.service == "*" { "any-service" } else { a.service.as_str() };
                let m = if a.method == "*" { "any-method" } else { a.method.as_str() };
                prop_assert!(naive_decide(&model, &who, p, s, m, now), "{:?} {} {:?}", who, p, a);
            }
        }
    }

    #[test]
    fn stored_rows_rebuild_the_same_model(spec in spec()) {
        let model = build(&spec);
        let rows = model.rows().into_iter().map(|(k, key, b)| (k.as_str().to_owned(), key, b));
        prop_assert_eq!(Model::from_rows(rows).expect("rows parse"), model);
    }
}

#[test]
fn remembered_mappings_drop_grants_when_they_expire() {
    let mut t = Txn::new(Model::new());
    let input = ResourceIn {
        path: Some("/a/b".into()),
        ..Default::default()
    };
    t.create_resource("/", &input, true).expect("resource");
    t.create_role(Role {
        id: "r".into(),
        description: String::new(),
        permissions: vec![Permission {
            id: "p".into(),
            description: String::new(),
            action: Action {
                service: "x".into(),
                method: "r".into(),
            },
            constraints: Default::default(),
        }],
    })
    .expect("role");
    t.create_policy(Policy {
        id: "pol".into(),
        description: String::new(),
        role_ids: vec!["r".into()],
        resource_paths: vec!["/a".into()],
    })
    .expect("policy");
    t.create_user("u", None).expect("user");
    t.grant_user_policy("u", "pol", Some(t0() + Duration::minutes(1)), None)
        .expect("grant");
    let snap = Snapshot::new(t.model, 1);
    let who = Principal::User("u".into());
    let before = snap.mapping(&who, t0());
    assert_eq!(
        before.keys().cloned().collect::<Vec<_>>(),
        vec!["/a".to_owned(), "/a/b".to_owned()]
    );
    // Asked again after the expiry: recomputed, not served from memory.
    assert!(snap.mapping(&who, t0() + Duration::minutes(2)).is_empty());
    assert!(!snap.decide(&who, "/a/b", "x", "r", t0() + Duration::minutes(2)));
}
