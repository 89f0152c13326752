//! The contract every backend must honour. Each backend crate calls [`crate::contract_tests!`]
//! from its tests, which runs each case on a fresh, migrated, empty store.

// Test code compiled outside `cfg(test)` (behind the `test-suite` feature): a panic is how a
// contract failure is reported.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use crate::{
    BundleRecord, Checksum, EntryKind, ImportBatch, IndexRecord, IndexStore, ListQuery, Negate,
    Page, StoreError, UrlQuery,
};

/// A complete record with deterministic contents derived from `n`.
#[must_use]
pub fn sample(n: u32) -> IndexRecord {
    let did = format!("00000000-0000-4000-8000-{n:012}");
    let url = format!("s3://bucket/{n}/file.bam");
    let mut urls_metadata = BTreeMap::new();
    urls_metadata.insert(
        url.clone(),
        json!({"state": if n.is_multiple_of(2) { "validated" } else { "uploaded" }})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    IndexRecord {
        did,
        baseid: format!("10000000-0000-4000-8000-{n:012}"),
        rev: format!("{n:08x}"),
        form: Some("object".into()),
        size: Some(i64::from(n) * 10),
        file_name: Some(format!("file{n}.bam")),
        version: None,
        uploader: Some(if n.is_multiple_of(3) { "alice" } else { "bob" }.into()),
        description: None,
        urls: vec![url],
        urls_metadata,
        acl: vec!["*".into()],
        authz: vec![format!("/programs/p{}", n % 2)],
        hashes: BTreeMap::from([("md5".to_owned(), format!("{n:032x}"))]),
        metadata: json!({"kind": if n.is_multiple_of(2) { "even" } else { "odd" }})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        created_date: format!("2024-01-01T00:00:{:02}.000000", n % 60),
        updated_date: format!("2024-01-01T00:00:{:02}.000000", 59 - n % 60),
        content_created_date: None,
        content_updated_date: None,
    }
}

fn dids(records: &[IndexRecord]) -> Vec<String> {
    records.iter().map(|r| r.did.clone()).collect()
}

/// One `#[tokio::test]` per contract case, each on a fresh store, so that a failure names
/// its case and one failing case does not hide the others.
///
/// `$make` is an async function returning `Option<(guard, Arc<Store>)>`: the guard (a
/// temporary directory or database) lives as long as the test, and `None` skips the test
/// (a backend that is not configured; see each backend's rules for when that is allowed).
/// `Store` implements every store trait.
#[macro_export]
macro_rules! contract_tests {
    ($make:path) => {
        $crate::contract_tests!(@index $make;
            create_and_get conflicts update_and_delete versions_and_many listing aliases
            url_queries atomic_bulk bundles stats_and_users streamed_import blank_listing);
        $crate::contract_tests!(@whole $make;
            run_authz: AuthzStore, run_identity: IdentityStore, run_oauth: OAuthStore,
            run_hub: HubStore, run_metadata: MetadataStore, run_graph: GraphStore,
            run_graph_changes: GraphStore, run_graph_many: GraphStore,
            run_graph_dry_runs: GraphStore, run_graph_queries: GraphStore,
            run_graph_feed: GraphStore, run_workspace: WorkspaceStore);
        $crate::contract_tests!(@pair $make; run_graph_index: GraphStore + IndexStore);
    };
    (@index $make:path; $($case:ident)*) => { $(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let Some((_guard, store)) = $make().await else { return };
            $crate::test_suite::index_case(stringify!($case), &*store).await;
        }
    )* };
    (@whole $make:path; $($case:ident: $store:ident),*) => { $(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let Some((_guard, store)) = $make().await else { return };
            $crate::test_suite::$case(store as ::std::sync::Arc<dyn $crate::$store>).await;
        }
    )* };
    // Cases that reach the same store through two traits.
    (@pair $make:path; $($case:ident: $first:ident + $second:ident),*) => { $(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let Some((_guard, store)) = $make().await else { return };
            let second = ::std::sync::Arc::clone(&store) as ::std::sync::Arc<dyn $crate::$second>;
            $crate::test_suite::$case(store as ::std::sync::Arc<dyn $crate::$first>, second).await;
        }
    )* };
}

/// Run the index case `name` on a fresh store, after putting in place the records it
/// assumes (those an earlier case of the old one-store sequence left behind).
pub async fn index_case(name: &str, s: &dyn IndexStore) {
    match name {
        "conflicts" => s.create(sample(1), vec![]).await.unwrap(),
        "update_and_delete" => {
            s.create(sample(1), vec![]).await.unwrap();
            s.create(sample(2), vec!["alias-two".into()]).await.unwrap();
        }
        "aliases" | "url_queries" | "atomic_bulk" | "bundles" | "stats_and_users"
        | "streamed_import" => {
            let records: Vec<IndexRecord> = (100..130).map(sample).collect();
            assert_eq!(s.create_many(records, None).await.unwrap(), 30);
        }
        _ => {}
    }
    match name {
        "create_and_get" => create_and_get(s).await,
        "conflicts" => conflicts(s).await,
        "update_and_delete" => update_and_delete(s).await,
        "versions_and_many" => versions_and_many(s).await,
        "listing" => listing(s).await,
        "aliases" => aliases(s).await,
        "url_queries" => url_queries(s).await,
        "atomic_bulk" => atomic_bulk(s).await,
        "bundles" => bundles(s).await,
        "stats_and_users" => stats_and_users(s).await,
        "streamed_import" => streamed_import(s).await,
        "blank_listing" => blank_listing(s).await,
        other => panic!("no index contract case {other:?}"),
    }
}

/// `ListQuery::blank`: records without a size (uploads not yet indexed), paged by did.
async fn blank_listing(s: &dyn IndexStore) {
    let blanks: Vec<IndexRecord> = (900..903)
        .map(|n| {
            let mut r = sample(n);
            r.size = None;
            r.hashes.clear();
            r.urls.clear();
            r.urls_metadata.clear();
            r
        })
        .collect();
    for r in &blanks {
        s.create(r.clone(), vec![]).await.unwrap();
    }
    s.create(sample(903), vec![]).await.unwrap();
    let q = |page: Page, limit: u32| ListQuery {
        blank: true,
        page,
        limit,
        ..ListQuery::default()
    };
    assert_eq!(
        dids(&s.list(q(Page::First, 100)).await.unwrap()),
        dids(&blanks)
    );
    let first = dids(&s.list(q(Page::First, 2)).await.unwrap());
    assert_eq!(first, dids(&blanks[..2]));
    let rest = s.list(q(Page::After(first[1].clone()), 2)).await.unwrap();
    assert_eq!(dids(&rest), dids(&blanks[2..]));
    for r in blanks.iter().chain([&sample(903)]) {
        s.delete(&r.did, &r.rev).await.unwrap();
    }
}

