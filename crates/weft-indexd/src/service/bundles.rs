//! Bundles in the index service: `POST/GET/DELETE /bundle/`, ids that name bundles on the
//! record and DRS routes, and listings of bundles (`form=bundle`) or of both (`form=all`).

use std::collections::{HashMap, HashSet};

use weft_core::{WeftError, ids, time};
use weft_store::{BundleRecord, EntryKind, IndexRecord, ListQuery};

use super::IndexService;
use crate::auth::Credentials;
use crate::bundle::{
    BUNDLES_RESOURCE, Bundle, BundleBody, Entry, Member, compute_checksum, first_hash,
};
use crate::input;
use crate::query::{self, ListForm, Params};

/// How far a bundle's members are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// The members themselves.
    Members,
    /// Members of members, all the way down.
    Full,
}

/// Deepest nesting read for a fully expanded bundle.
const MAX_DEPTH: usize = 64;
/// Most members (at all levels together) one expanded bundle shows; deeper ones beyond this
/// are listed without their own members.
const MAX_NODES: usize = 10_000;

/// A record or bundle found by id, its members not read yet.
#[allow(clippy::large_enum_variant)] // a handful per request, built once and read
enum Found {
    Record(IndexRecord),
    Bundle(BundleRecord),
}

/// What a member id names, for building contents trees.
enum Node {
    Record(Option<String>),
    Bundle(String, Vec<String>),
}

/// Members read level by level, each id once.
#[derive(Default)]
struct Members {
    known: HashMap<String, Node>,
}

impl Members {
    /// Read `roots` and, up to `levels` deep, the members of bundles among them.
    async fn load(
        &mut self,
        service: &IndexService,
        roots: Vec<String>,
        levels: usize,
    ) -> Result<(), WeftError> {
        let mut frontier = roots;
        for _ in 0..levels {
            let mut want: Vec<String> = frontier
                .into_iter()
                .filter(|id| !self.known.contains_key(id))
                .collect();
            want.sort();
            want.dedup();
            if want.is_empty() {
                break;
            }
            for r in service.store.get_many(want.clone()).await? {
                self.known.insert(r.did.clone(), Node::Record(r.file_name));
            }
            let rest: Vec<String> = want
                .into_iter()
                .filter(|id| !self.known.contains_key(id))
                .collect();
            frontier = Vec::new();
            if rest.is_empty() {
                continue;
            }
            for b in service.store.get_bundles(rest).await? {
                frontier.extend(b.members.iter().cloned());
                self.known
                    .insert(b.bundle_id.clone(), Node::Bundle(b.name, b.members));
            }
        }
        Ok(())
    }

    /// The contents tree of `ids`, `levels` deep. Members gone since are left out; a bundle
    /// already on the path from the root is not opened again.
    fn build(
        &self,
        ids: &[String],
        levels: usize,
        path: &mut Vec<String>,
        budget: &mut usize,
    ) -> Vec<Member> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(node) = self.known.get(id) else {
                continue;
            };
            *budget = budget.saturating_sub(1);
            let member = match node {
                Node::Record(name) => Member {
                    id: id.clone(),
                    name: name.clone(),
                    contents: vec![],
                },
                Node::Bundle(name, members) => {
                    let open = levels > 1 && *budget > 0 && !path.contains(id);
                    let contents = if open {
                        path.push(id.clone());
                        let c = self.build(members, levels - 1, path, budget);
                        path.pop();
                        c
                    } else {
                        vec![]
                    };
                    Member {
                        id: id.clone(),
                        name: Some(name.clone()),
                        contents,
                    }
                }
            };
            out.push(member);
        }
        out
    }
}

fn levels(depth: Depth) -> usize {
    match depth {
        Depth::Members => 1,
        Depth::Full => MAX_DEPTH,
    }
}

impl IndexService {
    /// Read the members of several bundles at once.
    async fn with_contents(
        &self,
        bundles: Vec<BundleRecord>,
        depth: Depth,
    ) -> Result<Vec<Bundle>, WeftError> {
        let mut members = Members::default();
        let roots = bundles.iter().flat_map(|b| b.members.clone()).collect();
        members.load(self, roots, levels(depth)).await?;
        Ok(bundles
            .into_iter()
            .map(|record| {
                let mut path = vec![record.bundle_id.clone()];
                let mut budget = MAX_NODES;
                let contents =
                    members.build(&record.members, levels(depth), &mut path, &mut budget);
                Bundle { record, contents }
            })
            .collect())
    }

