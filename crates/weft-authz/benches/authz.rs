//! The policy engine's speed on the policy set issue [2/4] names: 100,000 resources,
//! 10,000 users, 1,000 roles and 1,000 policies (plus one user holding all 1,000 policies).
//!
//!     cargo bench -p weft-authz --bench authz                # measure
//!     cargo bench -p weft-authz --bench authz -- --write F   # also write the set as user.yaml
//!
//! Measures: decisions per second on one thread over random (user, path, action) requests;
//! `auth/mapping` of the 1,000-policy user; parsing and applying the 10,000-user user.yaml
//! in memory (the store write is measured by `bench/authz.sh` through `weft usersync`).

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use weft_authz::engine::{Principal, Snapshot};
use weft_authz::model::{Model, Txn};
use weft_authz::usersync;

const PROGRAMS: usize = 100;
const PROJECTS: usize = 1_000; // per program: 100,000 projects
const ROLES: usize = 1_000;
const POLICIES: usize = 1_000;
const USERS: usize = 10_000;
const METHODS: [&str; 5] = ["read", "read-storage", "create", "update", "delete"];

/// A small deterministic generator (xorshift), so every run asks the same questions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

/// The benchmark policy set in fence's user.yaml format.
fn user_yaml() -> String {
    let mut y = String::with_capacity(16 << 20);
    y.push_str("authz:\n  anonymous_policies: []\n  all_users_policies: []\n  resources:\n");
    y.push_str("  - name: programs\n    subresources:\n");
    for p in 0..PROGRAMS {
        let _ = writeln!(
            y,
            "    - name: p{p}\n      subresources:\n      - name: projects\n        subresources:"
        );
        for q in 0..PROJECTS {
            let _ = writeln!(y, "        - name: q{q}");
        }
    }
    y.push_str("  roles:\n");
    for r in 0..ROLES {
        let m = METHODS[r % METHODS.len()];
        let _ = writeln!(
            y,
            "  - id: role{r}\n    permissions:\n    - id: perm{r}\n      action: {{service: svc{}, method: {m}}}",
            r % 10
        );
    }
    y.push_str("  policies:\n");
    let mut rng = Rng(0x5eed);
    for i in 0..POLICIES {
        let p = i % PROGRAMS;
        let paths: Vec<String> = (0..3)
            .map(|_| format!("/programs/p{p}/projects/q{}", rng.below(PROJECTS)))
            .collect();
        let _ = writeln!(
            y,
            "  - id: pol{i}\n    role_ids: [role{i}, role{}]\n    resource_paths: [{}]",
            (i + 1) % ROLES,
            paths.join(", ")
        );
    }
    y.push_str("  groups:\n");
    for g in 0..10 {
        let members: Vec<String> = (0..100)
            .map(|k| format!("user{}@bench.org", g * 100 + k))
            .collect();
        let _ = writeln!(
            y,
            "  - name: group{g}\n    users: [{}]\n    policies: [pol{}, pol{}]",
            members.join(", "),
            g * 7,
            g * 7 + 1
        );
    }
    y.push_str("clients: {}\nusers:\n");
    for u in 0..USERS {
        let pols: Vec<String> = (0..3)
            .map(|_| format!("pol{}", rng.below(POLICIES)))
            .collect();
        let _ = writeln!(
            y,
            "  user{u}@bench.org:\n    policies: [{}]",
            pols.join(", ")
        );
    }
    let all: Vec<String> = (0..POLICIES).map(|i| format!("pol{i}")).collect();
    let _ = writeln!(y, "  heavy@bench.org:\n    policies: [{}]", all.join(", "));
    y
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let started = Instant::now();
    let yaml = user_yaml();
    println!(
        "generated user.yaml: {:.1} MB in {:.2} s",
        yaml.len() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    if let Some(i) = args.iter().position(|a| a == "--write") {
        let path = args.get(i + 1).expect("--write needs a path");
        std::fs::write(path, &yaml).expect("writing the user.yaml");
        println!("wrote {path}");
    }

    let t = Instant::now();
    let file = usersync::parse(&yaml).expect("the generated user.yaml parses");
    let parsed = t.elapsed();
    let t = Instant::now();
    let mut txn = Txn::new(Model::new());
    let report = usersync::apply(&file, &mut txn, usersync::PROVIDER).expect("applies");
    let applied = t.elapsed();
    println!(
        "usersync in memory: parse {:.2} s, apply {:.2} s ({})",
        parsed.as_secs_f64(),
        applied.as_secs_f64(),
        report.summary()
    );
    let model = txn.model;
    println!(
        "policy set: {} resources, {} roles, {} policies, {} users, {} groups",
        model.resources.len(),
        model.roles.len(),
        model.policies.len(),
        model.users.len(),
        model.groups.len()
    );
    let snap = Snapshot::new(model, 1);

    // Requests: a random user; half the time one of their own grants (allowed), otherwise a
    // random project; a file below the project half the time.
    let mut rng = Rng(42);
    let requests: Vec<(Principal, String, String, String)> = (0..100_000)
        .map(|_| {
            let name = format!("user{}@bench.org", rng.below(USERS));
            let own = snap.model.users.get(&name).and_then(|u| {
                let pols: Vec<&String> = u.policies.keys().collect();
                let pol = snap.model.policies.get(pols[rng.below(pols.len())])?;
                let role = snap.model.roles.get(&pol.role_ids[0])?;
                let action = &role.permissions[0].action;
                Some((
                    pol.resource_paths[rng.below(pol.resource_paths.len())].clone(),
                    action.service.clone(),
                    action.method.clone(),
                ))
            });
            let (mut path, svc, method) = match own.filter(|_| rng.below(2) == 0) {
                Some(g) => g,
                None => (
                    format!(
                        "/programs/p{}/projects/q{}",
                        rng.below(PROGRAMS),
                        rng.below(PROJECTS)
                    ),
                    format!("svc{}", rng.below(10)),
                    METHODS[rng.below(METHODS.len())].to_owned(),
                ),
            };
            if rng.below(2) == 0 {
                let _ = write!(path, "/files/f{}", rng.below(1000));
            }
            (Principal::User(name), path, svc, method)
        })
        .collect();
    let now = Utc::now();
    // Warm the per-user indexes, as a running server has them.
    let mut allowed = 0usize;
    for (who, path, svc, m) in &requests {
        allowed += usize::from(snap.decide(who, path, svc, m, now));
    }
    let rounds = 20;
    let t = Instant::now();
    for _ in 0..rounds {
        for (who, path, svc, m) in &requests {
            black_box(snap.decide(black_box(who), path, svc, m, now));
        }
    }
    let d = t.elapsed();
    println!(
        "decisions (one thread, warm): {:.0}/s ({} requests x {rounds}, {:.1}% allowed)",
        per_second(requests.len() * rounds, d),
        requests.len(),
        allowed as f64 * 100.0 / requests.len() as f64
    );

    // Cold: a fresh snapshot, every user's index built on first use.
    let cold = Snapshot::new(snap.model.clone(), 2);
    let t = Instant::now();
    for (who, path, svc, m) in &requests {
        black_box(cold.decide(who, path, svc, m, now));
    }
    println!(
        "decisions (one thread, cold snapshot): {:.0}/s",
        per_second(requests.len(), t.elapsed())
    );

    let heavy = Principal::User("heavy@bench.org".into());
    let fresh = Snapshot::new(snap.model, 3);
    let t = Instant::now();
    let first = fresh.mapping(&heavy, now).len();
    let cold = t.elapsed();
    let mut times = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        black_box(fresh.compute_mapping(&heavy, now));
        times.push(t.elapsed());
    }
    times.sort();
    let t = Instant::now();
    for _ in 0..1000 {
        black_box(fresh.mapping(&heavy, now));
    }
    let cached = t.elapsed() / 1000;
    println!(
        "auth/mapping of a 1,000-policy user ({first} resources): first on a new snapshot {:.2} ms; \
         computed median {:.2} ms, max {:.2} ms; remembered {:.4} ms",
        cold.as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        cached.as_secs_f64() * 1e3
    );
}