async fn create_and_get(s: &dyn IndexStore) {
    let r = sample(1);
    s.create(r.clone(), vec![]).await.unwrap();
    assert_eq!(s.get(&r.did).await.unwrap(), Some(r.clone()));
    assert_eq!(s.get("missing").await.unwrap(), None);
    // stored rows serialize to exactly the record's JSON
    let raw = s.get_raw(&r.did).await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_string(&raw).unwrap(),
        serde_json::to_string(&r).unwrap()
    );
    assert_eq!(s.get_raw("missing").await.unwrap(), None);
    let listed = s
        .list_raw(ListQuery {
            limit: 10,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&listed).unwrap(),
        serde_json::json!([r])
    );
    // and so does the JSON written straight from the row, byte for byte
    let json = s.get_json(&r.did).await.unwrap().unwrap();
    assert_eq!(json, serde_json::to_vec(&r).unwrap());
    assert_eq!(s.get_json("missing").await.unwrap(), None);
    let listed = s
        .list_json(ListQuery {
            limit: 10,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(listed, serde_json::to_vec(&[&r]).unwrap());
    let none = s
        .list_json(ListQuery {
            limit: 10,
            file_name: Some("no such file".into()),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(none, b"[]");
    s.ping().await.unwrap();
}

async fn conflicts(s: &dyn IndexStore) {
    let r = sample(1);
    let err = s.create(r, vec![]).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    // an alias clash rolls back the whole create
    let mut r2 = sample(2);
    s.create(r2.clone(), vec!["alias-two".into()])
        .await
        .unwrap();
    r2.did = "00000000-0000-4000-8000-999999999999".into();
    let err = s
        .create(r2.clone(), vec!["alias-two".into()])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    assert_eq!(
        s.get(&r2.did).await.unwrap(),
        None,
        "failed create left a row"
    );
}

async fn update_and_delete(s: &dyn IndexStore) {
    let mut r = sample(1);
    let old_rev = r.rev.clone();
    r.rev = "abcdef01".into();
    r.urls = vec!["gs://b/new".into()];
    r.urls_metadata = BTreeMap::from([("gs://b/new".to_owned(), serde_json::Map::new())]);
    r.file_name = None;
    r.acl = vec![];
    r.metadata.insert("kind".into(), json!("changed"));
    assert_eq!(
        s.update(r.clone(), "ffffffff".into()).await.unwrap_err(),
        StoreError::RevisionMismatch
    );
    let mut missing = r.clone();
    missing.did = "nope".into();
    assert_eq!(
        s.update(missing, old_rev.clone()).await.unwrap_err(),
        StoreError::NotFound
    );
    s.update(r.clone(), old_rev).await.unwrap();
    assert_eq!(s.get(&r.did).await.unwrap(), Some(r.clone()));
    // side tables follow the update
    let found = s
        .list(ListQuery {
            urls: vec!["gs://b/new".into()],
            limit: 10,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(dids(&found), vec![r.did.clone()]);
    let gone = s
        .list(ListQuery {
            urls: vec!["s3://bucket/1/file.bam".into()],
            limit: 10,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert!(gone.is_empty());
    let by =
        |q: ListQuery| async move { dids(&s.list(ListQuery { limit: 100, ..q }).await.unwrap()) };
    // no ACEs any more: found by "acl=", not by its old ACE; metadata by its new value only
    assert!(
        by(ListQuery {
            acl: Some(vec![]),
            ..ListQuery::default()
        })
        .await
        .contains(&r.did)
    );
    assert!(
        !by(ListQuery {
            acl: Some(vec!["*".into()]),
            ..ListQuery::default()
        })
        .await
        .contains(&r.did)
    );
    assert!(
        !by(ListQuery {
            authz: Some(vec![]),
            ..ListQuery::default()
        })
        .await
        .contains(&r.did)
    );
    let kind = |v: &str| ListQuery {
        metadata: vec![("kind".into(), v.into())],
        ..ListQuery::default()
    };
    assert_eq!(by(kind("changed")).await, vec![r.did.clone()]);
    assert!(!by(kind("odd")).await.contains(&r.did));

    assert_eq!(
        s.delete(&r.did, "00000000").await.unwrap_err(),
        StoreError::RevisionMismatch
    );
    assert_eq!(
        s.delete("nope", "00000000").await.unwrap_err(),
        StoreError::NotFound
    );
    s.delete(&r.did, &r.rev).await.unwrap();
    assert_eq!(s.get(&r.did).await.unwrap(), None);
    // its side rows went with it: nothing finds it, and the did can be created again
    let md5 = ListQuery {
        hashes: vec![("md5".into(), r.hashes["md5"].clone())],
        ..ListQuery::default()
    };
    assert!(by(md5.clone()).await.is_empty());
    assert!(by(kind("changed")).await.is_empty());
    s.create(r.clone(), vec![]).await.unwrap();
    assert_eq!(by(md5.clone()).await, vec![r.did.clone()]);
    s.delete(&r.did, &r.rev).await.unwrap();
    assert!(by(md5).await.is_empty());
    // record 2 and its alias go too
    let r2 = sample(2);
    s.delete(&r2.did, &r2.rev).await.unwrap();
    assert_eq!(s.resolve_alias("alias-two").await.unwrap(), None);
}

async fn versions_and_many(s: &dyn IndexStore) {
    let mut a = sample(10);
    let mut b = sample(11);
    b.baseid = a.baseid.clone();
    b.created_date = "2024-02-01T00:00:00.000000".into();
    a.created_date = "2024-01-01T00:00:00.000000".into();
    s.create(b.clone(), vec![]).await.unwrap();
    s.create(a.clone(), vec![]).await.unwrap();
    assert_eq!(
        dids(&s.versions(&a.baseid).await.unwrap()),
        vec![a.did.clone(), b.did.clone()]
    );
    let mut got = dids(
        &s.get_many(vec![b.did.clone(), "x".into(), a.did.clone()])
            .await
            .unwrap(),
    );
    got.sort();
    assert_eq!(got, vec![a.did.clone(), b.did.clone()]);
    assert!(s.get_many(vec![]).await.unwrap().is_empty());

    // update_many is all or nothing
    let mut a2 = a.clone();
    a2.rev = "11111111".into();
    a2.acl = vec!["x".into()];
    let mut b2 = b.clone();
    b2.rev = "22222222".into();
    let err = s
        .update_many(vec![
            (a2.clone(), a.rev.clone()),
            (b2.clone(), "deadbeef".into()),
        ])
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::RevisionMismatch);
    assert_eq!(s.get(&a.did).await.unwrap().unwrap().rev, a.rev);
    s.update_many(vec![
        (a2.clone(), a.rev.clone()),
        (b2.clone(), b.rev.clone()),
    ])
    .await
    .unwrap();
    assert_eq!(
        s.get(&a.did).await.unwrap().unwrap().acl,
        vec!["x".to_owned()]
    );
    s.delete(&a.did, &a2.rev).await.unwrap();
    s.delete(&b.did, &b2.rev).await.unwrap();
}

async fn listing(s: &dyn IndexStore) {
    let records: Vec<IndexRecord> = (100..130).map(sample).collect();
    assert_eq!(s.create_many(records.clone(), None).await.unwrap(), 30);
    let all = |q: ListQuery| async move { dids(&s.list(q).await.unwrap()) };
    let base = ListQuery {
        limit: 100,
        ..ListQuery::default()
    };

    let page1 = all(ListQuery {
        limit: 10,
        ..ListQuery::default()
    })
    .await;
    assert_eq!(page1, dids(&records[..10]));
    let page2 = all(ListQuery {
        limit: 10,
        page: Page::After(page1[9].clone()),
        ..ListQuery::default()
    })
    .await;
    assert_eq!(page2, dids(&records[10..20]));
    // page numbers order by updated_date (59 - n % 60 descends with n)
    let by_page = all(ListQuery {
        limit: 5,
        page: Page::Number(1),
        ..ListQuery::default()
    })
    .await;
    let mut expect: Vec<&IndexRecord> = records.iter().collect();
    expect.sort_by(|a, b| (&a.updated_date, &a.did).cmp(&(&b.updated_date, &b.did)));
    assert_eq!(
        by_page,
        expect[5..10]
            .iter()
            .map(|r| r.did.clone())
            .collect::<Vec<_>>()
    );

    let r = &records[7];
    let h = ("md5".to_owned(), r.hashes["md5"].clone());
    assert_eq!(
        all(ListQuery {
            hashes: vec![h.clone()],
            ..base.clone()
        })
        .await,
        vec![r.did.clone()]
    );
    let wrong_type = ("sha1".to_owned(), r.hashes["md5"].clone());
    assert!(
        all(ListQuery {
            hashes: vec![wrong_type],
            ..base.clone()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        all(ListQuery {
            size: r.size,
            ..base.clone()
        })
        .await,
        vec![r.did.clone()]
    );
    assert_eq!(
        all(ListQuery {
            file_name: r.file_name.clone(),
            ..base.clone()
        })
        .await,
        vec![r.did.clone()]
    );
    assert_eq!(
        all(ListQuery {
            urls: r.urls.clone(),
            ..base.clone()
        })
        .await,
        vec![r.did.clone()]
    );
    let even: Vec<String> = records
        .iter()
        .filter(|r| r.authz == ["/programs/p0"])
        .map(|r| r.did.clone())
        .collect();
    assert_eq!(
        all(ListQuery {
            authz: Some(vec!["/programs/p0".into()]),
            ..base.clone()
        })
        .await,
        even
    );
    assert_eq!(
        all(ListQuery {
            metadata: vec![("kind".into(), "even".into())],
            ..base.clone()
        })
        .await,
        even
    );
    let alice: Vec<String> = records
        .iter()
        .filter(|r| r.uploader.as_deref() == Some("alice"))
        .map(|r| r.did.clone())
        .collect();
    assert_eq!(
        all(ListQuery {
            uploader: Some("alice".into()),
            ..base.clone()
        })
        .await,
        alice
    );
    assert_eq!(
        all(ListQuery {
            acl: Some(vec![]),
            ..base.clone()
        })
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        all(ListQuery {
            acl: Some(vec!["*".into()]),
            ..base.clone()
        })
        .await
        .len(),
        30
    );
    assert_eq!(
        all(ListQuery {
            urls_metadata: vec![("bucket/".into(), vec![("state".into(), "validated".into())])],
            ..base.clone()
        })
        .await,
        even
    );
    let odd: Vec<String> = records
        .iter()
        .filter(|r| r.authz == ["/programs/p1"])
        .map(|r| r.did.clone())
        .collect();
    assert_eq!(
        all(ListQuery {
            negate: Negate {
                authz: vec!["/programs/p0".into()],
                ..Negate::default()
            },
            ..base.clone()
        })
        .await,
        odd
    );
    assert_eq!(
        all(ListQuery {
            negate: Negate {
                metadata: vec![("kind".into(), Some("even".into()))],
                ..Negate::default()
            },
            ..base.clone()
        })
        .await,
        odd
    );
    assert!(
        all(ListQuery {
            negate: Negate {
                metadata: vec![("kind".into(), None)],
                ..Negate::default()
            },
            ..base.clone()
        })
        .await
        .is_empty()
    );
    let ids = vec![
        records[3].did.clone(),
        records[1].did.clone(),
        "missing".into(),
    ];
    assert_eq!(
        all(ListQuery {
            ids: Some(ids),
            ..base.clone()
        })
        .await,
        vec![records[1].did.clone(), records[3].did.clone()]
    );
    // LIKE wildcards in a filter are literal
    assert!(
        all(ListQuery {
            urls_metadata: vec![("%".into(), vec![("state".into(), "validated".into())])],
            ..base.clone()
        })
        .await
        .is_empty()
    );
}

async fn aliases(s: &dyn IndexStore) {
    let r = sample(100);
    s.put_aliases(&r.did, vec!["b-alias".into(), "a-alias".into()], false)
        .await
        .unwrap();
    assert_eq!(s.aliases(&r.did).await.unwrap(), vec!["a-alias", "b-alias"]);
    assert_eq!(
        s.resolve_alias("a-alias").await.unwrap(),
        Some(r.did.clone())
    );
    let other = sample(101);
    let err = s
        .put_aliases(&other.did, vec!["c".into(), "a-alias".into()], false)
        .await;
    assert!(matches!(err, Err(StoreError::AlreadyExists(_))), "{err:?}");
    assert!(
        s.aliases(&other.did).await.unwrap().is_empty(),
        "half-added aliases"
    );
    s.put_aliases(&r.did, vec!["z".into()], true).await.unwrap();
    assert_eq!(s.aliases(&r.did).await.unwrap(), vec!["z"]);
    assert_eq!(
        s.delete_aliases(&r.did, Some("nope".into()))
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
    s.delete_aliases(&r.did, Some("z".into())).await.unwrap();
    s.put_aliases(&r.did, vec!["y".into(), "x".into()], false)
        .await
        .unwrap();
    s.delete_aliases(&r.did, None).await.unwrap();
    assert!(s.aliases(&r.did).await.unwrap().is_empty());
}

async fn url_queries(s: &dyn IndexStore) {
    let q = |include: Option<&str>, versioned| UrlQuery {
        include: include.map(str::to_owned),
        versioned,
        limit: 100,
        ..UrlQuery::default()
    };
    let got = s.query_urls(q(Some("bucket/105/"), None)).await.unwrap();
    assert_eq!(dids(&got), vec![sample(105).did]);
    assert_eq!(s.query_urls(q(None, Some(true))).await.unwrap().len(), 0);
    assert_eq!(s.query_urls(q(None, Some(false))).await.unwrap().len(), 30);
    let excl = UrlQuery {
        exclude: Some("bucket".into()),
        limit: 100,
        ..UrlQuery::default()
    };
    assert!(s.query_urls(excl).await.unwrap().is_empty());
    let meta = UrlQuery {
        metadata: Some(("state".into(), "validated".into(), Some("/110/".into()))),
        limit: 100,
        ..UrlQuery::default()
    };
    assert_eq!(
        dids(&s.query_urls(meta).await.unwrap()),
        vec![sample(110).did]
    );
    let paged = UrlQuery {
        limit: 2,
        offset: 3,
        ..UrlQuery::default()
    };
    assert_eq!(
        dids(&s.query_urls(paged).await.unwrap()),
        vec![sample(103).did, sample(104).did]
    );
}

async fn atomic_bulk(s: &dyn IndexStore) {
    // the last record clashes with an existing did: nothing of the batch may remain
    let mut batch: Vec<IndexRecord> = (200..210).map(sample).collect();
    batch.push(sample(100));
    let err = s.create_many(batch, None).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    assert_eq!(s.get(&sample(200).did).await.unwrap(), None);
}

/// A finished channel holding `batches`, as a bulk import's producer leaves it.
fn feed(batches: Vec<ImportBatch>) -> std::sync::mpsc::Receiver<ImportBatch> {
    let (tx, rx) = std::sync::mpsc::sync_channel(batches.len());
    for b in batches {
        tx.send(b).unwrap();
    }
    rx
}

/// `import`, larger than the table (so it takes the rebuilding path where there is one):
/// an aborted, short or clashing stream keeps nothing; a whole one keeps everything, and
/// the store serves and writes afterwards. Runs last: it adds 40 records.
async fn streamed_import(s: &dyn IndexStore) {
    let records: Vec<IndexRecord> = (300..340).map(sample).collect();
    let aborted = feed(vec![Ok(records[..20].to_vec()), Err("changed".into())]);
    assert_eq!(
        s.import(aborted, 40, None).await.unwrap_err(),
        StoreError::Backend("changed".into())
    );
    let short = feed(vec![Ok(records[..20].to_vec())]);
    let err = s.import(short, 40, None).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    // a taken did amid the stream (backends insert many rows per statement): named
    let mut clash = records.clone();
    clash.insert(20, sample(100));
    let err = s.import(feed(vec![Ok(clash)]), 41, None).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::AlreadyExists(format!("did \"{}\" already exists", sample(100).did))
    );
    assert_eq!(s.get(&sample(300).did).await.unwrap(), None);
    assert_eq!(s.stats(None).await.unwrap().0, 30);

    let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = Arc::clone(&seen);
    let progress: crate::Progress = Arc::new(move |n| {
        counter.store(n, std::sync::atomic::Ordering::Relaxed);
    });
    let whole = feed(vec![Ok(records[..25].to_vec()), Ok(records[25..].to_vec())]);
    assert_eq!(s.import(whole, 40, Some(progress)).await.unwrap(), 40);
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 40);
    assert_eq!(s.get(&sample(333).did).await.unwrap(), Some(sample(333)));
    let r = sample(317);
    let by_hash = s
        .list(ListQuery {
            hashes: vec![("md5".into(), r.hashes["md5"].clone())],
            limit: 10,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_hash, vec![r.clone()]);
    let by_url = s
        .list(ListQuery {
            urls: r.urls.clone(),
            limit: 10,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_url, vec![r]);
    assert_eq!(s.stats(None).await.unwrap().0, 70);
    s.create(sample(400), vec![]).await.unwrap();
    assert_eq!(s.get(&sample(400).did).await.unwrap(), Some(sample(400)));
}

async fn stats_and_users(s: &dyn IndexStore) {
    let (count, size) = s.stats(None).await.unwrap();
    assert_eq!(count, 30);
    assert_eq!(size, (100..130).map(|n| i64::from(n) * 10).sum::<i64>());
    let (before, _) = s
        .stats(Some("2024-01-01T00:00:10.000000".into()))
        .await
        .unwrap();
    assert_eq!(before, (100..130).filter(|n| n % 60 < 10).count() as i64);
    assert_eq!(s.index_user_hash("alice").await.unwrap(), None);
    s.put_index_user("alice", "hash1").await.unwrap();
    s.put_index_user("alice", "hash2").await.unwrap();
    assert_eq!(
        s.index_user_hash("alice").await.unwrap().as_deref(),
        Some("hash2")
    );
}

/// A bundle whose id sorts right after `sample(n)`'s did, holding `members`.
#[must_use]
pub fn sample_bundle(n: u32, members: Vec<String>) -> BundleRecord {
    BundleRecord {
        bundle_id: format!("00000000-0000-4000-8000-{n:012}-bundle"),
        name: format!("bundle{n}"),
        size: i64::from(n) * 100,
        checksums: vec![Checksum {
            kind: "md5".into(),
            checksum: format!("{n:032x}"),
        }],
        members,
        description: String::new(),
        version: format!("v{n}"),
        aliases: vec![format!("alias-of-bundle-{n}")],
        created_time: format!("2024-02-01T00:00:{:02}.000000", n % 60),
        // between the records' update times, which are 59 - n % 60
        updated_time: format!("2024-01-01T00:00:{:02}.500000", 59 - n % 60),
    }
}

async fn bundles(s: &dyn IndexStore) {
    let members = vec![sample(105).did, sample(101).did];
    let b = sample_bundle(103, members.clone());
    s.create_bundle(b.clone()).await.unwrap();
    assert_eq!(s.get_bundle(&b.bundle_id).await.unwrap(), Some(b.clone()));
    assert_eq!(
        s.get_bundle(&b.bundle_id).await.unwrap().unwrap().members,
        members,
        "members keep their order"
    );
    assert_eq!(s.get_bundle(&sample(103).did).await.unwrap(), None);
    assert_eq!(s.get_bundle("missing").await.unwrap(), None);

    // an id taken by a bundle or by a record
    let err = s.create_bundle(b.clone()).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::AlreadyExists(format!("bundle id \"{}\" already exists", b.bundle_id))
    );
    let mut on_record = sample_bundle(104, vec![]);
    on_record.bundle_id = sample(104).did;
    let err = s.create_bundle(on_record.clone()).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    assert_eq!(s.get_bundle(&on_record.bundle_id).await.unwrap(), None);

    let more: Vec<BundleRecord> = [110, 120, 129]
        .into_iter()
        .map(|n| sample_bundle(n, vec![sample(n).did, b.bundle_id.clone()]))
        .collect();
    for m in &more {
        s.create_bundle(m.clone()).await.unwrap();
    }
    let ids = |v: &[BundleRecord]| v.iter().map(|b| b.bundle_id.clone()).collect::<Vec<_>>();
    let mut got = ids(&s
        .get_bundles(vec![
            more[1].bundle_id.clone(),
            "x".into(),
            b.bundle_id.clone(),
        ])
        .await
        .unwrap());
    got.sort();
    assert_eq!(got, vec![b.bundle_id.clone(), more[1].bundle_id.clone()]);
    assert!(s.get_bundles(vec![]).await.unwrap().is_empty());

    // paging as records: by id after start, or by update time for page numbers
    let all = [b.clone(), more[0].clone(), more[1].clone(), more[2].clone()];
    assert_eq!(
        ids(&s.list_bundles(Page::First, 2).await.unwrap()),
        ids(&all[..2])
    );
    assert_eq!(
        ids(&s
            .list_bundles(Page::After(all[1].bundle_id.clone()), 10)
            .await
            .unwrap()),
        ids(&all[2..])
    );
    let mut by_update = all.to_vec();
    by_update.sort_by(|a, b| a.updated_time.cmp(&b.updated_time));
    assert_eq!(
        ids(&s.list_bundles(Page::Number(1), 3).await.unwrap()),
        ids(&by_update[3..])
    );
    assert!(s.list_bundles(Page::Number(5), 3).await.unwrap().is_empty());

    // records and bundles together
    let record = |n: u32| (EntryKind::Record, sample(n).did);
    let bundle = |n: u32| (EntryKind::Bundle, sample_bundle(n, vec![]).bundle_id);
    let q = |page: Page, limit: u32| ListQuery {
        page,
        limit,
        ..ListQuery::default()
    };
    let first = s.list_entries(q(Page::First, 6)).await.unwrap();
    assert_eq!(
        first,
        vec![
            record(100),
            record(101),
            record(102),
            record(103),
            bundle(103),
            record(104)
        ]
    );
    let next = s
        .list_entries(q(Page::After(first[5].1.clone()), 4))
        .await
        .unwrap();
    assert_eq!(
        next,
        vec![record(105), record(106), record(107), record(108)]
    );
    let tail = s
        .list_entries(q(Page::After(sample(128).did), 10))
        .await
        .unwrap();
    assert_eq!(tail, vec![record(129), bundle(129)]);
    // by update time: record n at second 59 - n % 60, bundle n half a second later
    let by_page = s.list_entries(q(Page::Number(0), 3)).await.unwrap();
    assert_eq!(by_page, vec![record(119), record(118), record(117)]);
    let by_page = s.list_entries(q(Page::Number(3), 3)).await.unwrap();
    assert_eq!(by_page, vec![record(110), bundle(110), record(109)]);
    let by_page = s.list_entries(q(Page::Number(7), 3)).await.unwrap();
    assert_eq!(by_page, vec![record(100), record(129), bundle(129)]);
    let by_page = s.list_entries(q(Page::Number(11), 3)).await.unwrap();
    assert_eq!(by_page, vec![bundle(120)]);
    assert!(
        s.list_entries(q(Page::Number(12), 3))
            .await
            .unwrap()
            .is_empty()
    );
    // record filters leave bundles alone; ids select both kinds, in id order
    let filtered = s
        .list_entries(ListQuery {
            size: sample(107).size,
            limit: 100,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        filtered,
        vec![
            bundle(103),
            record(107),
            bundle(110),
            bundle(120),
            bundle(129)
        ]
    );
    let by_ids = s
        .list_entries(ListQuery {
            ids: Some(vec![
                bundle(110).1,
                record(130).1,
                record(102).1,
                "x".into(),
            ]),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_ids, vec![record(102), bundle(110)]);
    // records-only listings never show bundles
    assert_eq!(
        s.list(ListQuery {
            ids: Some(vec![bundle(110).1]),
            ..ListQuery::default()
        })
        .await
        .unwrap(),
        vec![]
    );

    for m in &more {
        s.delete_bundle(&m.bundle_id).await.unwrap();
    }
    assert_eq!(
        s.delete_bundle(&more[0].bundle_id).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        s.delete_bundle(&sample(100).did).await.unwrap_err(),
        StoreError::NotFound,
        "records are not deleted as bundles"
    );
    assert!(s.get(&sample(100).did).await.unwrap().is_some());
    assert_eq!(
        ids(&s.list_bundles(Page::First, 10).await.unwrap()),
        ids(&all[..1])
    );
    s.delete_bundle(&b.bundle_id).await.unwrap();
    assert_eq!(s.get_bundle(&b.bundle_id).await.unwrap(), None);
}

/// The contract of [`crate::AuthzStore`]: versions, optimistic writes, upserts and deletes.
pub async fn run_authz(s: Arc<dyn crate::AuthzStore>) {
    use crate::AuthzChange;
    let change = |kind: &str, key: &str, body: Option<&str>| AuthzChange {
        kind: kind.to_owned(),
        key: key.to_owned(),
        body: body.map(str::to_owned),
    };
    let empty = s.authz_load().await.unwrap();
    assert_eq!(empty.version, 0);
    assert!(empty.rows.is_empty());
    assert_eq!(s.authz_version().await.unwrap(), 0);

    let v1 = s
        .authz_write(
            0,
            vec![
                change("role", "reader", Some(r#"{"id":"reader"}"#)),
                change("user", "alice", Some(r#"{"name":"Alice"}"#)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(v1, 1);
    assert_eq!(s.authz_version().await.unwrap(), 1);

    // A writer that has not seen version 1 changes nothing.
    let stale = s
        .authz_write(0, vec![change("user", "bob", Some("{}"))])
        .await;
    assert_eq!(stale, Err(StoreError::RevisionMismatch));

    let v2 = s
        .authz_write(
            1,
            vec![
                change("user", "alice", Some(r#"{"name":"ALICE"}"#)),
                change("role", "reader", None),
            ],
        )
        .await
        .unwrap();
    assert_eq!(v2, 2);
    let now = s.authz_load().await.unwrap();
    assert_eq!(now.version, 2);
    assert_eq!(
        now.rows,
        vec![(
            "user".to_owned(),
            "alice".to_owned(),
            r#"{"name":"ALICE"}"#.to_owned()
        )]
    );
}

/// The contract of [`crate::IdentityStore`]: signing keys newest first, API keys listed,
/// looked up and revoked per user.
pub async fn run_identity(s: Arc<dyn crate::IdentityStore>) {
    use crate::{ApiKey, SigningKey};
    assert!(s.signing_keys().await.unwrap().is_empty());
    for (kid, at) in [
        ("old", "2026-01-01T00:00:00.000000Z"),
        ("new", "2026-06-01T00:00:00.000000Z"),
    ] {
        s.add_signing_key(SigningKey {
            kid: kid.into(),
            private_pem: format!("pem-{kid}"),
            created_at: at.into(),
        })
        .await
        .unwrap();
    }
    let kids: Vec<String> = s
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, vec!["new", "old"]);
    let dup = s
        .add_signing_key(SigningKey {
            kid: "new".into(),
            private_pem: "x".into(),
            created_at: "2027-01-01T00:00:00.000000Z".into(),
        })
        .await;
    assert!(matches!(dup, Err(StoreError::AlreadyExists(_))), "{dup:?}");

    let key = |jti: &str, user: &str, exp: i64| ApiKey {
        jti: jti.into(),
        username: user.into(),
        expires_at: exp,
        revoked: false,
    };
    s.add_api_key(key("k1", "ann", 2_000)).await.unwrap();
    s.add_api_key(key("k2", "ann", 1_000)).await.unwrap();
    s.add_api_key(key("k3", "bob", 2_000)).await.unwrap();
    let live: Vec<String> = s
        .api_keys("ann", 1_500)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.jti)
        .collect();
    assert_eq!(live, vec!["k1"], "expired keys are not listed");
    assert!(
        !s.revoke_api_key("bob", "k1").await.unwrap(),
        "not bob's key"
    );
    assert!(s.revoke_api_key("ann", "k1").await.unwrap());
    assert_eq!(
        s.api_key("k1").await.unwrap().map(|k| k.revoked),
        Some(true)
    );
    assert!(
        s.api_keys("ann", 0)
            .await
            .unwrap()
            .iter()
            .all(|k| k.jti != "k1")
    );
    assert_eq!(s.api_key("nope").await.unwrap(), None);
}

/// The contract of [`crate::OAuthStore`]: clients unique by name, codes spent once (and
/// atomically), refresh tokens revocable one by one or by the code they came from,
/// sessions that expire, and a purge of what expired.
pub async fn run_oauth(s: Arc<dyn crate::OAuthStore>) {
    use crate::{AuthCode, CodeRedemption, OAuthClient, RefreshToken, Session};
    let client = |id: &str, name: &str| OAuthClient {
        client_id: id.into(),
        name: name.into(),
        secret_hash: Some("$argon2id$hash".into()),
        redirect_uris: vec![
            "https://app.example/cb".into(),
            "http://127.0.0.1:9/cb".into(),
        ],
        allowed_scopes: vec!["openid".into(), "user".into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        auto_approve: true,
        owner: Some("ann".into()),
        created_at: 1_000,
    };
    s.add_client(client("c1", "portal")).await.unwrap();
    let mut public = client("c2", "notebook");
    public.secret_hash = None;
    public.owner = None;
    public.auto_approve = false;
    s.add_client(public.clone()).await.unwrap();
    let dup = s.add_client(client("c3", "portal")).await;
    assert!(matches!(dup, Err(StoreError::AlreadyExists(_))), "{dup:?}");
    assert_eq!(s.client("c1").await.unwrap(), Some(client("c1", "portal")));
    assert_eq!(s.client("c2").await.unwrap(), Some(public));
    assert_eq!(s.client("c3").await.unwrap(), None);
    let names: Vec<String> = s
        .clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["notebook", "portal"]);

    let code = |hash: &str, exp: i64| AuthCode {
        code_hash: hash.into(),
        client_id: "c1".into(),
        username: "ann".into(),
        redirect_uri: "https://app.example/cb".into(),
        scopes: vec!["openid".into(), "user".into()],
        nonce: Some("n-1".into()),
        code_challenge: Some("abc".into()),
        code_challenge_method: Some("S256".into()),
        auth_time: 900,
        expires_at: exp,
    };
    s.add_code(code("h1", 2_000)).await.unwrap();
    assert_eq!(
        s.redeem_code("h1").await.unwrap(),
        CodeRedemption::Fresh(code("h1", 2_000))
    );
    assert_eq!(
        s.redeem_code("h1").await.unwrap(),
        CodeRedemption::Reused(code("h1", 2_000))
    );
    assert_eq!(
        s.redeem_code("nope").await.unwrap(),
        CodeRedemption::Unknown
    );
    // Concurrent redemptions: exactly one sees the code fresh.
    s.add_code(code("h2", 2_000)).await.unwrap();
    let (a, b) = tokio::join!(s.redeem_code("h2"), s.redeem_code("h2"));
    let fresh = [a.unwrap(), b.unwrap()]
        .iter()
        .filter(|r| matches!(r, CodeRedemption::Fresh(_)))
        .count();
    assert_eq!(fresh, 1);

    let refresh = |jti: &str, code: Option<&str>, exp: i64| RefreshToken {
        jti: jti.into(),
        username: "ann".into(),
        client_id: "c1".into(),
        code_hash: code.map(Into::into),
        expires_at: exp,
        revoked: false,
    };
    s.add_refresh_token(refresh("r1", Some("h1"), 5_000))
        .await
        .unwrap();
    s.add_refresh_token(refresh("r2", Some("h1"), 5_000))
        .await
        .unwrap();
    s.add_refresh_token(refresh("r3", None, 5_000))
        .await
        .unwrap();
    assert_eq!(
        s.refresh_token("r3").await.unwrap(),
        Some(refresh("r3", None, 5_000))
    );
    assert_eq!(s.revoke_refresh_tokens_of_code("h1").await.unwrap(), 2);
    assert_eq!(
        s.refresh_token("r1").await.unwrap().map(|t| t.revoked),
        Some(true)
    );
    assert!(s.revoke_refresh_token("r3").await.unwrap());
    assert!(!s.revoke_refresh_token("r9").await.unwrap());
    assert_eq!(
        s.refresh_token("r3").await.unwrap().map(|t| t.revoked),
        Some(true)
    );

    let session = |id: &str, exp: i64| Session {
        id_hash: id.into(),
        username: "ann".into(),
        idp: "weft-b".into(),
        created_at: 1_000,
        expires_at: exp,
    };
    s.add_session(session("s1", 3_000)).await.unwrap();
    s.add_session(session("s2", 1_500)).await.unwrap();
    assert_eq!(
        s.session("s1", 2_000).await.unwrap(),
        Some(session("s1", 3_000))
    );
    assert_eq!(s.session("s2", 2_000).await.unwrap(), None, "expired");
    assert!(s.delete_session("s1").await.unwrap());
    assert!(!s.delete_session("s1").await.unwrap());
    assert_eq!(s.session("s1", 2_000).await.unwrap(), None);

    // At 2,500: codes h1, h2 (exp 2,000) and session s2 (1,500) are gone; the refresh
    // tokens (5,000) stay.
    assert_eq!(s.purge_expired(2_500).await.unwrap(), 3);
    assert_eq!(s.redeem_code("h1").await.unwrap(), CodeRedemption::Unknown);
    assert!(s.refresh_token("r1").await.unwrap().is_some());

    assert!(s.delete_client("portal").await.unwrap());
    assert!(!s.delete_client("portal").await.unwrap());
    assert_eq!(s.client("c1").await.unwrap(), None);
    assert_eq!(
        s.refresh_token("r1").await.unwrap(),
        None,
        "went with the client"
    );
}

/// The contract of [`crate::HubStore`]: a commons' studies replaced whole (generation
/// bumped, info and summary kept with them), failures recorded without touching the last
/// good copy, listings paged in (commons, guid) order per scope, lookups by GUID, and a
/// commons forgotten with its studies.
pub async fn run_hub(s: Arc<dyn crate::HubStore>) {
    use crate::{HubPull, HubScope, HubStudy};
    let study = |commons: &str, name: &str, n: u32| HubStudy {
        commons: commons.into(),
        guid: format!("g{n:05}"),
        commons_name: name.into(),
        doc: format!(r#"{{"gen3_discovery":{{"n":{n},"commons_name":"{name}"}}}}"#),
    };
    let pull = |commons: &str, at: i64| HubPull {
        commons: commons.into(),
        info: format!(r#"{{"commons_url":"{commons}.org"}}"#),
        summary: r#"{"Data Type":{"WGS":2}}"#.into(),
        at,
    };
    assert!(s.hub_commons().await.unwrap().is_empty());
    assert_eq!(s.hub_count(HubScope::All).await.unwrap(), 0);

    // a failure before any good pull: a status row, no studies
    s.record_hub_failure("b", 5, "connection refused")
        .await
        .unwrap();
    let a_studies: Vec<HubStudy> = (0..5).map(|n| study("a", "A", n)).collect();
    let g = s
        .replace_hub_studies(pull("a", 10), a_studies.clone())
        .await
        .unwrap();
    assert_eq!(g, 1);
    let b_studies: Vec<HubStudy> = (3..6).map(|n| study("b", "Bee", n)).collect();
    assert_eq!(
        s.replace_hub_studies(pull("b", 11), b_studies.clone())
            .await
            .unwrap(),
        1
    );
    let commons = s.hub_commons().await.unwrap();
    assert_eq!(commons.len(), 2);
    assert_eq!(commons[0].name, "a");
    assert_eq!(commons[0].info, r#"{"commons_url":"a.org"}"#);
    assert_eq!(commons[0].summary, r#"{"Data Type":{"WGS":2}}"#);
    assert_eq!(commons[0].study_count, 5);
    assert_eq!(commons[0].last_success, Some(10));
    assert_eq!(commons[1].name, "b");
    assert_eq!(commons[1].last_error, None);
    assert_eq!(commons[1].failures, 0);
    assert_eq!(commons[1].generation, 1);

    // listings: all, by commons, by commons_name; paged in (commons, guid) order
    assert_eq!(s.hub_count(HubScope::All).await.unwrap(), 8);
    let all = s.hub_studies(HubScope::All, 100, 0).await.unwrap();
    let mut expected = a_studies.clone();
    expected.extend(b_studies.clone());
    assert_eq!(all, expected);
    let page = s.hub_studies(HubScope::All, 3, 4).await.unwrap();
    assert_eq!(page, expected[4..7].to_vec());
    let bee = HubScope::CommonsName("Bee".into());
    assert_eq!(s.hub_count(bee.clone()).await.unwrap(), 3);
    assert_eq!(
        s.hub_studies(bee, 10, 1).await.unwrap(),
        b_studies[1..].to_vec()
    );
    assert_eq!(
        s.hub_studies(HubScope::Commons("a".into()), 2, 0)
            .await
            .unwrap(),
        a_studies[..2].to_vec()
    );
    assert_eq!(
        s.hub_count(HubScope::Commons("zz".into())).await.unwrap(),
        0
    );

    // by GUID: g003 is in both commons; the first by commons name wins
    assert_eq!(
        s.hub_study("g00003").await.unwrap(),
        Some(study("a", "A", 3))
    );
    assert_eq!(
        s.hub_study("g00005").await.unwrap(),
        Some(study("b", "Bee", 5))
    );
    assert_eq!(s.hub_study("nope").await.unwrap(), None);

    // a failure keeps the last good copy and counts up
    s.record_hub_failure("a", 20, "HTTP 500").await.unwrap();
    s.record_hub_failure("a", 25, "not JSON").await.unwrap();
    let a = &s.hub_commons().await.unwrap()[0];
    assert_eq!(a.last_error.as_deref(), Some("not JSON"));
    assert_eq!(a.failures, 2);
    assert_eq!(a.last_attempt, Some(25));
    assert_eq!(a.last_success, Some(10));
    assert_eq!(a.study_count, 5);
    assert_eq!(a.info, r#"{"commons_url":"a.org"}"#);
    assert_eq!(s.hub_count(HubScope::Commons("a".into())).await.unwrap(), 5);

    // a replacement is whole: old GUIDs go, the error clears, the generation moves on
    let fresh = vec![study("a", "A", 7)];
    assert_eq!(
        s.replace_hub_studies(pull("a", 30), fresh.clone())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.hub_studies(HubScope::Commons("a".into()), 10, 0)
            .await
            .unwrap(),
        fresh
    );
    let a = &s.hub_commons().await.unwrap()[0];
    assert_eq!((a.failures, a.last_error.clone()), (0, None));
    assert_eq!(s.hub_study("g00000").await.unwrap(), None);
    assert_eq!(
        s.hub_study("g00003").await.unwrap(),
        Some(study("b", "Bee", 3))
    );

    // a replacement that fails (a GUID twice in one commons) changes nothing
    let dup = s
        .replace_hub_studies(pull("a", 40), vec![study("a", "A", 8), study("a", "A", 8)])
        .await;
    assert!(dup.is_err(), "{dup:?}");
    assert_eq!(
        s.hub_studies(HubScope::Commons("a".into()), 10, 0)
            .await
            .unwrap(),
        fresh
    );
    assert_eq!(s.hub_commons().await.unwrap()[0].generation, 2);

    // an empty pull empties the commons
    s.replace_hub_studies(pull("b", 50), vec![]).await.unwrap();
    assert_eq!(s.hub_count(HubScope::Commons("b".into())).await.unwrap(), 0);

    // forgetting a commons takes its studies
    assert!(s.remove_hub_commons("a").await.unwrap());
    assert!(!s.remove_hub_commons("a").await.unwrap());
    assert_eq!(s.hub_count(HubScope::All).await.unwrap(), 0);
    let names: Vec<String> = s
        .hub_commons()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["b"]);

    // many studies in one replacement
    let many: Vec<HubStudy> = (0..2500).map(|n| study("c", "C", n)).collect();
    s.replace_hub_studies(pull("c", 60), many).await.unwrap();
    assert_eq!(
        s.hub_count(HubScope::Commons("c".into())).await.unwrap(),
        2500
    );
    let last = s
        .hub_studies(HubScope::Commons("c".into()), 10, 2495)
        .await
        .unwrap();
    assert_eq!(last.len(), 5);
    assert_eq!(last[4].guid, "g02499");
}

/// The contract of [`crate::WorkspaceStore`]: workspace rows replaced whole and listed live
/// (`Launching`, `Running`, `Terminating`) by user; pay models replaced by id with at most one current per user
/// (`put_pay_model` with `current`, `set_current_pay_model`, `reset_current_pay_model`);
/// `meter` charging a stretch once (never again up to the workspace's `metered_to`, always
/// when the user has no workspace row), `NotFound` for an unknown pay model with nothing
/// written; usage listed by user then start; manifests kept first-come per (user, folder,
/// filename), listed without bodies by creation then name; external tokens replaced per
/// (user, provider), listed by provider, deleted.
pub async fn run_workspace(s: Arc<dyn crate::WorkspaceStore>) {
    use crate::{ExternalTokenRow, ManifestRow, Metered, PayModelRow, UsageRow, WorkspaceRow};
    let alice = WorkspaceRow {
        user: "alice".into(),
        kind: "jupyter".into(),
        backend: "local".into(),
        handle: r#"{"pid":41,"port":8888}"#.into(),
        state: "Running".into(),
        detail: None,
        secret: "s-alice".into(),
        account: Some("pm-a1".into()),
        api_key_id: Some("key-a".into()),
        started_at: 100,
        stopped_at: None,
        last_activity: 150,
        metered_to: 100,
    };
    let bob = WorkspaceRow {
        user: "bob".into(),
        kind: "rstudio".into(),
        backend: "kubernetes".into(),
        handle: r#"{"pod":"ws-bob"}"#.into(),
        state: "Stopped".into(),
        detail: Some("idle for 1h".into()),
        secret: "s-bob".into(),
        account: None,
        api_key_id: None,
        started_at: 10,
        stopped_at: Some(500),
        last_activity: 400,
        metered_to: 500,
    };
    let carol = WorkspaceRow {
        user: "carol".into(),
        state: "Launching".into(),
        account: None,
        metered_to: 0,
        ..alice.clone()
    };

    // workspaces: absent, written, replaced whole, live ones by user
    assert_eq!(s.workspace("alice").await.unwrap(), None);
    assert!(s.live_workspaces().await.unwrap().is_empty());
    for w in [&carol, &bob, &alice] {
        s.put_workspace(w.clone()).await.unwrap();
    }
    assert_eq!(s.workspace("alice").await.unwrap(), Some(alice.clone()));
    assert_eq!(s.workspace("bob").await.unwrap(), Some(bob.clone()));
    assert_eq!(
        s.live_workspaces().await.unwrap(),
        vec![alice.clone(), carol.clone()],
        "Stopped rows are not live"
    );
    let errored = WorkspaceRow {
        state: "Errored".into(),
        detail: Some("out of memory".into()),
        account: None,
        api_key_id: None,
        stopped_at: Some(170),
        ..alice.clone()
    };
    s.put_workspace(errored.clone()).await.unwrap();
    assert_eq!(s.workspace("alice").await.unwrap(), Some(errored.clone()));
    assert_eq!(
        s.live_workspaces().await.unwrap(),
        vec![carol.clone()],
        "Errored rows are not live"
    );
    let stopped_carol = WorkspaceRow {
        state: "Stopped".into(),
        ..carol.clone()
    };
    s.put_workspace(stopped_carol).await.unwrap();
    s.put_workspace(alice.clone()).await.unwrap();
    assert_eq!(s.live_workspaces().await.unwrap(), vec![alice.clone()]);

    // pay models: replaced by id, listed by user then id, at most one current per user
    let pm = |id: &str, user: &str, current: bool| PayModelRow {
        id: id.into(),
        user: user.into(),
        workspace_type: "Direct Pay".into(),
        account_id: format!("acct-{id}"),
        region: "us-east-1".into(),
        local: id.ends_with('1'),
        request_status: "active".into(),
        soft_limit: 50.5,
        hard_limit: 100.25,
        total_usage: 0.0,
        current,
    };
    let currents = |models: Vec<PayModelRow>| -> Vec<(String, bool)> {
        models.into_iter().map(|m| (m.id, m.current)).collect()
    };
    let owned = |v: &[(&str, bool)]| -> Vec<(String, bool)> {
        v.iter().map(|(id, c)| ((*id).to_owned(), *c)).collect()
    };
    assert!(s.pay_models(None).await.unwrap().is_empty());
    assert!(s.pay_models(Some("alice")).await.unwrap().is_empty());
    s.put_pay_model(pm("pm-a2", "alice", true)).await.unwrap();
    s.put_pay_model(pm("pm-b1", "bob", true)).await.unwrap();
    s.put_pay_model(pm("pm-a1", "alice", true)).await.unwrap();
    assert_eq!(
        s.pay_models(Some("alice")).await.unwrap(),
        vec![pm("pm-a1", "alice", true), pm("pm-a2", "alice", false)],
        "a current put clears the user's other current pay model"
    );
    assert_eq!(
        currents(s.pay_models(None).await.unwrap()),
        owned(&[("pm-a1", true), ("pm-a2", false), ("pm-b1", true)]),
        "another user's current pay model stays"
    );
    // a put that is not current clears nothing; a put replaces the row
    s.put_pay_model(pm("pm-a3", "alice", false)).await.unwrap();
    let above = PayModelRow {
        request_status: "above limit".into(),
        workspace_type: "STRIDES Credits".into(),
        total_usage: 7.5,
        ..pm("pm-a2", "alice", false)
    };
    s.put_pay_model(above.clone()).await.unwrap();
    let models = s.pay_models(Some("alice")).await.unwrap();
    assert_eq!(
        currents(models.clone()),
        owned(&[("pm-a1", true), ("pm-a2", false), ("pm-a3", false)])
    );
    assert_eq!(models[1], above);
    assert_eq!(s.pay_models(Some("nobody")).await.unwrap(), vec![]);

    // set current: the named one only; false (and nothing changed) for another's or none
    assert!(s.set_current_pay_model("alice", "pm-a3").await.unwrap());
    assert_eq!(
        currents(s.pay_models(None).await.unwrap()),
        owned(&[
            ("pm-a1", false),
            ("pm-a2", false),
            ("pm-a3", true),
            ("pm-b1", true)
        ])
    );
    assert!(s.set_current_pay_model("alice", "pm-a3").await.unwrap());
    assert!(!s.set_current_pay_model("alice", "pm-b1").await.unwrap());
    assert!(!s.set_current_pay_model("alice", "nope").await.unwrap());
    assert_eq!(
        currents(s.pay_models(None).await.unwrap()),
        owned(&[
            ("pm-a1", false),
            ("pm-a2", false),
            ("pm-a3", true),
            ("pm-b1", true)
        ]),
        "a refused set_current changes nothing"
    );
    // reset: none of the user's, the others' untouched; twice is fine
    s.reset_current_pay_model("alice").await.unwrap();
    s.reset_current_pay_model("alice").await.unwrap();
    s.reset_current_pay_model("nobody").await.unwrap();
    assert_eq!(
        currents(s.pay_models(None).await.unwrap()),
        owned(&[
            ("pm-a1", false),
            ("pm-a2", false),
            ("pm-a3", false),
            ("pm-b1", true)
        ])
    );
    assert!(s.set_current_pay_model("alice", "pm-a1").await.unwrap());

    // meter: a stretch past metered_to is charged and moves metered_to
    let usage = |user: &str, account: &str, from: i64, to: i64, cost: f64| UsageRow {
        user: user.into(),
        account: account.into(),
        kind: "jupyter".into(),
        from,
        to,
        cost,
    };
    let limits = |total_usage: f64| Metered {
        total_usage,
        soft_limit: 50.5,
        hard_limit: 100.25,
    };
    let total = |models: Vec<PayModelRow>, id: &str| {
        models.into_iter().find(|m| m.id == id).unwrap().total_usage
    };
    assert_eq!(
        s.meter(usage("alice", "pm-a1", 100, 160, 1.5))
            .await
            .unwrap(),
        limits(1.5)
    );
    assert_eq!(s.workspace("alice").await.unwrap().unwrap().metered_to, 160);
    assert_eq!(total(s.pay_models(None).await.unwrap(), "pm-a1"), 1.5);
    // not charged again: a stretch ending at or before metered_to
    assert_eq!(
        s.meter(usage("alice", "pm-a1", 100, 160, 1.5))
            .await
            .unwrap(),
        limits(1.5),
        "the same stretch is not charged twice"
    );
    assert_eq!(
        s.meter(usage("alice", "pm-a1", 100, 150, 4.0))
            .await
            .unwrap(),
        limits(1.5)
    );
    assert_eq!(s.workspace("alice").await.unwrap().unwrap().metered_to, 160);
    assert_eq!(
        s.meter(usage("alice", "pm-a1", 160, 220, 2.25))
            .await
            .unwrap(),
        limits(3.75)
    );
    assert_eq!(s.workspace("alice").await.unwrap().unwrap().metered_to, 220);
    // charged to another pay model than the workspace's account: the one named
    assert_eq!(
        s.meter(usage("alice", "pm-a2", 220, 240, 0.5))
            .await
            .unwrap(),
        limits(8.0)
    );
    assert_eq!(s.workspace("alice").await.unwrap().unwrap().metered_to, 240);

    // an unknown pay model: NotFound, nothing written (metered_to, usage, totals)
    let before_models = s.pay_models(None).await.unwrap();
    let before_usage = s.usage(None, 0).await.unwrap();
    assert_eq!(
        s.meter(usage("alice", "nope", 240, 300, 1.0)).await,
        Err(crate::StoreError::NotFound)
    );
    assert_eq!(
        s.meter(usage("alice", "nope", 100, 200, 1.0)).await,
        Err(crate::StoreError::NotFound),
        "an unknown pay model is NotFound even for a stretch metered already"
    );
    assert_eq!(
        s.meter(usage("nobody", "nope", 0, 10, 1.0)).await,
        Err(crate::StoreError::NotFound)
    );
    assert_eq!(s.workspace("alice").await.unwrap().unwrap().metered_to, 240);
    assert_eq!(s.pay_models(None).await.unwrap(), before_models);
    assert_eq!(s.usage(None, 0).await.unwrap(), before_usage);

    // a stopped workspace metered past the stretch: not charged, numbers reported
    assert_eq!(
        s.meter(usage("bob", "pm-b1", 300, 400, 9.0)).await.unwrap(),
        limits(0.0)
    );
    // no workspace row: charged every time, and no row is made
    s.put_pay_model(pm("pm-d1", "dave", true)).await.unwrap();
    assert_eq!(
        s.meter(usage("dave", "pm-d1", 0, 60, 0.25)).await.unwrap(),
        limits(0.25)
    );
    assert_eq!(
        s.meter(usage("dave", "pm-d1", 0, 60, 0.25)).await.unwrap(),
        limits(0.5)
    );
    assert_eq!(s.workspace("dave").await.unwrap(), None);

    // usage: stretches ending after `since`, by user then start
    assert_eq!(
        s.usage(None, 0).await.unwrap(),
        vec![
            usage("alice", "pm-a1", 100, 160, 1.5),
            usage("alice", "pm-a1", 160, 220, 2.25),
            usage("alice", "pm-a2", 220, 240, 0.5),
            usage("dave", "pm-d1", 0, 60, 0.25),
            usage("dave", "pm-d1", 0, 60, 0.25),
        ]
    );
    assert_eq!(
        s.usage(Some("alice"), 160).await.unwrap(),
        vec![
            usage("alice", "pm-a1", 160, 220, 2.25),
            usage("alice", "pm-a2", 220, 240, 0.5),
        ],
        "a stretch ending at `since` is left out"
    );
    assert_eq!(
        s.usage(None, 100).await.unwrap(),
        vec![
            usage("alice", "pm-a1", 100, 160, 1.5),
            usage("alice", "pm-a1", 160, 220, 2.25),
            usage("alice", "pm-a2", 220, 240, 0.5),
        ]
    );
    assert!(s.usage(Some("bob"), 0).await.unwrap().is_empty());
    assert!(s.usage(None, 240).await.unwrap().is_empty());

    // a stretch reaching back before metered_to (another instance metered meanwhile): only
    // the part after it is charged and recorded, its cost in proportion
    assert_eq!(
        s.meter(usage("alice", "pm-a2", 160, 320, 2.0))
            .await
            .unwrap(),
        limits(9.0),
        "80 of the 160 seconds, half the cost"
    );
    assert_eq!(s.workspace("alice").await.unwrap().unwrap().metered_to, 320);
    assert_eq!(
        s.usage(None, 240).await.unwrap(),
        vec![usage("alice", "pm-a2", 240, 320, 1.0)]
    );

    // manifests: first come per (user, folder, filename); listed bodiless, oldest first
    let file = |user: &str, folder: &str, filename: &str, created_ms: i64| ManifestRow {
        user: user.into(),
        folder: folder.into(),
        filename: filename.into(),
        body: format!(r#"[{{"object_id":"{user}/{folder}/{filename}"}}]"#),
        created_ms,
    };
    let bodiless = |row: ManifestRow| ManifestRow {
        body: String::new(),
        ..row
    };
    assert!(s.manifests("alice", "manifest").await.unwrap().is_empty());
    assert_eq!(
        s.manifest("alice", "manifest", "b.json").await.unwrap(),
        None
    );
    let b = file("alice", "manifest", "b.json", 2_000);
    let a = file("alice", "manifest", "a.json", 3_000);
    let c = file("alice", "manifest", "c.json", 2_000);
    for row in [&b, &a, &c] {
        assert!(s.put_manifest(row.clone()).await.unwrap());
    }
    let taken = ManifestRow {
        body: "[]".into(),
        created_ms: 1_000,
        ..b.clone()
    };
    assert!(
        !s.put_manifest(taken).await.unwrap(),
        "a taken (user, folder, filename) is refused"
    );
    let cohort = file("alice", "cohort", "b.json", 500);
    assert!(s.put_manifest(cohort.clone()).await.unwrap());
    assert!(
        s.put_manifest(file("bob", "manifest", "b.json", 10))
            .await
            .unwrap()
    );
    assert_eq!(
        s.manifests("alice", "manifest").await.unwrap(),
        vec![bodiless(b.clone()), bodiless(c), bodiless(a)],
        "by creation time, then filename"
    );
    assert_eq!(
        s.manifests("alice", "cohort").await.unwrap(),
        vec![bodiless(cohort)]
    );
    assert_eq!(
        s.manifest("alice", "manifest", "b.json").await.unwrap(),
        Some(b),
        "the first body stays"
    );
    assert_eq!(
        s.manifest("alice", "metadata", "b.json").await.unwrap(),
        None
    );
    assert!(s.manifests("carol", "manifest").await.unwrap().is_empty());

    // external tokens: replaced per (user, provider), listed by provider, deleted
    let token = |user: &str, idp: &str, refresh_token: &str, expires: i64| ExternalTokenRow {
        user: user.into(),
        idp: idp.into(),
        refresh_token: refresh_token.into(),
        expires,
    };
    assert!(s.external_tokens("alice").await.unwrap().is_empty());
    s.put_external_token(token("alice", "b.org", "r1", 900))
        .await
        .unwrap();
    s.put_external_token(token("alice", "a.org", "r2", 800))
        .await
        .unwrap();
    s.put_external_token(token("bob", "a.org", "rb", 700))
        .await
        .unwrap();
    assert_eq!(
        s.external_tokens("alice").await.unwrap(),
        vec![
            token("alice", "a.org", "r2", 800),
            token("alice", "b.org", "r1", 900)
        ]
    );
    s.put_external_token(token("alice", "a.org", "r3", 1_000))
        .await
        .unwrap();
    assert_eq!(
        s.external_tokens("alice").await.unwrap(),
        vec![
            token("alice", "a.org", "r3", 1_000),
            token("alice", "b.org", "r1", 900)
        ]
    );
    assert!(s.delete_external_token("alice", "a.org").await.unwrap());
    assert!(!s.delete_external_token("alice", "a.org").await.unwrap());
    assert!(!s.delete_external_token("alice", "nope").await.unwrap());
    assert_eq!(
        s.external_tokens("alice").await.unwrap(),
        vec![token("alice", "b.org", "r1", 900)]
    );
    assert_eq!(
        s.external_tokens("bob").await.unwrap(),
        vec![token("bob", "a.org", "rb", 700)]
    );
}

/// Filters of a query in [`run_metadata`]: dotted path and accepted values.
type Filters<'a> = Vec<(&'a str, Vec<crate::FilterValue>)>;

/// The [`crate::MetadataStore`] contract: records, overwrite and merge, queries on nested
/// paths compared as text, aliases, and path indexes (which must not change results).
pub async fn run_metadata(s: Arc<dyn crate::MetadataStore>) {
    use crate::{
        AliasMode, FieldPath, FilterValue, MetadataFilter, MetadataQuery, RawJson, Written,
    };
    let raw = |v: serde_json::Value| -> RawJson { serde_json::value::to_raw_value(&v).unwrap() };
    let val = |r: &RawJson| -> serde_json::Value { serde_json::from_str(r.get()).unwrap() };
    let parsed = |t: &str| -> serde_json::Value { serde_json::from_str(t).unwrap() };
    let open = || raw(json!({"version": 0, "_resource_paths": ["/open"]}));

    // create, conflict, overwrite (keeps authz), get
    let w = s
        .put_metadata("g1", raw(json!({"a": {"b": 3}, "t": "x"})), open(), false)
        .await
        .unwrap();
    assert_eq!(w, Written::Created);
    let dup = s
        .put_metadata("g1", raw(json!({"z": 1})), open(), false)
        .await;
    assert!(
        matches!(dup, Err(StoreError::AlreadyExists(ref m)) if m == "Conflict: g1"),
        "{dup:?}"
    );
    let w = s
        .put_metadata(
            "g1",
            raw(json!({"a": {"b": 3, "c": "3"}, "t": "x", "n": null})),
            raw(json!({"version": 0, "_resource_paths": ["/other"]})),
            true,
        )
        .await
        .unwrap();
    assert_eq!(w, Written::Updated);
    assert_eq!(
        val(&s.metadata_authz("g1").await.unwrap().unwrap()),
        json!({"version": 0, "_resource_paths": ["/open"]})
    );
    assert_eq!(
        parsed(&s.metadata("g1").await.unwrap().unwrap()),
        json!({"a": {"b": 3, "c": "3"}, "t": "x", "n": null})
    );
    assert!(s.metadata("nope").await.unwrap().is_none());
    assert!(s.metadata_authz("nope").await.unwrap().is_none());

    // batch: created, updated, conflict, all in input order
    let batch = |ov| {
        vec![
            (
                "g2".to_owned(),
                raw(json!({"a": {"b": "3"}, "t": "y", "k": true})),
            ),
            ("g1".to_owned(), raw(json!({"a": {"b": 33}, "t": "x"}))),
            (
                "dg.1/g3".to_owned(),
                raw(json!({"a": {"b": 4}, "t": "*", "l": [1, 2]})),
            ),
        ]
        .into_iter()
        .filter(move |(g, _)| ov || g != "g1")
        .collect::<Vec<_>>()
    };
    let out = s
        .put_metadata_batch(batch(false), open(), false)
        .await
        .unwrap();
    assert_eq!(out.created, ["g2", "dg.1/g3"]);
    assert!(out.updated.is_empty() && out.conflict.is_empty());
    let out = s
        .put_metadata_batch(batch(true), open(), false)
        .await
        .unwrap();
    assert!(out.created.is_empty() && out.updated.is_empty());
    assert_eq!(out.conflict, ["g2", "g1", "dg.1/g3"]);
    let out = s
        .put_metadata_batch(batch(true), open(), true)
        .await
        .unwrap();
    assert_eq!(out.updated, ["g2", "g1", "dg.1/g3"]);
    assert_eq!(
        parsed(&s.metadata("g1").await.unwrap().unwrap()),
        json!({"a": {"b": 33}, "t": "x"})
    );

    // queries: text comparison, OR within a key, AND across keys, presence, paging
    let q = |filters: Filters<'_>, limit: u32, offset: u64| MetadataQuery {
        filters: filters
            .into_iter()
            .map(|(p, values)| MetadataFilter {
                path: FieldPath::parse(p).unwrap(),
                values,
            })
            .collect(),
        limit,
        offset,
        with_data: false,
    };
    let text = |t: &str| FilterValue::Text(t.to_owned());
    let guids = |rows: Vec<(String, Option<RawJson>)>| -> Vec<String> {
        rows.into_iter().map(|(g, _)| g).collect()
    };
    let cases: Vec<(Filters<'_>, Vec<&str>)> = vec![
        (vec![], vec!["dg.1/g3", "g1", "g2"]),
        (vec![("a.b", vec![text("3")])], vec!["g2"]),
        (
            vec![("a.b", vec![text("33"), text("4")])],
            vec!["dg.1/g3", "g1"],
        ),
        (
            vec![("a.b", vec![text("3"), text("33")]), ("t", vec![text("x")])],
            vec!["g1"],
        ),
        (vec![("t", vec![text("*")])], vec!["dg.1/g3"]),
        (vec![("k", vec![text("true")])], vec!["g2"]),
        (vec![("k", vec![FilterValue::Present])], vec!["g2"]),
        (
            vec![("a", vec![FilterValue::Present])],
            vec!["dg.1/g3", "g1", "g2"],
        ),
        (vec![("a.b.c", vec![FilterValue::Present])], vec![]),
        (vec![("missing", vec![text("3")])], vec![]),
        (
            vec![("l", vec![text("[1,2]"), text("[1, 2]")])],
            vec!["dg.1/g3"],
        ),
    ];
    for indexed in [false, true] {
        if indexed {
            for p in ["a.b", "t"] {
                s.create_metadata_index(FieldPath::parse(p).unwrap())
                    .await
                    .unwrap();
            }
        }
        for (filters, want) in &cases {
            let got = guids(s.query_metadata(q(filters.clone(), 10, 0)).await.unwrap());
            assert_eq!(got, *want, "indexed {indexed}: {filters:?}");
        }
    }
    let page = guids(s.query_metadata(q(vec![], 2, 1)).await.unwrap());
    assert_eq!(page, ["g1", "g2"]);
    let mut with = q(vec![("t", vec![text("y")])], 10, 0);
    with.with_data = true;
    let rows = s.query_metadata(with).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        val(rows[0].1.as_ref().unwrap()),
        json!({"a": {"b": "3"}, "t": "y", "k": true})
    );
    assert!(
        s.query_metadata(q(vec![], 10, 0)).await.unwrap()[0]
            .1
            .is_none()
    );

    // index paths
    let paths: Vec<String> = s
        .metadata_index_paths()
        .await
        .unwrap()
        .iter()
        .map(FieldPath::dotted)
        .collect();
    assert_eq!(paths, ["a.b", "t"]);
    let again = s
        .create_metadata_index(FieldPath::parse("t").unwrap())
        .await;
    assert!(
        matches!(again, Err(StoreError::AlreadyExists(_))),
        "{again:?}"
    );
    s.drop_metadata_index(FieldPath::parse("t").unwrap())
        .await
        .unwrap();
    let gone = s.drop_metadata_index(FieldPath::parse("t").unwrap()).await;
    assert_eq!(gone, Err(StoreError::NotFound));
    assert_eq!(s.metadata_index_paths().await.unwrap().len(), 1);

    // update: replace and shallow merge
    let new = s
        .update_metadata("g2", raw(json!({"a": {"z": 1}, "u": 2})), true)
        .await
        .unwrap();
    assert_eq!(
        val(&new),
        json!({"a": {"z": 1}, "t": "y", "k": true, "u": 2})
    );
    let new = s
        .update_metadata("g2", raw(json!({"only": 1})), false)
        .await
        .unwrap();
    assert_eq!(val(&new), json!({"only": 1}));
    assert_eq!(
        parsed(&s.metadata("g2").await.unwrap().unwrap()),
        json!({"only": 1})
    );
    let missing = s.update_metadata("nope", raw(json!({})), true).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");

    // aliases
    let set = s
        .set_metadata_aliases("g1", vec!["b".into(), "a".into()], AliasMode::Create)
        .await
        .unwrap();
    assert_eq!(set, ["a", "b"]);
    let twice = s
        .set_metadata_aliases("g1", vec!["c".into()], AliasMode::Create)
        .await;
    assert!(
        matches!(twice, Err(StoreError::AlreadyExists(_))),
        "{twice:?}"
    );
    let taken = s
        .set_metadata_aliases("g2", vec!["x".into(), "a".into()], AliasMode::Merge)
        .await;
    assert!(
        matches!(taken, Err(StoreError::AlreadyExists(ref m)) if m.contains("g1")),
        "{taken:?}"
    );
    assert!(
        s.metadata_aliases("g2").await.unwrap().is_empty(),
        "nothing kept"
    );
    let unknown = s
        .set_metadata_aliases("nope", vec!["y".into()], AliasMode::Merge)
        .await;
    assert_eq!(unknown, Err(StoreError::NotFound));
    let merged = s
        .set_metadata_aliases("g1", vec!["c".into()], AliasMode::Merge)
        .await
        .unwrap();
    assert_eq!(merged, ["a", "b", "c"]);
    let replaced = s
        .set_metadata_aliases("g1", vec!["c".into(), "d".into()], AliasMode::Replace)
        .await
        .unwrap();
    assert_eq!(replaced, ["c", "d"]);
    assert_eq!(
        parsed(&s.metadata("d").await.unwrap().unwrap()),
        json!({"a": {"b": 33}, "t": "x"}),
        "an alias resolves to its record"
    );
    assert!(s.metadata("a").await.unwrap().is_none());
    s.delete_metadata_alias("g1", "c").await.unwrap();
    assert_eq!(
        s.delete_metadata_alias("g1", "c").await,
        Err(StoreError::NotFound)
    );
    assert_eq!(s.metadata_aliases("g1").await.unwrap(), ["d"]);
    s.delete_metadata_aliases("g1").await.unwrap();
    assert_eq!(
        s.delete_metadata_aliases("g1").await,
        Err(StoreError::NotFound)
    );

    // delete returns the data and takes the aliases along
    s.set_metadata_aliases("g1", vec!["e".into()], AliasMode::Create)
        .await
        .unwrap();
    let old = s.delete_metadata("g1").await.unwrap();
    assert_eq!(val(&old), json!({"a": {"b": 33}, "t": "x"}));
    assert!(s.metadata("g1").await.unwrap().is_none());
    assert!(s.metadata("e").await.unwrap().is_none());
    assert!(matches!(
        s.delete_metadata("g1").await,
        Err(StoreError::NotFound)
    ));
    let reuse = s
        .put_metadata("g9", raw(json!({})), open(), false)
        .await
        .unwrap();
    assert_eq!(reuse, Written::Created);
    s.set_metadata_aliases("g9", vec!["e".into()], AliasMode::Create)
        .await
        .unwrap();
}

/// The project every graph case writes into.
const GRAPH_PROJECT: &str = "prog-proj";

/// A graph node id shaped like a UUID; ids sort by `n`.
fn gid(n: u32) -> String {
    format!("00000000-0000-4000-9000-{n:012}")
}

fn graph_node(
    n: u32,
    node_type: &str,
    project_id: Option<&str>,
    submitter_id: Option<&str>,
    props: serde_json::Value,
) -> crate::GraphNode {
    crate::GraphNode {
        id: gid(n),
        node_type: node_type.into(),
        project_id: project_id.map(str::to_owned),
        submitter_id: submitter_id.map(str::to_owned),
        props: props.as_object().cloned().unwrap(),
    }
}

/// A node of the project with a `submitter_id` and its unique key.
fn entity(n: u32, node_type: &str, submitter: &str, extra: serde_json::Value) -> crate::GraphNode {
    let mut props = json!({
        "submitter_id": submitter,
        "state": "validated",
        "created_datetime": "2026-01-01T00:00:00+00:00",
    });
    props
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap());
    graph_node(n, node_type, Some(GRAPH_PROJECT), Some(submitter), props)
}

fn submitter_key(submitter: &str) -> crate::UniqueKey {
    crate::UniqueKey::new(
        &["project_id", "submitter_id"],
        &[&json!(GRAPH_PROJECT), &json!(submitter)],
    )
}

fn create(node: &crate::GraphNode) -> crate::NodeWrite {
    let unique = match node.node_type.as_str() {
        "program" => vec![crate::UniqueKey::new(&["name"], &[&node.props["name"]])],
        "project" => vec![crate::UniqueKey::new(&["code"], &[&node.props["code"]])],
        _ => vec![submitter_key(node.submitter_id.as_deref().unwrap())],
    };
    crate::NodeWrite {
        node: node.clone(),
        unique,
        create: true,
    }
}

fn edge(src: &crate::GraphNode, link: &str, dst: &crate::GraphNode) -> crate::GraphEdge {
    crate::GraphEdge {
        src: src.id.clone(),
        link: link.into(),
        dst: dst.id.clone(),
    }
}

fn log_entry(project: Option<&str>, role: &str, n: u32) -> crate::GraphLogEntry {
    crate::GraphLogEntry {
        project_id: project.map(str::to_owned),
        role: role.into(),
        submitter: Some("alice".into()),
        dry_run: false,
        state: "SUCCEEDED".into(),
        created: format!("2026-01-01T00:00:{n:02}+00:00"),
        documents: format!(r#"{{"n":{n}}}"#),
        closed: false,
        committed_by: None,
    }
}

/// What [`seed_graph`] wrote.
struct Seed {
    program: crate::GraphNode,
    project: crate::GraphNode,
    /// c1, c2, c3 (ids ordered c2 < c1 < c3).
    cases: Vec<crate::GraphNode>,
    /// s1, s2 of c1 and s3 of c2 (ids ordered s2 < s1 < s3).
    samples: Vec<crate::GraphNode>,
    /// The two changes' log ids.
    logged: [i64; 2],
}

/// A program and its project in one change, three cases and three samples in another.
async fn seed_graph(s: &dyn crate::GraphStore) -> Seed {
    use crate::GraphChange;
    let program = graph_node(
        1,
        "program",
        None,
        None,
        json!({"name": "prog", "dbgap_accession_number": "phs1"}),
    );
    let project = graph_node(
        2,
        "project",
        Some(GRAPH_PROJECT),
        None,
        json!({"code": "proj", "state": "open", "releasable": false}),
    );
    let t1 = s
        .graph_apply(GraphChange {
            log: log_entry(None, "create", 1),
            nodes: vec![create(&program), create(&project)],
            add_edges: vec![edge(&project, "programs", &program)],
            ..GraphChange::default()
        })
        .await
        .unwrap();
    let cases = vec![
        entity(
            30,
            "case",
            "c1",
            json!({"primary_site": "Lung", "age": 42, "score": 1.5}),
        ),
        entity(
            20,
            "case",
            "c2",
            json!({"tags": ["a", "b"], "extra": {"k": null}}),
        ),
        entity(40, "case", "c3", json!({})),
    ];
    let samples = vec![
        entity(60, "sample", "s1", json!({"composition": "Cell"})),
        entity(50, "sample", "s2", json!({})),
        entity(70, "sample", "s3", json!({})),
    ];
    let mut add_edges: Vec<crate::GraphEdge> = cases
        .iter()
        .map(|c| edge(c, "projects", &project))
        .collect();
    add_edges.push(edge(&samples[0], "cases", &cases[0]));
    add_edges.push(edge(&samples[1], "cases", &cases[0]));
    add_edges.push(edge(&samples[2], "cases", &cases[1]));
    // samples before their cases: the nodes are all in before the edges
    let nodes = samples.iter().chain(&cases).map(create).collect();
    let t2 = s
        .graph_apply(GraphChange {
            log: log_entry(Some(GRAPH_PROJECT), "create", 2),
            nodes,
            add_edges,
            ..GraphChange::default()
        })
        .await
        .unwrap();
    assert!(t2 > t1, "log ids grow: {t1} then {t2}");
    Seed {
        program,
        project,
        cases,
        samples,
        logged: [t1, t2],
    }
}

fn by_id(mut nodes: Vec<crate::GraphNode>) -> Vec<crate::GraphNode> {
    nodes.sort_by(|a, b| a.id.cmp(&b.id));
    nodes
}

fn link(
    src: &crate::GraphNode,
    name: &str,
    dst: &crate::GraphNode,
    other: &crate::GraphNode,
) -> crate::GraphLink {
    crate::GraphLink {
        edge: edge(src, name, dst),
        other_type: other.node_type.clone(),
        other_submitter_id: other.submitter_id.clone(),
        other_project_id: other.project_id.clone(),
    }
}

/// The [`crate::GraphStore`] contract, reading: nodes by id and by unique key, parents and
/// children with what is at their other end, listings paged in id order per project and
/// type, counts per type, and the transaction log newest first.
pub async fn run_graph(s: Arc<dyn crate::GraphStore>) {
    use crate::{GraphListQuery, UniqueKey};
    let seed = seed_graph(&*s).await;
    let (c, sm) = (&seed.cases, &seed.samples);

    // by id: the ones that exist, each once
    let got = s
        .graph_nodes(vec![
            c[0].id.clone(),
            gid(999),
            sm[0].id.clone(),
            c[0].id.clone(),
        ])
        .await
        .unwrap();
    assert_eq!(by_id(got), vec![c[0].clone(), sm[0].clone()]);
    assert!(s.graph_nodes(vec![]).await.unwrap().is_empty());
    assert_eq!(
        s.graph_nodes(vec![seed.program.id.clone()]).await.unwrap(),
        vec![seed.program.clone()]
    );

    // by unique key, in the order asked; a key is unique per node type
    let found = s
        .graph_find_unique(vec![
            ("case".into(), submitter_key("c2")),
            ("case".into(), submitter_key("nobody")),
            ("sample".into(), submitter_key("c1")),
            (
                "program".into(),
                UniqueKey::new(&["name"], &[&json!("prog")]),
            ),
            ("case".into(), submitter_key("c1")),
        ])
        .await
        .unwrap();
    assert_eq!(
        found,
        vec![
            Some(c[1].clone()),
            None,
            None,
            Some(seed.program.clone()),
            Some(c[0].clone()),
        ]
    );
    assert!(s.graph_find_unique(vec![]).await.unwrap().is_empty());

    // parents by (src, link, dst), with the parent's type, submitter and project
    let parents = s
        .graph_parents(vec![
            sm[2].id.clone(),
            sm[0].id.clone(),
            c[0].id.clone(),
            gid(999),
        ])
        .await
        .unwrap();
    assert_eq!(
        parents,
        vec![
            link(&c[0], "projects", &seed.project, &seed.project),
            link(&sm[0], "cases", &c[0], &c[0]),
            link(&sm[2], "cases", &c[1], &c[1]),
        ]
    );
    assert_eq!(
        s.graph_parents(vec![seed.project.id.clone()])
            .await
            .unwrap(),
        vec![link(
            &seed.project,
            "programs",
            &seed.program,
            &seed.program
        )]
    );
    // children by (dst, link, src), with the child's
    let children = s
        .graph_children(vec![
            c[0].id.clone(),
            seed.project.id.clone(),
            sm[0].id.clone(),
        ])
        .await
        .unwrap();
    assert_eq!(
        children,
        vec![
            link(&c[1], "projects", &seed.project, &c[1]),
            link(&c[0], "projects", &seed.project, &c[0]),
            link(&c[2], "projects", &seed.project, &c[2]),
            link(&sm[1], "cases", &c[0], &sm[1]),
            link(&sm[0], "cases", &c[0], &sm[0]),
        ]
    );
    assert_eq!(children[3].other_submitter_id.as_deref(), Some("s2"));
    assert!(s.graph_children(vec![]).await.unwrap().is_empty());
    assert!(s.graph_parents(vec![]).await.unwrap().is_empty());

    // listings in id order
    let list = |project: Option<&str>, node_type: Option<&str>, after: Option<&str>, limit| {
        let q = GraphListQuery {
            project_id: project.map(str::to_owned),
            node_type: node_type.map(str::to_owned),
            after: after.map(str::to_owned),
            limit,
        };
        let s = Arc::clone(&s);
        async move { s.graph_list(q).await.unwrap() }
    };
    let p = Some(GRAPH_PROJECT);
    let first = list(p, Some("case"), None, 2).await;
    assert_eq!(first, vec![c[1].clone(), c[0].clone()]);
    let rest = list(p, Some("case"), Some(&first[1].id), 2).await;
    assert_eq!(rest, vec![c[2].clone()]);
    assert!(list(p, Some("case"), Some(&c[2].id), 2).await.is_empty());
    assert_eq!(
        list(p, None, None, 100).await,
        vec![
            seed.project.clone(),
            c[1].clone(),
            c[0].clone(),
            c[2].clone(),
            sm[1].clone(),
            sm[0].clone(),
            sm[2].clone(),
        ],
        "a project's listing holds the project itself"
    );
    assert_eq!(
        list(p, Some("sample"), Some(&sm[1].id), 1).await,
        vec![sm[0].clone()]
    );
    assert_eq!(list(None, None, None, 10).await, vec![seed.program.clone()]);
    assert!(list(None, Some("case"), None, 10).await.is_empty());
    assert!(list(Some("prog-other"), None, None, 10).await.is_empty());

    // counts per type, by type
    let counts = |project: Option<&str>| {
        let s = Arc::clone(&s);
        let project = project.map(str::to_owned);
        async move { s.graph_counts(project).await.unwrap() }
    };
    assert_eq!(
        counts(p).await,
        vec![
            ("case".to_owned(), 3),
            ("project".to_owned(), 1),
            ("sample".to_owned(), 3),
        ]
    );
    assert_eq!(counts(None).await, vec![("program".to_owned(), 1)]);
    assert!(counts(Some("prog-other")).await.is_empty());

    // the log: newest first, per project or all
    let [t1, t2] = seed.logged;
    let dry = crate::GraphLogEntry {
        dry_run: true,
        state: "FAILED".into(),
        submitter: None,
        ..log_entry(p, "update", 3)
    };
    let t3 = s.graph_log(dry.clone()).await.unwrap();
    let other = log_entry(Some("prog-other"), "delete", 4);
    let t4 = s.graph_log(other.clone()).await.unwrap();
    assert!(t2 < t3 && t3 < t4, "{t2} < {t3} < {t4}");
    let ids = |ts: Vec<crate::GraphTransaction>| -> Vec<i64> { ts.iter().map(|t| t.id).collect() };
    let mine = s
        .graph_transactions(Some(GRAPH_PROJECT.into()), 10)
        .await
        .unwrap();
    assert_eq!(ids(mine.clone()), vec![t3, t2]);
    assert_eq!(mine[0].entry, dry);
    assert_eq!(mine[1].entry, log_entry(p, "create", 2));
    let all = s.graph_transactions(None, 10).await.unwrap();
    assert_eq!(ids(all.clone()), vec![t4, t3, t2, t1]);
    assert_eq!(all[0].entry, other);
    assert_eq!(all[3].entry, log_entry(None, "create", 1));
    assert_eq!(
        ids(s.graph_transactions(None, 2).await.unwrap()),
        vec![t4, t3]
    );
    assert!(
        s.graph_transactions(Some("nowhere".into()), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The [`crate::GraphStore`] contract for queries: filters by type, project, id, property
/// (numbers as numbers, arrays holding values, `not` leaving out nodes without the
/// property), text search, times; order and pages; counts; linked nodes both ways, paged per
/// anchor, and their counts.
#[allow(clippy::too_many_lines)] // one seeded graph, each query checked against it
pub async fn run_graph_queries(s: Arc<dyn crate::GraphStore>) {
    use crate::{LinkedQuery, NodeFilter, NodeQuery, PropMatch};
    let seed = seed_graph(&*s).await;
    let (c, sm) = (&seed.cases, &seed.samples);
    let id = |n: &crate::GraphNode| n.id.clone();
    let p = || Some(vec![GRAPH_PROJECT.to_owned()]);
    let cases = |props: Vec<(&str, PropMatch)>| NodeFilter {
        node_types: vec!["case".into()],
        projects: p(),
        props: props.into_iter().map(|(k, m)| (k.to_owned(), m)).collect(),
        ..NodeFilter::default()
    };
    let ids = |filter: NodeFilter| {
        let s = Arc::clone(&s);
        async move {
            s.graph_query(NodeQuery {
                filter,
                ..NodeQuery::default()
            })
            .await
            .unwrap()
            .iter()
            .map(|n| n.id.clone())
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        ids(cases(vec![])).await,
        vec![id(&c[1]), id(&c[0]), id(&c[2])]
    );
    let read = s
        .graph_query(NodeQuery {
            filter: cases(vec![(
                "primary_site",
                PropMatch::AnyOf(vec![json!("Lung")]),
            )]),
            ..NodeQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(read, vec![c[0].clone()]);
    for (key, value) in [
        ("age", json!(42.0)),
        ("age", json!(42)),
        ("score", json!(1.5)),
    ] {
        let found = ids(cases(vec![(
            key,
            PropMatch::AnyOf(vec![value.clone(), json!(7)]),
        )]))
        .await;
        assert_eq!(found, vec![id(&c[0])], "{key} = {value}");
    }
    assert!(
        ids(cases(vec![("age", PropMatch::AnyOf(vec![]))]))
            .await
            .is_empty()
    );
    assert!(
        ids(cases(vec![("age", PropMatch::AnyOf(vec![json!("42")]))]))
            .await
            .is_empty()
    );
    let holds = |v: Vec<&str>| {
        cases(vec![(
            "tags",
            PropMatch::HoldsAll(v.into_iter().map(|x| json!(x)).collect()),
        )])
    };
    assert_eq!(ids(holds(vec!["b", "a"])).await, vec![id(&c[1])]);
    assert!(ids(holds(vec!["a", "z"])).await.is_empty());
    // `not` leaves out the nodes without the property
    assert!(
        ids(cases(vec![("primary_site", PropMatch::Not(json!("Lung")))]))
            .await
            .is_empty()
    );
    assert_eq!(
        ids(cases(vec![(
            "primary_site",
            PropMatch::Not(json!("Brain"))
        )]))
        .await,
        vec![id(&c[0])]
    );
    let search = |q: &str| NodeFilter {
        quick_search: Some(q.into()),
        projects: p(),
        ..NodeFilter::default()
    };
    assert_eq!(ids(search("C1")).await, vec![id(&c[0])]);
    assert_eq!(ids(search(&c[2].id[20..])).await, vec![id(&c[2])]);
    let times = |after: Option<&str>, before: Option<&str>| NodeFilter {
        created_after: after.map(str::to_owned),
        created_before: before.map(str::to_owned),
        ..cases(vec![])
    };
    assert_eq!(ids(times(Some("2025-12-31"), None)).await.len(), 3);
    assert!(ids(times(None, Some("2026-01-01"))).await.is_empty());
    // types, projects and ids
    let any = |f: NodeFilter| ids(f);
    assert_eq!(
        any(NodeFilter {
            ids: Some(vec![id(&sm[0]), id(&c[2]), "nothing".into()]),
            ..NodeFilter::default()
        })
        .await,
        vec![id(&c[2]), id(&sm[0])]
    );
    assert!(
        any(NodeFilter {
            projects: Some(vec![]),
            ..NodeFilter::default()
        })
        .await
        .is_empty()
    );
    // paths: along edges, both ways, to nodes a filter matches (or to none)
    use crate::{Hop, Reach, ReachGroup};
    let hop = |link: &str, to_parents: bool, node_type: &str| Hop {
        link: link.into(),
        to_parents,
        node_type: node_type.into(),
    };
    let reach = |paths: Vec<Vec<Hop>>, dest: NodeFilter, negate: bool| ReachGroup {
        any_of: vec![Reach { paths, dest }],
        negate,
    };
    let cell_sample = NodeFilter {
        props: vec![("composition".into(), PropMatch::AnyOf(vec![json!("Cell")]))],
        ..NodeFilter::default()
    };
    let to_samples = vec![vec![hop("cases", false, "sample")]];
    let with = |group: ReachGroup| NodeFilter {
        reach: vec![group],
        ..cases(vec![])
    };
    assert_eq!(
        ids(with(reach(to_samples.clone(), cell_sample.clone(), false))).await,
        vec![id(&c[0])]
    );
    assert_eq!(
        ids(with(reach(to_samples.clone(), NodeFilter::default(), true))).await,
        vec![id(&c[2])],
        "cases without samples"
    );
    assert_eq!(
        ids(with(reach(
            vec![vec![hop("cases", false, "case")]],
            NodeFilter::default(),
            false
        )))
        .await,
        Vec::<String>::new(),
        "the hop's node type counts"
    );
    let up = vec![vec![
        hop("cases", true, "case"),
        hop("projects", true, "project"),
    ]];
    let samples_to = |dest: NodeFilter| NodeFilter {
        node_types: vec!["sample".into()],
        reach: vec![reach(up.clone(), dest, false)],
        ..NodeFilter::default()
    };
    let proj = NodeFilter {
        props: vec![("code".into(), PropMatch::AnyOf(vec![json!("proj")]))],
        ..NodeFilter::default()
    };
    assert_eq!(ids(samples_to(proj)).await.len(), 3);
    let of_c2 = NodeFilter {
        ids: Some(vec![id(&c[1])]),
        ..NodeFilter::default()
    };
    let via_case = vec![vec![hop("cases", true, "case")]];
    let samples_of_c2 = NodeFilter {
        node_types: vec!["sample".into()],
        reach: vec![reach(via_case, of_c2, false)],
        ..NodeFilter::default()
    };
    assert_eq!(ids(samples_of_c2).await, vec![id(&sm[2])]);

    // order and pages
    let page = |order: Option<(&str, bool)>, limit: Option<usize>, offset: usize| {
        let s = Arc::clone(&s);
        let filter = cases(vec![]);
        let order = order.map(|(k, a)| (k.to_owned(), a));
        async move {
            s.graph_query(NodeQuery {
                filter,
                order,
                limit,
                offset,
            })
            .await
            .unwrap()
            .iter()
            .map(|n| n.submitter_id.clone().unwrap())
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(page(Some(("id", false)), None, 0).await, ["c3", "c1", "c2"]);
    assert_eq!(page(None, Some(2), 1).await, ["c1", "c3"]);
    assert_eq!(page(None, None, 2).await, ["c3"]);
    assert_eq!(
        page(Some(("submitter_id", true)), Some(2), 0).await,
        ["c1", "c2"]
    );
    assert_eq!(
        page(Some(("submitter_id", false)), None, 0).await,
        ["c3", "c2", "c1"]
    );
    // counts
    assert_eq!(s.graph_count(cases(vec![])).await.unwrap(), 3);
    assert_eq!(s.graph_count(NodeFilter::default()).await.unwrap(), 8);
    assert_eq!(
        s.graph_count(cases(vec![(
            "primary_site",
            PropMatch::AnyOf(vec![json!("Lung")])
        )]))
        .await
        .unwrap(),
        1
    );
    // linked nodes: children of cases, parents of samples, paged per anchor
    let linked =
        |anchors: Vec<&crate::GraphNode>, to_parents: bool, limit: Option<usize>, offset: usize| {
            let s = Arc::clone(&s);
            let q = LinkedQuery {
                anchors: anchors.into_iter().map(id).collect(),
                link: "cases".into(),
                to_parents,
                query: NodeQuery {
                    limit,
                    offset,
                    ..NodeQuery::default()
                },
            };
            async move {
                s.graph_linked(q)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|(a, n)| (a, n.id))
                    .collect::<Vec<_>>()
            }
        };
    let (c1, c2, s1, s2, s3) = (id(&c[0]), id(&c[1]), id(&sm[0]), id(&sm[1]), id(&sm[2]));
    assert_eq!(
        linked(vec![&c[0], &c[1], &c[2]], false, None, 0).await,
        vec![
            (c2.clone(), s3.clone()),
            (c1.clone(), s2.clone()),
            (c1.clone(), s1.clone())
        ]
    );
    assert_eq!(
        linked(vec![&c[0], &c[1]], false, Some(1), 0).await,
        vec![(c2.clone(), s3.clone()), (c1.clone(), s2.clone())]
    );
    assert_eq!(
        linked(vec![&c[0], &c[1]], false, None, 1).await,
        vec![(c1.clone(), s1.clone())]
    );
    assert_eq!(
        linked(vec![&sm[0], &sm[2]], true, None, 0).await,
        vec![(s1.clone(), c1.clone()), (s3.clone(), c2.clone())]
    );
    let counts = |filter: NodeFilter| {
        let s = Arc::clone(&s);
        let q = LinkedQuery {
            anchors: c.iter().map(id).collect(),
            link: "cases".into(),
            to_parents: false,
            query: NodeQuery {
                filter,
                ..NodeQuery::default()
            },
        };
        async move {
            let mut out = s.graph_linked_counts(q).await.unwrap();
            out.sort();
            out
        }
    };
    let mut want = vec![(c1.clone(), 2), (c2.clone(), 1)];
    want.sort();
    assert_eq!(counts(NodeFilter::default()).await, want);
    let cell = NodeFilter {
        node_types: vec!["sample".into()],
        props: vec![("composition".into(), PropMatch::AnyOf(vec![json!("Cell")]))],
        ..NodeFilter::default()
    };
    assert_eq!(counts(cell).await, vec![(c1, 1)]);
}

/// The [`crate::GraphStore`] contract for dry runs: one is read back by id; a change that
/// commits it marks it committed by the change's own entry, in the same transaction; one
/// committed or closed can be neither committed nor closed again, and a refused commit
/// writes nothing.
/// The change feed: each change's touched nodes, in order; pruning; scans by type.
pub async fn run_graph_feed(s: Arc<dyn crate::GraphStore>) {
    use crate::GraphChange;
    assert_eq!(s.graph_feed_head().await.unwrap(), 0);
    assert!(s.graph_feed(0, 10).await.unwrap().is_empty());
    let seed = seed_graph(&*s).await;
    let ids = |entries: &[crate::FeedEntry]| {
        let mut ids: Vec<String> = entries.iter().map(|e| e.node_id.clone()).collect();
        ids.sort();
        ids
    };
    let all = s.graph_feed(0, 100).await.unwrap();
    // the seed's two changes: program and project, then three cases and three samples
    // (the project, only their parent, is not touched)
    assert_eq!(all.len(), 2 + 6, "{all:?}");
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    let head = s.graph_feed_head().await.unwrap();
    assert_eq!(head, all.last().unwrap().seq);
    assert_eq!(
        ids(&all[..2]),
        vec![seed.program.id.clone(), seed.project.id.clone()]
    );
    let mut second: Vec<String> = seed
        .cases
        .iter()
        .chain(&seed.samples)
        .map(|n| n.id.clone())
        .collect();
    second.sort();
    assert_eq!(ids(&all[2..]), second);
    // a page, then the rest
    let page = s.graph_feed(all[0].seq, 3).await.unwrap();
    assert_eq!(page, all[1..4].to_vec());

    // an update of c1 and an edge removed (s3 from c2): the node, and the edge's child
    let mut c1 = seed.cases[0].clone();
    c1.props.insert("primary_site".into(), json!("Kidney"));
    s.graph_apply(GraphChange {
        log: log_entry(Some(GRAPH_PROJECT), "update", 3),
        nodes: vec![crate::NodeWrite {
            node: c1.clone(),
            unique: vec![submitter_key("c1")],
            create: false,
        }],
        remove_edges: vec![edge(&seed.samples[2], "cases", &seed.cases[1])],
        ..GraphChange::default()
    })
    .await
    .unwrap();
    let next = s.graph_feed(head, 100).await.unwrap();
    let mut want = vec![c1.id.clone(), seed.samples[2].id.clone()];
    want.sort();
    assert_eq!(ids(&next), want);
    // a refused change writes no entry
    let err = s
        .graph_apply(GraphChange {
            log: log_entry(Some(GRAPH_PROJECT), "delete", 4),
            delete: vec![seed.cases[0].id.clone()],
            ..GraphChange::default()
        })
        .await;
    assert!(err.is_err());
    assert_eq!(s.graph_feed_head().await.unwrap(), next.last().unwrap().seq);
    // pruning what was written before a time: nothing is older than an hour ago, all of
    // it is older than an hour ahead
    let now = crate::graph::sql::unix_now();
    assert_eq!(s.graph_feed_prune(now - 3600).await.unwrap(), 0);
    assert_eq!(s.graph_feed_prune(now + 3600).await.unwrap(), 10);
    assert!(s.graph_feed(0, 100).await.unwrap().is_empty());

    // scans by type in id order, page by page
    let cases = s.graph_scan("case".into(), None, 2).await.unwrap();
    let mut want: Vec<crate::GraphNode> = seed.cases.clone();
    want[0] = c1;
    let want = by_id(want);
    assert_eq!(cases, want[..2].to_vec());
    let rest = s
        .graph_scan("case".into(), Some(cases[1].id.clone()), 2)
        .await
        .unwrap();
    assert_eq!(rest, want[2..].to_vec());
    assert!(
        s.graph_scan("nothing".into(), None, 5)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn run_graph_dry_runs(s: Arc<dyn crate::GraphStore>) {
    use crate::{GraphChange, NodeWrite, StoreError};
    let seed = seed_graph(&*s).await;
    let p = Some(GRAPH_PROJECT);
    let dry = |n| crate::GraphLogEntry {
        dry_run: true,
        ..log_entry(p, "create", n)
    };
    let first = s.graph_log(dry(5)).await.unwrap();
    let read = s.graph_transaction(first).await.unwrap().unwrap();
    assert_eq!((read.id, &read.entry), (first, &dry(5)));
    assert!(s.graph_transaction(first + 1000).await.unwrap().is_none());

    let case = |n: u32| NodeWrite {
        node: graph_node(n, "case", p, Some(&format!("late-{n}")), json!({})),
        unique: Vec::new(),
        create: true,
    };
    let commit = |n: u32, dry_run: i64| GraphChange {
        log: log_entry(p, "create", 7),
        nodes: vec![case(n)],
        commits: Some(dry_run),
        ..GraphChange::default()
    };
    let wrote = s.graph_apply(commit(160, first)).await.unwrap();
    let after = s.graph_transaction(first).await.unwrap().unwrap();
    assert_eq!(after.entry.committed_by, Some(wrote));
    assert!(!after.entry.closed);
    assert_eq!(s.graph_nodes(vec![gid(160)]).await.unwrap().len(), 1);
    let logged = s.graph_transactions(None, 100).await.unwrap().len();

    // committed once: a second commit and a close are refused, and write nothing
    let again = s.graph_apply(commit(161, first)).await;
    assert!(matches!(again, Err(StoreError::Invalid(_))), "{again:?}");
    assert!(s.graph_nodes(vec![gid(161)]).await.unwrap().is_empty());
    assert_eq!(s.graph_transactions(None, 100).await.unwrap().len(), logged);
    let closed = s.graph_close(first).await;
    assert!(matches!(closed, Err(StoreError::Invalid(_))), "{closed:?}");

    // closed: it stays uncommitted and cannot be committed or closed again
    let second = s.graph_log(dry(6)).await.unwrap();
    s.graph_close(second).await.unwrap();
    let read = s.graph_transaction(second).await.unwrap().unwrap();
    assert!(read.entry.closed);
    assert_eq!(read.entry.committed_by, None);
    assert!(matches!(
        s.graph_close(second).await,
        Err(StoreError::Invalid(_))
    ));
    let refused = s.graph_apply(commit(162, second)).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );
    assert!(s.graph_nodes(vec![gid(162)]).await.unwrap().is_empty());

    // neither a transaction that wrote nor a missing one is a dry run to close
    let [_, written] = seed.logged;
    assert!(matches!(
        s.graph_close(written).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.graph_close(second + 1000).await,
        Err(StoreError::NotFound)
    ));

    // queries of the log: by project, flags, state, role; pages; counts
    let open = s.graph_log(dry(8)).await.unwrap();
    let q = |f: fn(&mut crate::TransactionQuery)| {
        let s = Arc::clone(&s);
        let mut query = crate::TransactionQuery {
            projects: Some(vec![GRAPH_PROJECT.into()]),
            ..crate::TransactionQuery::default()
        };
        f(&mut query);
        async move {
            let ids: Vec<i64> = s
                .graph_transaction_query(query.clone())
                .await
                .unwrap()
                .iter()
                .map(|t| t.id)
                .collect();
            let count = s.graph_transaction_count(query).await.unwrap();
            (ids, count)
        }
    };
    let (all, n) = q(|_| {}).await;
    assert_eq!(all, vec![written, first, wrote, second, open]);
    assert_eq!(n, 5);
    assert_eq!(
        q(|q| q.dry_run = Some(true)).await.0,
        vec![first, second, open]
    );
    assert_eq!(q(|q| q.committable = Some(true)).await.0, vec![open]);
    assert_eq!(q(|q| q.committable = Some(false)).await.1, 4);
    assert_eq!(q(|q| q.closed = Some(true)).await.0, vec![second]);
    assert_eq!(q(|q| q.committed_by = Some(0)).await.0, Vec::<i64>::new());
    assert_eq!(q(|q| q.id = Some(0)).await.1, 0);
    assert_eq!(q(|q| q.state = Some("FAILED".into())).await.1, 0);
    assert_eq!(q(|q| q.roles = Some(vec!["delete".into()])).await.1, 0);
    let (page, count) = q(|q| {
        q.newest_first = true;
        q.limit = Some(2);
        q.offset = 1;
    })
    .await;
    assert_eq!((page, count), (vec![second, wrote], 5));
    let everyone = s
        .graph_transaction_count(crate::TransactionQuery::default())
        .await
        .unwrap();
    assert_eq!(everyone, 6, "the program's entry has no project");
}

/// The [`crate::GraphStore`] contract, writing: a change is all or nothing (a taken id or
/// unique key, a missing node, a parent that keeps a child each leave everything as it was,
/// the log included); updates replace properties and unique keys; deletes take a node's
/// keys and out-edges with it; edges are removed before deletes are checked.
#[allow(clippy::too_many_lines)] // one story of changes, each checked as it goes
pub async fn run_graph_changes(s: Arc<dyn crate::GraphStore>) {
    use crate::{GraphChange, NodeWrite};
    let seed = seed_graph(&*s).await;
    let (c, sm, project) = (&seed.cases, &seed.samples, &seed.project);
    let logged = || {
        let s = Arc::clone(&s);
        async move { s.graph_transactions(None, 100).await.unwrap().len() }
    };
    let nodes = |ids: Vec<&String>| {
        let s = Arc::clone(&s);
        let ids = ids.into_iter().cloned().collect();
        async move { by_id(s.graph_nodes(ids).await.unwrap()) }
    };
    let key = |k: &str| {
        let s = Arc::clone(&s);
        let k = submitter_key(k);
        async move {
            s.graph_find_unique(vec![("case".into(), k)])
                .await
                .unwrap()
                .remove(0)
        }
    };
    let change = |role: &str| GraphChange {
        log: log_entry(Some(GRAPH_PROJECT), role, 9),
        ..GraphChange::default()
    };
    assert_eq!(logged().await, 2);

    // a unique key taken (by c1): nothing of the change is written, c4 before it included
    let c4 = entity(80, "case", "c4", json!({}));
    let dup = entity(81, "case", "c1", json!({}));
    let err = s
        .graph_apply(GraphChange {
            nodes: vec![create(&c4), create(&dup)],
            add_edges: vec![
                edge(&c4, "projects", project),
                edge(&dup, "projects", project),
            ],
            ..change("create")
        })
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::AlreadyExists(
            r#"case with project_id,submitter_id ["prog-proj","c1"] already exists"#.into()
        )
    );
    assert!(nodes(vec![&c4.id, &dup.id]).await.is_empty());
    assert_eq!(key("c4").await, None);
    assert_eq!(key("c1").await, Some(c[0].clone()));
    assert_eq!(
        s.graph_children(vec![project.id.clone()])
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(logged().await, 2, "a failed change logs nothing");

    // an id taken
    let mut same_id = entity(0, "case", "c9", json!({}));
    same_id.id = c[0].id.clone();
    let err = s
        .graph_apply(GraphChange {
            nodes: vec![create(&c4), create(&same_id)],
            ..change("create")
        })
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::AlreadyExists(format!("case with id {} already exists", c[0].id))
    );
    assert!(nodes(vec![&c4.id]).await.is_empty());
    assert_eq!(key("c9").await, None);
    // one node written twice in a change
    let err = s
        .graph_apply(GraphChange {
            nodes: vec![create(&c4), create(&c4)],
            ..change("create")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(m) if m.contains(&c4.id)),
        "{err:?}"
    );
    assert!(nodes(vec![&c4.id]).await.is_empty());

    // an update replaces the properties, submitter and unique keys; the old key is free
    let mut renamed = c[0].clone();
    renamed.submitter_id = Some("c1-renamed".into());
    renamed.props = json!({"submitter_id": "c1-renamed", "state": "released"})
        .as_object()
        .cloned()
        .unwrap();
    let update = |node: &crate::GraphNode| NodeWrite {
        create: false,
        ..create(node)
    };
    s.graph_apply(GraphChange {
        nodes: vec![update(&renamed)],
        ..change("update")
    })
    .await
    .unwrap();
    assert_eq!(nodes(vec![&c[0].id]).await, vec![renamed.clone()]);
    assert_eq!(key("c1").await, None);
    assert_eq!(key("c1-renamed").await, Some(renamed.clone()));
    let c5 = entity(82, "case", "c1", json!({}));
    s.graph_apply(GraphChange {
        nodes: vec![create(&c5)],
        add_edges: vec![edge(&c5, "projects", project)],
        ..change("create")
    })
    .await
    .unwrap();
    assert_eq!(key("c1").await, Some(c5.clone()));
    // an edge survives its nodes' updates
    assert_eq!(
        s.graph_parents(vec![sm[0].id.clone()]).await.unwrap(),
        vec![link(&sm[0], "cases", &renamed, &renamed)]
    );
    assert_eq!(logged().await, 4);

    // an update of a node that does not exist (or not with that type)
    let ghost = entity(90, "case", "ghost", json!({}));
    let mut wrong_type = c[2].clone();
    wrong_type.node_type = "sample".into();
    for missing in [ghost, wrong_type] {
        let err = s
            .graph_apply(GraphChange {
                nodes: vec![create(&c4), update(&missing)],
                ..change("update")
            })
            .await
            .unwrap_err();
        assert_eq!(err, StoreError::NotFound);
        assert!(nodes(vec![&c4.id]).await.is_empty());
    }
    assert_eq!(nodes(vec![&c[2].id]).await, vec![c[2].clone()]);

    // a parent whose child stays cannot be deleted; nothing of the change is written
    let mut c3_changed = c[2].clone();
    c3_changed
        .props
        .insert("primary_site".into(), json!("Brain"));
    let err = s
        .graph_apply(GraphChange {
            delete: vec![c[1].id.clone()],
            nodes: vec![update(&c3_changed)],
            ..change("delete")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(m)
            if m.contains("has children") && m.contains(&c[1].id) && m.contains(&sm[2].id)),
        "{err:?}"
    );
    assert_eq!(
        nodes(vec![&c[1].id, &c[2].id]).await,
        vec![c[1].clone(), c[2].clone()]
    );
    assert_eq!(
        s.graph_parents(vec![sm[2].id.clone()]).await.unwrap(),
        vec![link(&sm[2], "cases", &c[1], &c[1])]
    );
    assert_eq!(key("c2").await, Some(c[1].clone()));

    // the child and its parent in one change, in any order
    s.graph_apply(GraphChange {
        delete: vec![c[1].id.clone(), sm[2].id.clone()],
        ..change("delete")
    })
    .await
    .unwrap();
    assert!(nodes(vec![&c[1].id, &sm[2].id]).await.is_empty());
    assert_eq!(key("c2").await, None, "its unique key went with it");
    assert!(
        s.graph_parents(vec![sm[2].id.clone()])
            .await
            .unwrap()
            .is_empty()
    );
    let cases_left: Vec<String> = s
        .graph_children(vec![project.id.clone()])
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.edge.src)
        .collect();
    assert_eq!(
        cases_left,
        vec![c[0].id.clone(), c[2].id.clone(), c5.id.clone()]
    );
    assert_eq!(
        s.graph_counts(Some(GRAPH_PROJECT.into())).await.unwrap(),
        vec![
            ("case".to_owned(), 3),
            ("project".to_owned(), 1),
            ("sample".to_owned(), 2),
        ]
    );

    // children moved to another parent in the same change no longer hold theirs; adding
    // an edge that exists is no error
    s.graph_apply(GraphChange {
        remove_edges: vec![
            edge(&sm[0], "cases", &c[0]),
            edge(&sm[1], "cases", &c[0]),
            edge(&sm[0], "cases", &c[2]),
        ],
        add_edges: vec![
            edge(&sm[0], "cases", &c[2]),
            edge(&sm[1], "cases", &c[2]),
            edge(&c[2], "projects", project),
        ],
        delete: vec![c[0].id.clone()],
        ..change("update")
    })
    .await
    .unwrap();
    assert_eq!(
        s.graph_parents(vec![sm[0].id.clone(), sm[1].id.clone()])
            .await
            .unwrap(),
        vec![
            link(&sm[1], "cases", &c[2], &c[2]),
            link(&sm[0], "cases", &c[2], &c[2]),
        ]
    );
    assert!(nodes(vec![&c[0].id]).await.is_empty());
    assert_eq!(key("c1-renamed").await, None);

    // an edge to a node that does not exist
    let err = s
        .graph_apply(GraphChange {
            nodes: vec![create(&c4)],
            add_edges: vec![
                edge(&c4, "projects", project),
                crate::GraphEdge {
                    src: c4.id.clone(),
                    link: "projects".into(),
                    dst: gid(999),
                },
            ],
            ..change("create")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(m) if m.contains(&gid(999))),
        "{err:?}"
    );
    assert!(nodes(vec![&c4.id]).await.is_empty());
    // a delete of a node that does not exist
    let err = s
        .graph_apply(GraphChange {
            delete: vec![gid(999)],
            ..change("delete")
        })
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::NotFound);
    assert_eq!(logged().await, 6);
}

/// The [`crate::GraphStore`] contract with the index: the records (and aliases, and guarded
/// updates) of a change are written with it, readable through [`IndexStore`], and rolled
/// back with it.
pub async fn run_graph_index(s: Arc<dyn crate::GraphStore>, ix: Arc<dyn IndexStore>) {
    use crate::{GraphChange, NodeWrite};
    let seed = seed_graph(&*s).await;
    let case = &seed.cases[0];
    let file = |n: u32, submitter: &str, record: &IndexRecord| {
        let mut node = entity(
            n,
            "submitted_unaligned_reads",
            submitter,
            json!({"file_name": record.file_name, "object_id": record.did}),
        );
        node.id = record.did.clone();
        node
    };
    let change = |node: &crate::GraphNode, records: Vec<IndexRecord>, alias: &str| GraphChange {
        log: log_entry(Some(GRAPH_PROJECT), "create", 5),
        nodes: vec![create(node)],
        add_edges: vec![edge(node, "cases", case)],
        index_aliases: records
            .iter()
            .map(|r| (alias.to_owned(), r.did.clone()))
            .collect(),
        index_records: records,
        ..GraphChange::default()
    };

    let rec = sample(1);
    let f1 = file(0, "f1", &rec);
    s.graph_apply(change(&f1, vec![rec.clone()], "f1-alias"))
        .await
        .unwrap();
    assert_eq!(ix.get(&rec.did).await.unwrap(), Some(rec.clone()));
    assert_eq!(
        ix.resolve_alias("f1-alias").await.unwrap(),
        Some(rec.did.clone())
    );
    assert_eq!(
        s.graph_nodes(vec![rec.did.clone()]).await.unwrap(),
        vec![f1.clone()]
    );

    // a graph failure takes the change's record and alias back with it
    let rec2 = sample(2);
    let f2 = file(0, "f1", &rec2);
    let err = s
        .graph_apply(change(&f2, vec![rec2.clone()], "f2-alias"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    assert_eq!(ix.get(&rec2.did).await.unwrap(), None);
    assert_eq!(ix.resolve_alias("f2-alias").await.unwrap(), None);
    // and a did taken takes the graph part back
    let f3 = file(0, "f3", &rec2);
    let err = s
        .graph_apply(change(&f3, vec![rec2.clone(), rec.clone()], "f3-alias"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::AlreadyExists(format!("did \"{}\" already exists", rec.did))
    );
    assert!(s.graph_nodes(vec![f3.id.clone()]).await.unwrap().is_empty());
    assert_eq!(ix.get(&rec2.did).await.unwrap(), None);
    // an alias taken too
    let err = s
        .graph_apply(change(&f3, vec![rec2.clone()], "f1-alias"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::AlreadyExists("alias \"f1-alias\" already exists".into())
    );
    assert!(s.graph_nodes(vec![f3.id.clone()]).await.unwrap().is_empty());
    assert_eq!(ix.get(&rec2.did).await.unwrap(), None);

    // a guarded index update with a node update
    let mut renamed = rec.clone();
    renamed.rev = "0000beef".into();
    renamed.file_name = Some("renamed.bam".into());
    let mut f1_renamed = f1.clone();
    f1_renamed
        .props
        .insert("file_name".into(), json!("renamed.bam"));
    let update = |node: &crate::GraphNode, record: IndexRecord, rev: &str| GraphChange {
        log: log_entry(Some(GRAPH_PROJECT), "update", 6),
        nodes: vec![NodeWrite {
            create: false,
            ..create(node)
        }],
        index_updates: vec![(record, rev.to_owned())],
        ..GraphChange::default()
    };
    s.graph_apply(update(&f1_renamed, renamed.clone(), &rec.rev))
        .await
        .unwrap();
    assert_eq!(ix.get(&rec.did).await.unwrap(), Some(renamed.clone()));
    assert_eq!(
        s.graph_nodes(vec![f1.id.clone()]).await.unwrap(),
        vec![f1_renamed.clone()]
    );
    // a stale revision: neither the record nor the node changes
    let mut again = renamed.clone();
    again.rev = "0000cafe".into();
    let mut f1_again = f1_renamed.clone();
    f1_again
        .props
        .insert("file_name".into(), json!("again.bam"));
    assert_eq!(
        s.graph_apply(update(&f1_again, again, &rec.rev))
            .await
            .unwrap_err(),
        StoreError::RevisionMismatch
    );
    assert_eq!(ix.get(&rec.did).await.unwrap(), Some(renamed));
    assert_eq!(
        s.graph_nodes(vec![f1.id.clone()]).await.unwrap(),
        vec![f1_renamed]
    );
    assert_eq!(s.graph_transactions(None, 10).await.unwrap().len(), 4);
}

/// The [`crate::GraphStore`] contract at a submission's size: a change of 1,000 entities
/// with their keys and edges, lookups of all of them at once (answers in the order asked),
/// and their deletion in one change.
pub async fn run_graph_many(s: Arc<dyn crate::GraphStore>) {
    use crate::GraphChange;
    let seed = seed_graph(&*s).await;
    let cases: Vec<crate::GraphNode> = (0..1000)
        .map(|n| entity(1000 + n, "case", &format!("bulk-{n}"), json!({"n": n})))
        .collect();
    s.graph_apply(GraphChange {
        log: log_entry(Some(GRAPH_PROJECT), "create", 7),
        nodes: cases.iter().map(create).collect(),
        add_edges: cases
            .iter()
            .map(|c| edge(c, "projects", &seed.project))
            .collect(),
        ..GraphChange::default()
    })
    .await
    .unwrap();
    let mut ids: Vec<String> = cases.iter().map(|c| c.id.clone()).collect();
    ids.push(gid(999_999));
    assert_eq!(by_id(s.graph_nodes(ids.clone()).await.unwrap()), cases);
    // keys asked newest first, with a missing one in the middle
    let mut keys: Vec<(String, crate::UniqueKey)> = (0..1000)
        .rev()
        .map(|n| ("case".to_owned(), submitter_key(&format!("bulk-{n}"))))
        .collect();
    keys.insert(500, ("case".into(), submitter_key("absent")));
    let found = s.graph_find_unique(keys).await.unwrap();
    let mut expected: Vec<Option<crate::GraphNode>> =
        cases.iter().rev().cloned().map(Some).collect();
    expected.insert(500, None);
    assert_eq!(found, expected);
    let parents = s.graph_parents(ids.clone()).await.unwrap();
    assert_eq!(parents.len(), 1000);
    assert!(parents.windows(2).all(|w| w[0].edge < w[1].edge));
    assert!(
        parents
            .iter()
            .all(|l| l.edge.dst == seed.project.id && l.other_type == "project")
    );
    let children = s
        .graph_children(vec![seed.project.id.clone()])
        .await
        .unwrap();
    assert_eq!(children.len(), 1003);
    assert_eq!(
        s.graph_counts(Some(GRAPH_PROJECT.into())).await.unwrap()[0],
        ("case".to_owned(), 1003)
    );
    s.graph_apply(GraphChange {
        log: log_entry(Some(GRAPH_PROJECT), "delete", 8),
        delete: ids[..1000].to_vec(),
        ..GraphChange::default()
    })
    .await
    .unwrap();
    assert!(s.graph_nodes(ids).await.unwrap().is_empty());
    assert_eq!(
        s.graph_children(vec![seed.project.id.clone()])
            .await
            .unwrap()
            .len(),
        3
    );
}