    /// Find what `id` names as indexd does: a record (did, then baseid), then a bundle, then
    /// both again in the other spelling under the GUID prefix.
    async fn find(&self, id: &str) -> Result<Option<Found>, WeftError> {
        crate::limits::no_nul("id", id)?;
        if let Some(r) = self.store.get(id).await? {
            return Ok(Some(Found::Record(r)));
        }
        if let Some(r) = self.store.versions(id).await?.pop() {
            return Ok(Some(Found::Record(r)));
        }
        if let Some(b) = self.store.get_bundle(id).await? {
            return Ok(Some(Found::Bundle(b)));
        }
        if let Some(alt) = ids::alternate_prefixed(id, &self.prefix) {
            if let Some(r) = self.store.get(&alt).await? {
                return Ok(Some(Found::Record(r)));
            }
            if let Some(b) = self.store.get_bundle(&alt).await? {
                return Ok(Some(Found::Bundle(b)));
            }
        }
        Ok(None)
    }

    /// The record or bundle `id` names (as [`Self::find`]), a bundle with its members read
    /// `depth` deep.
    pub async fn resolve_entry(&self, id: &str, depth: Depth) -> Result<Option<Entry>, WeftError> {
        Ok(match self.find(id).await? {
            None => None,
            Some(Found::Record(r)) => Some(Entry::Record(r)),
            Some(Found::Bundle(b)) => self
                .with_contents(vec![b], depth)
                .await?
                .pop()
                .map(Entry::Bundle),
        })
    }

    /// `GET /bundle/{id}[?expand=true]`: a bundle, or (as indexd answers) a record.
    pub async fn bundle(&self, id: &str, expand: bool) -> Result<Entry, WeftError> {
        let depth = if expand { Depth::Full } else { Depth::Members };
        self.resolve_entry(id, depth)
            .await?
            .ok_or_else(|| WeftError::not_found("no record found"))
    }

    /// `POST /bundle/`: every member must exist (as a record or a bundle); size and checksum
    /// default to indexd's sum and `compute_checksum` of the members. Answers the bundle with
    /// its members fully read.
    pub async fn create_bundle(
        &self,
        creds: &Credentials,
        body: &[u8],
    ) -> Result<Bundle, WeftError> {
        // indexd authorizes before it looks at the body
        self.authorize(creds, "create", &[BUNDLES_RESOURCE.to_owned()])
            .await?;
        let b: BundleBody = input::parse(body)?;
        b.validate()?;
        let mut members = Vec::with_capacity(b.bundles.len());
        // most members are named by their exact did: one round trip for those
        let exact: HashMap<String, IndexRecord> = self
            .store
            .get_many(b.bundles.clone())
            .await?
            .into_iter()
            .map(|r| (r.did.clone(), r))
            .collect();
        for id in &b.bundles {
            let found = match exact.get(id) {
                Some(r) => Found::Record(r.clone()),
                None => self
                    .find(id)
                    .await?
                    .ok_or_else(|| WeftError::not_found("no record found"))?,
            };
            members.push(found);
        }
        let member_id = |f: &Found| match f {
            Found::Record(r) => r.did.clone(),
            Found::Bundle(b) => b.bundle_id.clone(),
        };
        let member_ids: Vec<String> = members.iter().map(member_id).collect();
        // two spellings of one member
        let mut seen = HashSet::new();
        if !member_ids.iter().all(|id| seen.insert(id)) {
            return Err(WeftError::invalid("Duplicate GUID in bundles."));
        }

        let size = match b.size {
            // indexd treats 0 as not given
            Some(s) if s != 0 => s,
            _ => {
                let mut total: i64 = 0;
                for m in &members {
                    let s = match m {
                        Found::Record(r) => r.size.ok_or_else(|| {
                            WeftError::invalid(format!(
                                "record {} has no size yet, so the bundle size cannot be \
                                 computed; give size",
                                r.did
                            ))
                        })?,
                        Found::Bundle(b) => b.size,
                    };
                    total = total.saturating_add(s);
                }
                total
            }
        };
        let checksums = match b.given_checksums() {
            Some(c) => c,
            None => {
                let mut firsts = Vec::with_capacity(members.len());
                for m in &members {
                    let first = match m {
                        Found::Record(r) => first_hash(r),
                        Found::Bundle(b) => b.checksums.first().map(|c| c.checksum.clone()),
                    };
                    firsts.push(first.ok_or_else(|| {
                        WeftError::invalid(format!(
                            "{} has no checksum yet, so the bundle checksum cannot be \
                             computed; give checksums",
                            member_id(m)
                        ))
                    })?);
                }
                vec![compute_checksum(firsts)]
            }
        };
        let bundle_id = match b.bundle_id.filter(|id| !id.is_empty()) {
            Some(id) => id,
            None => self.mint_did().0,
        };
        let now = time::now_string();
        let record = BundleRecord {
            name: b
                .name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| bundle_id.clone()),
            bundle_id,
            size,
            checksums,
            members: member_ids,
            description: b.description.unwrap_or_default(),
            version: b.version.unwrap_or_default(),
            aliases: b.aliases.unwrap_or_default(),
            created_time: now.clone(),
            updated_time: now,
        };
        self.store.create_bundle(record.clone()).await?;
        self.with_contents(vec![record], Depth::Full)
            .await?
            .pop()
            .ok_or_else(|| WeftError::internal("a created bundle vanished"))
    }

    /// `DELETE /bundle/{id}` (exact id).
    pub async fn delete_bundle(&self, creds: &Credentials, id: &str) -> Result<(), WeftError> {
        self.authorize(creds, "delete", &[BUNDLES_RESOURCE.to_owned()])
            .await?;
        crate::limits::no_nul("id", id)?;
        self.store.delete_bundle(id).await.map_err(|e| match e {
            weft_store::StoreError::NotFound => WeftError::not_found("No bundle found"),
            other => other.into(),
        })
    }

    /// Bundles among `ids` (either spelling under the GUID prefix), in id order.
    async fn bundles_by_ids(&self, wanted: &[String]) -> Result<Vec<BundleRecord>, WeftError> {
        let mut all: Vec<String> = wanted.to_vec();
        all.extend(
            wanted
                .iter()
                .filter_map(|id| ids::alternate_prefixed(id, &self.prefix)),
        );
        let mut found = self.store.get_bundles(all).await?;
        found.sort_by(|a, b| a.bundle_id.cmp(&b.bundle_id));
        found.dedup_by(|a, b| a.bundle_id == b.bundle_id);
        Ok(found)
    }

    /// `GET /index/?form=bundle|all` (and DRS listings): bundles (paged as records are; `ids`
    /// select among them, other filters are records' only), or records and bundles merged in
    /// the order of the page. `depth` says how far bundles' members are read, if at all.
    pub async fn list_entries(
        &self,
        query: ListQuery,
        form: ListForm,
        depth: Option<Depth>,
    ) -> Result<Vec<Entry>, WeftError> {
        let (records, bundles, order) = match (form, &query.ids) {
            (ListForm::Objects, _) => {
                let records = self.list_query(query).await?;
                let order = records
                    .iter()
                    .map(|r| (EntryKind::Record, r.did.clone()))
                    .collect();
                (records, vec![], order)
            }
            (ListForm::Bundles, Some(wanted)) => {
                let bundles = self.bundles_by_ids(wanted).await?;
                let order = bundles
                    .iter()
                    .map(|b| (EntryKind::Bundle, b.bundle_id.clone()))
                    .collect();
                (vec![], bundles, order)
            }
            (ListForm::Bundles, None) => {
                let bundles = self.store.list_bundles(query.page, query.limit).await?;
                let order = bundles
                    .iter()
                    .map(|b| (EntryKind::Bundle, b.bundle_id.clone()))
                    .collect();
                (vec![], bundles, order)
            }
            (ListForm::All, Some(wanted)) => {
                let bundles = self.bundles_by_ids(wanted).await?;
                let records = self.list_query(query).await?;
                let mut order: Vec<(EntryKind, String)> = records
                    .iter()
                    .map(|r| (EntryKind::Record, r.did.clone()))
                    .chain(
                        bundles
                            .iter()
                            .map(|b| (EntryKind::Bundle, b.bundle_id.clone())),
                    )
                    .collect();
                order.sort_by(|a, b| a.1.cmp(&b.1));
                (records, bundles, order)
            }
            (ListForm::All, None) => {
                let order = self.store.list_entries(query).await?;
                let pick = |kind| {
                    order
                        .iter()
                        .filter(|(k, _)| *k == kind)
                        .map(|(_, id)| id.clone())
                        .collect::<Vec<_>>()
                };
                let records = match pick(EntryKind::Record) {
                    r if r.is_empty() => vec![],
                    r => self.store.get_many(r).await?,
                };
                let bundles = match pick(EntryKind::Bundle) {
                    b if b.is_empty() => vec![],
                    b => self.store.get_bundles(b).await?,
                };
                (records, bundles, order)
            }
        };
        let bundles = match depth {
            Some(d) => self.with_contents(bundles, d).await?,
            None => bundles
                .into_iter()
                .map(|record| Bundle {
                    record,
                    contents: vec![],
                })
                .collect(),
        };
        let mut records: HashMap<String, IndexRecord> =
            records.into_iter().map(|r| (r.did.clone(), r)).collect();
        let mut bundles: HashMap<String, Bundle> = bundles
            .into_iter()
            .map(|b| (b.record.bundle_id.clone(), b))
            .collect();
        // in the listing's order; anything deleted between the two reads is left out
        Ok(order
            .into_iter()
            .filter_map(|(kind, id)| match kind {
                EntryKind::Record => records.remove(&id).map(Entry::Record),
                EntryKind::Bundle => bundles.remove(&id).map(Entry::Bundle),
            })
            .collect())
    }

    /// `GET /ga4gh/drs/v1/objects`: as `GET /index/`, but records and bundles unless `form`
    /// says otherwise (indexd's default there); bundles come with their members.
    pub async fn list_drs(&self, params: &Params) -> Result<Vec<Entry>, WeftError> {
        let req = query::list_request(params)?;
        let form = if params.has("form") {
            req.form
        } else {
            ListForm::All
        };
        self.list_entries(req.query, form, Some(Depth::Members))
            .await
    }
}
