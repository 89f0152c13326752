//! The index service: indexd's record operations over an [`IndexStore`].

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};
use weft_config::IndexConfig;
use weft_core::{WeftError, ids, time};
use weft_store::{ImportBatch, IndexRecord, IndexStore, Progress, StoreError};

use crate::auth::{Authorized, Authorizer, Credentials};
use crate::input::{
    self, AliasesBody, BlankBody, BlankUpdateBody, CreateBody, UpdateBody, VersionsBody, dedup,
};
use crate::limits;
use crate::query::{self, ListForm, Params};

mod bundles;
pub use bundles::Depth;

/// The service name policy checks use for index writes (arborist's `indexd`).
pub const SERVICE: &str = "indexd";

/// `{"did","rev","baseid"}`, the answer to every write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Ids {
    pub did: String,
    pub rev: String,
    pub baseid: String,
}

impl Ids {
    fn of(r: &IndexRecord) -> Self {
        Self {
            did: r.did.clone(),
            rev: r.rev.clone(),
            baseid: r.baseid.clone(),
        }
    }
}

/// The answer of `GET /index/`: the parsed filters echoed, then the records.
#[derive(Debug, Serialize)]
pub struct Listing {
    #[serde(flatten)]
    pub echo: query::Echo,
    pub records: ListedRecords,
}

impl Listing {
    /// The listing's JSON: what serializing it writes, with records already written as JSON
    /// text ([`ListedRecords::Json`]) copied in as they are.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        let ListedRecords::Json(records) = &self.records else {
            return serde_json::to_vec(self).unwrap_or_default();
        };
        // The echo is a JSON object: reopen it before its closing brace.
        let mut out = serde_json::to_vec(&self.echo).unwrap_or_default();
        out.pop();
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(b"\"records\":");
        out.extend_from_slice(records);
        out.push(b'}');
        out
    }
}

/// Records of a listing in whichever form they were fetched; all serialize to indexd's
/// documents.
#[derive(Debug)]
pub enum ListedRecords {
    /// The JSON text of the array of records, written by the store from its rows.
    Json(Vec<u8>),
    Records(Vec<IndexRecord>),
    Documents(Vec<Value>),
}

impl Serialize for ListedRecords {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Json(text) => {
                let text = std::str::from_utf8(text).map_err(serde::ser::Error::custom)?;
                serde_json::value::RawValue::from_string(text.to_owned())
                    .map_err(serde::ser::Error::custom)?
                    .serialize(s)
            }
            Self::Records(records) => records.serialize(s),
            Self::Documents(documents) => documents.serialize(s),
        }
    }
}

/// The resource fallback indexd checks for blank records without authz.
const DATA_FILE_RESOURCE: &str = "/data_file";

pub struct IndexService {
    store: Arc<dyn IndexStore>,
    authz: Arc<dyn Authorizer>,
    prefix: String,
    add_prefix_alias: bool,
    dist: Option<crate::dist::Dist>,
}

/// The client's `rev`, if it is the record's current one (missing or stale: 409, as indexd).
fn current_rev<'a>(rev: Option<&'a str>, record: &IndexRecord) -> Result<&'a str, WeftError> {
    rev.filter(|r| *r == record.rev)
        .ok_or_else(WeftError::rev_mismatch)
}

/// A blank-record body; an empty body means no fields, as indexd reads it.
fn blank_body(body: &[u8]) -> Result<BlankBody, WeftError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(BlankBody::default())
    } else {
        input::parse(body)
    }
}

fn union(a: &[String], b: &[String]) -> Vec<String> {
    dedup(a.iter().chain(b).cloned().collect())
}

/// The columns of one row of a Gen3 indexing manifest, as `weft index import` reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    pub guid: Option<String>,
    pub hashes: BTreeMap<String, String>,
    pub size: i64,
    pub authz: Vec<String>,
    pub acl: Vec<String>,
    pub urls: Vec<String>,
    pub file_name: Option<String>,
}

impl IndexService {
    #[must_use]
    pub fn new(
        store: Arc<dyn IndexStore>,
        authz: Arc<dyn Authorizer>,
        config: &IndexConfig,
    ) -> Self {
        Self {
            store,
            authz,
            prefix: config.guid_prefix.clone(),
            add_prefix_alias: config.add_prefix_alias,
            dist: None,
        }
    }

    /// The remote index services of distributed resolution, if configured.
    #[must_use]
    pub fn dist(&self) -> Option<&crate::dist::Dist> {
        self.dist.as_ref()
    }

    /// Enable distributed resolution through `dist` for the global resolver.
    #[must_use]
    pub fn with_dist(mut self, dist: crate::dist::Dist) -> Self {
        self.dist = Some(dist);
        self
    }

    #[must_use]
    pub fn store(&self) -> &Arc<dyn IndexStore> {
        &self.store
    }

    /// The configured GUID prefix ("" if none).
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    async fn authorize(
        &self,
        creds: &Credentials,
        method: &'static str,
        resources: &[String],
    ) -> Result<Authorized, WeftError> {
        self.authz
            .authorize(creds, SERVICE, method, resources)
            .await
    }

    /// Credentials first: a write checks them before it reads its body.
    pub async fn authenticate(
        &self,
        creds: &Credentials,
        method: &'static str,
    ) -> Result<(), WeftError> {
        self.authz.authenticate(creds, SERVICE, method).await
    }

    /// A fresh did (prefixed unless the prefix is kept as an alias) and its aliases.
    fn mint_did(&self) -> (String, Vec<String>) {
        let uuid = ids::new_guid();
        if self.prefix.is_empty() {
            (uuid, vec![])
        } else if self.add_prefix_alias {
            let alias = format!("{}{uuid}", self.prefix);
            (uuid, vec![alias])
        } else {
            (format!("{}{uuid}", self.prefix), vec![])
        }
    }

    /// `GET /guid/mint?count=`.
    #[must_use]
    pub fn mint(&self, count: usize) -> Vec<String> {
        (0..count)
            .map(|_| {
                let uuid = ids::new_guid();
                if self.prefix.is_empty() || self.add_prefix_alias {
                    uuid
                } else {
                    format!("{}{uuid}", self.prefix)
                }
            })
            .collect()
    }

    /// Resolve an id as indexd's record GET does: exact did, then baseid (newest version),
    /// then the other prefix spelling.
    pub async fn resolve(&self, id: &str) -> Result<Option<IndexRecord>, WeftError> {
        limits::no_nul("id", id)?;
        if let Some(r) = self.store.get(id).await? {
            return Ok(Some(r));
        }
        if let Some(r) = self.store.versions(id).await?.pop() {
            return Ok(Some(r));
        }
        if let Some(alt) = ids::alternate_prefixed(id, &self.prefix)
            && let Some(r) = self.store.get(&alt).await?
        {
            return Ok(Some(r));
        }
        Ok(None)
    }

    /// Like [`Self::resolve`], but 404 when nothing matches.
    pub async fn get(&self, id: &str) -> Result<IndexRecord, WeftError> {
        self.resolve(id)
            .await?
            .ok_or_else(|| WeftError::not_found("no record found"))
    }

    /// The global resolver: a record or bundle, else the record an alias names, else (unless
    /// `no_dist`) the first remote index service that has it.
    pub async fn resolve_global(
        &self,
        id: &str,
        no_dist: bool,
        drs: &crate::drs::DrsContext,
    ) -> Result<Option<Value>, WeftError> {
        limits::no_nul("id", id)?;
        if let Some(entry) = self.resolve_entry(id, Depth::Full).await? {
            return drs.entry_index_document(&entry).map(Some);
        }
        let local = match self.store.resolve_alias(id).await? {
            Some(did) => self.store.get(&did).await?,
            None => None,
        };
        if let Some(r) = local {
            return Ok(Some(serde_json::to_value(r).map_err(WeftError::internal)?));
        }
        match (&self.dist, no_dist) {
            (Some(d), false) => Ok(d.resolve(id).await),
            _ => Ok(None),
        }
    }

    /// Store a new record with its aliases and answer its ids.
    async fn insert(&self, record: IndexRecord, aliases: Vec<String>) -> Result<Ids, WeftError> {
        limits::record(&record)?;
        let ids = Ids::of(&record);
        self.store.create(record, aliases).await?;
        Ok(ids)
    }

    async fn exact(&self, did: &str) -> Result<IndexRecord, WeftError> {
        limits::no_nul("did", did)?;
        self.store
            .get(did)
            .await?
            .ok_or_else(|| WeftError::not_found("no record found"))
    }

    fn new_record(body: CreateBody, did: String, baseid: String) -> IndexRecord {
        let now = time::now_string();
        let mut urls_metadata = body.urls_metadata.unwrap_or_default();
        weft_store::sql::fill_urls_metadata(&body.urls, &mut urls_metadata);
        IndexRecord {
            did,
            baseid,
            rev: ids::new_rev(),
            form: Some(body.form.as_str().to_owned()),
            size: Some(body.size),
            file_name: body.file_name,
            version: body.version,
            uploader: body.uploader,
            description: body.description,
            urls: body.urls,
            urls_metadata,
            acl: dedup(body.acl.unwrap_or_default()),
            authz: dedup(body.authz.unwrap_or_default()),
            hashes: body.hashes,
            metadata: body.metadata.unwrap_or_default(),
            created_date: now.clone(),
            updated_date: now,
            content_created_date: body.content_created_date,
            content_updated_date: body.content_updated_date,
        }
    }

    /// Parse and validate a create body into a record (no authorization, no storage).
    /// Used by `POST /index/` and by bulk import.
    pub fn record_from_body(&self, body: &[u8]) -> Result<(IndexRecord, Vec<String>), WeftError> {
        let mut b: CreateBody = input::parse(body)?;
        b.validate()?;
        let (record, aliases) = self.record_from_create(b);
        limits::record(&record)?;
        Ok((record, aliases))
    }

    fn record_from_create(&self, mut b: CreateBody) -> (IndexRecord, Vec<String>) {
        let (did, aliases) = match b.did.take() {
            Some(d) => (d, vec![]),
            None => self.mint_did(),
        };
        let baseid = b.baseid.take().unwrap_or_else(ids::new_guid);
        (Self::new_record(b, did, baseid), aliases)
    }

    /// `POST /index/`.
    pub async fn create(&self, creds: &Credentials, body: &[u8]) -> Result<Ids, WeftError> {
        self.authenticate(creds, "create").await?;
        let (record, aliases) = self.record_from_body(body)?;
        self.authorize(creds, "create", &record.authz).await?;
        self.insert(record, aliases).await
    }

    /// Bulk import: every record validated already; all or nothing. The records arrive on
    /// `batches`, ideally in did order; the import commits only after exactly `expected`
    /// records and no `Err` batch (see [`IndexStore::import`]).
    pub async fn import(
        &self,
        batches: std::sync::mpsc::Receiver<ImportBatch>,
        expected: u64,
        progress: Option<Progress>,
    ) -> Result<u64, WeftError> {
        Ok(self.store.import(batches, expected, progress).await?)
    }

    /// The body a Gen3 indexing manifest row stands for, validated as a create body is.
    fn manifest_body(row: ManifestRow) -> Result<CreateBody, WeftError> {
        let ManifestRow {
            guid,
            hashes,
            size,
            authz,
            acl,
            urls,
            file_name,
        } = row;
        if let Some(g) = &guid {
            limits::id("guid", g)?;
        }
        limits::hashes(&hashes)?;
        for path in &authz {
            limits::resource_path("authz", path)?;
        }
        limits::indexed_all("acl entry", &acl)?;
        limits::indexed_all("url", &urls)?;
        if let Some(f) = &file_name {
            limits::file_name(f)?;
        }
        let mut body = CreateBody {
            form: input::Form::Object,
            size,
            urls,
            hashes,
            did: guid,
            baseid: None,
            file_name,
            metadata: None,
            urls_metadata: None,
            version: None,
            description: None,
            uploader: None,
            acl: Some(acl),
            authz: Some(authz),
            content_created_date: None,
            content_updated_date: None,
        };
        body.validate()?;
        Ok(body)
    }

    /// Check the columns of a manifest row as [`Self::manifest_record`] does, without building
    /// the record; returns the did the record will have (a fresh one when `guid` is `None`:
    /// pass it to [`Self::manifest_record`] to build the record under it).
    pub fn manifest_check(&self, row: ManifestRow) -> Result<String, WeftError> {
        let body = Self::manifest_body(row)?;
        Ok(match body.did {
            Some(did) => did,
            None => self.mint_did().0,
        })
    }

    /// A record built from the columns of a Gen3 indexing manifest.
    pub fn manifest_record(
        &self,
        row: ManifestRow,
    ) -> Result<(IndexRecord, Vec<String>), WeftError> {
        let body = Self::manifest_body(row)?;
        Ok(self.record_from_create(body))
    }

    /// `PUT /index/{did}?rev=`.
    pub async fn update(
        &self,
        creds: &Credentials,
        did: &str,
        rev: Option<&str>,
        body: &[u8],
    ) -> Result<Ids, WeftError> {
        self.authenticate(creds, "update").await?;
        let changes: UpdateBody = input::parse(body)?;
        let old = self.exact(did).await?;
        let rev = current_rev(rev, &old)?;
        let mut new = old.clone();
        changes.apply(&mut new)?;
        limits::record(&new)?;
        self.authorize(creds, "update", &union(&old.authz, &new.authz))
            .await?;
        new.rev = ids::new_rev();
        new.updated_date = time::now_string();
        let ids = Ids::of(&new);
        self.store.update(new, rev.to_owned()).await?;
        Ok(ids)
    }

    /// `DELETE /index/{did}?rev=`.
    pub async fn delete(
        &self,
        creds: &Credentials,
        did: &str,
        rev: Option<&str>,
    ) -> Result<(), WeftError> {
        let Some(rev) = rev else {
            return Err(WeftError::invalid("no revision specified"));
        };
        let old = self.exact(did).await?;
        self.authorize(creds, "delete", &old.authz).await?;
        self.store.delete(did, rev).await?;
        Ok(())
    }

    /// `POST /index/{did}`: a new version sharing the old record's baseid.
    pub async fn add_version(
        &self,
        creds: &Credentials,
        did: &str,
        body: &[u8],
    ) -> Result<Ids, WeftError> {
        self.authenticate(creds, "update").await?;
        let mut b: CreateBody = input::parse(body)?;
        b.validate()?;
        let old = self.exact(did).await?;
        b.baseid = Some(old.baseid.clone());
        let (record, aliases) = self.record_from_create(b);
        self.authorize(creds, "update", &union(&old.authz, &record.authz))
            .await?;
        self.insert(record, aliases).await
    }

    /// All versions of the record `id` names (did or baseid), oldest first.
    pub async fn versions(&self, id: &str) -> Result<Vec<IndexRecord>, WeftError> {
        let baseid = match self.resolve(id).await? {
            Some(r) => r.baseid,
            None => return Err(WeftError::not_found("no record found")),
        };
        Ok(self.store.versions(&baseid).await?)
    }

    /// `GET /index/{did}/latest`.
    pub async fn latest(&self, id: &str, has_version: bool) -> Result<IndexRecord, WeftError> {
        let versions = self.versions(id).await?;
        versions
            .into_iter()
            .filter(|r| !has_version || r.version.is_some())
            .max_by(|a, b| a.created_date.cmp(&b.created_date))
            .ok_or_else(|| WeftError::not_found("no record found"))
    }

    /// `PUT /index/{did}/versions`: set acl/authz on every version at once.
    pub async fn update_versions(
        &self,
        creds: &Credentials,
        did: &str,
        body: &[u8],
    ) -> Result<Vec<Ids>, WeftError> {
        self.authenticate(creds, "update").await?;
        let b: VersionsBody = input::parse(body)?;
        limits::indexed_all("acl entry", b.acl.as_deref().unwrap_or_default())?;
        limits::indexed_all("authz entry", b.authz.as_deref().unwrap_or_default())?;
        let versions = self.versions(did).await?;
        let mut resources: Vec<String> = versions.iter().flat_map(|r| r.authz.clone()).collect();
        if let Some(a) = &b.authz {
            resources.extend(a.iter().cloned());
        }
        self.authorize(creds, "update", &dedup(resources)).await?;
        let now = time::now_string();
        let mut updates = Vec::with_capacity(versions.len());
        for old in versions {
            let mut new = old.clone();
            if let Some(acl) = &b.acl {
                new.acl = dedup(acl.clone());
            }
            if let Some(authz) = &b.authz {
                new.authz = dedup(authz.clone());
            }
            new.rev = ids::new_rev();
            new.updated_date.clone_from(&now);
            updates.push((new, old.rev));
        }
        let out = updates.iter().map(|(r, _)| Ids::of(r)).collect();
        self.store.update_many(updates).await?;
        Ok(out)
    }

    fn blank_record(
        did: String,
        baseid: String,
        b: &BlankBody,
        authz: Vec<String>,
        acl: Vec<String>,
    ) -> IndexRecord {
        let now = time::now_string();
        IndexRecord {
            did,
            baseid,
            rev: ids::new_rev(),
            form: None,
            size: None,
            file_name: b.file_name.clone(),
            version: None,
            uploader: b.uploader.clone(),
            description: None,
            urls: vec![],
            urls_metadata: BTreeMap::new(),
            acl,
            authz,
            hashes: BTreeMap::new(),
            metadata: serde_json::Map::new(),
            created_date: now.clone(),
            updated_date: now,
            content_created_date: None,
            content_updated_date: None,
        }
    }

    /// Authorize a blank-record operation: `method` on `authz` when given, otherwise
    /// `file_upload` on `/data_file`.
    async fn authorize_blank(
        &self,
        creds: &Credentials,
        method: &'static str,
        authz: Option<&[String]>,
    ) -> Result<Authorized, WeftError> {
        match authz {
            Some(a) => self.authorize(creds, method, a).await,
            None => {
                self.authorize(creds, "file_upload", &[DATA_FILE_RESOURCE.to_owned()])
                    .await
            }
        }
    }

    /// `POST /index/blank/`.
    pub async fn blank_create(&self, creds: &Credentials, body: &[u8]) -> Result<Ids, WeftError> {
        self.authenticate(creds, "create").await?;
        let b = blank_body(body)?;
        if b.did.is_some() {
            return Err(WeftError::invalid(
                "did cannot be given for a new blank record",
            ));
        }
        self.authorize_blank(creds, "create", b.authz.as_deref())
            .await?;
        let (did, aliases) = self.mint_did();
        let authz = dedup(b.authz.clone().unwrap_or_default());
        let record = Self::blank_record(did, ids::new_guid(), &b, authz, vec![]);
        self.insert(record, aliases).await
    }

    /// `POST /index/blank/{did}`: a new blank version; acl/authz carry over unless given.
    pub async fn blank_version(
        &self,
        creds: &Credentials,
        did: &str,
        body: &[u8],
    ) -> Result<Ids, WeftError> {
        self.authenticate(creds, "update").await?;
        let b = blank_body(body)?;
        let old = self.exact(did).await?;
        if let Some(a) = &b.authz {
            self.authorize(creds, "create", a).await?;
        }
        self.authorize(creds, "update", &old.authz).await?;
        let (new_did, aliases) = match &b.did {
            Some(d) if !ids::is_valid_guid(d) => {
                return Err(WeftError::invalid(format!(
                    "did \"{d}\" is not a valid GUID: it must end in a UUID"
                )));
            }
            Some(d) => (d.clone(), vec![]),
            None => self.mint_did(),
        };
        let (authz, acl) = match &b.authz {
            Some(a) => (dedup(a.clone()), vec![]),
            None => (old.authz.clone(), old.acl.clone()),
        };
        let record = Self::blank_record(new_did, old.baseid.clone(), &b, authz, acl);
        self.insert(record, aliases).await
    }

    /// `PUT /index/blank/{did}?rev=`: fill in size, hashes and urls of a blank record.
    pub async fn blank_update(
        &self,
        creds: &Credentials,
        did: &str,
        rev: Option<&str>,
        body: &[u8],
    ) -> Result<Ids, WeftError> {
        self.authenticate(creds, "update").await?;
        let b: BlankUpdateBody = input::parse(body)?;
        if b.size < 0 {
            return Err(WeftError::invalid("size must be >= 0"));
        }
        input::validate_record_hashes(&b.hashes)?;
        let old = self.exact(did).await?;
        if old.size.is_some() || !old.hashes.is_empty() {
            return Err(WeftError::invalid(
                "update api is not supported for non-empty record!",
            ));
        }
        let rev = current_rev(rev, &old)?;
        match &b.authz {
            Some(a) => {
                self.authorize(creds, "update", &union(&old.authz, a))
                    .await?
            }
            None => self.authorize_blank(creds, "update", None).await?,
        };
        let mut new = old;
        new.size = Some(b.size);
        new.hashes = b.hashes;
        new.form = Some("object".to_owned());
        if let Some(urls) = b.urls {
            new.urls = urls;
            weft_store::sql::fill_urls_metadata(&new.urls, &mut new.urls_metadata);
        }
        if let Some(a) = b.authz {
            new.authz = dedup(a);
        }
        limits::record(&new)?;
        new.rev = ids::new_rev();
        new.updated_date = time::now_string();
        let ids = Ids::of(&new);
        self.store.update(new, rev.to_owned()).await?;
        Ok(ids)
    }

    /// fence's upload: a new blank record for `uploader` / `authz`, after the caller (the
    /// fence flow) checked its own permissions, which `_proof` stands for.
    pub async fn upload_blank(
        &self,
        _proof: &Authorized,
        uploader: Option<String>,
        file_name: Option<String>,
        authz: Vec<String>,
    ) -> Result<Ids, WeftError> {
        let (did, aliases) = self.mint_did();
        let b = BlankBody {
            did: None,
            uploader,
            file_name,
            authz: None,
        };
        let record = Self::blank_record(did, ids::new_guid(), &b, dedup(authz), vec![]);
        self.insert(record, aliases).await
    }

    /// An upload landed: fill blank record `did` with the object's size, MD5 and URL
    /// (as `PUT /index/blank/{did}` would). A record filled already is a conflict.
    pub async fn fill_blank(
        &self,
        proof: &Authorized,
        did: &str,
        size: u64,
        md5: &str,
        url: &str,
    ) -> Result<Ids, WeftError> {
        self.fill_blank_then(proof, did, size, md5, url, async { Ok(()) })
            .await
    }

    /// As [`IndexService::fill_blank`], for an upload whose bytes are staged but not yet
    /// visible: the filling decides between uploads racing for one record (the store's
    /// revision check lets exactly one fill it; a loser gets 409 and `publish` is dropped
    /// unrun), then `publish` makes the object visible. If publishing fails, the record is
    /// put back as it was (unless changed meanwhile) and the error returned.
    pub async fn fill_blank_then<F>(
        &self,
        _proof: &Authorized,
        did: &str,
        size: u64,
        md5: &str,
        url: &str,
        publish: F,
    ) -> Result<Ids, WeftError>
    where
        F: Future<Output = Result<(), WeftError>> + Send,
    {
        let size = i64::try_from(size).map_err(|_| WeftError::invalid("object too large"))?;
        // a blank record may change meanwhile (its rev with it) without being filled: retry
        // while it is still blank
        let mut tries = 0;
        let (old, ids) = loop {
            tries += 1;
            let old = self.exact(did).await?;
            if old.size.is_some() || !old.hashes.is_empty() {
                return Err(WeftError::new(
                    weft_core::ErrorCode::AlreadyExists,
                    format!("record {did} already has an object"),
                ));
            }
            let mut new = old.clone();
            new.size = Some(size);
            new.hashes = BTreeMap::from([("md5".to_owned(), md5.to_owned())]);
            new.form = Some("object".to_owned());
            new.urls = vec![url.to_owned()];
            weft_store::sql::fill_urls_metadata(&new.urls, &mut new.urls_metadata);
            limits::record(&new)?;
            new.rev = ids::new_rev();
            new.updated_date = time::now_string();
            let ids = Ids::of(&new);
            match self.store.update(new, old.rev.clone()).await {
                Ok(()) => break (old, ids),
                Err(StoreError::RevisionMismatch) if tries < 5 => {}
                Err(e) => return Err(e.into()),
            }
        };
        if let Err(e) = publish.await {
            let mut back = old;
            back.rev = ids::new_rev();
            back.updated_date = time::now_string();
            if let Err(undo) = self.store.update(back, ids.rev.clone()).await {
                tracing::error!(%did, "an upload failed to land and its record stays filled: {undo}");
            }
            return Err(e);
        }
        Ok(ids)
    }

    /// fence's `DELETE /data/{guid}`: remove the record, after the caller checked its own
    /// permissions.
    pub async fn delete_record(&self, _proof: &Authorized, did: &str) -> Result<(), WeftError> {
        let old = self.exact(did).await?;
        self.store.delete(did, &old.rev).await?;
        Ok(())
    }

    /// Blank records (no size yet), oldest did first after `after`, at most `limit`.
    pub async fn blank_records(
        &self,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<IndexRecord>, WeftError> {
        let q = weft_store::ListQuery {
            blank: true,
            limit,
            page: after.map_or(weft_store::Page::First, weft_store::Page::After),
            ..weft_store::ListQuery::default()
        };
        Ok(self.store.list(q).await?)
    }

    /// `POST /bulk/documents`: exact dids only; missing ones are left out.
    pub async fn bulk_documents(&self, body: &[u8]) -> Result<Vec<IndexRecord>, WeftError> {
        let dids: Vec<String> = input::parse_json(body)
            .map_err(|_| WeftError::invalid("body must be a JSON list of dids"))?;
        if dids.is_empty() {
            return Err(WeftError::invalid(
                "body must be a non-empty JSON list of dids",
            ));
        }
        for did in &dids {
            limits::no_nul("did", did)?;
        }
        Ok(self.store.get_many(dedup(dids)).await?)
    }

    /// `GET /index/`: the listing envelope with the filters echoed.
    pub async fn list(&self, params: &Params) -> Result<Listing, WeftError> {
        limits::params(&params.0)?;
        if let Some(lookup) = query::HashLookup::of(params) {
            let records = self.store.list_json(lookup.query()).await?;
            return Ok(Listing {
                echo: query::Echo::Hash(lookup),
                records: ListedRecords::Json(records),
            });
        }
        let req = query::list_request(params)?;
        let records = match req.form {
            // Stored rows straight to JSON: no decoding of the collections (the listing and
            // lookup-by-hash hot path). `ids` need the prefix retry of `list_query`.
            ListForm::Objects if req.query.ids.is_none() => {
                ListedRecords::Json(self.store.list_json(req.query).await?)
            }
            ListForm::Objects => ListedRecords::Records(self.list_query(req.query).await?),
            form => ListedRecords::Documents(
                self.list_entries(req.query, form, None)
                    .await?
                    .iter()
                    .map(crate::bundle::Entry::index_document)
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(Listing {
            echo: query::Echo::Filters(req.echo),
            records,
        })
    }

    /// Run a listing; `ids` not found are retried in their other prefix spelling, as indexd
    /// does.
    async fn list_query(
        &self,
        query: weft_store::ListQuery,
    ) -> Result<Vec<IndexRecord>, WeftError> {
        let retry = query.ids.clone();
        let mut records = self.store.list(query.clone()).await?;
        let Some(wanted) = retry else {
            return Ok(records);
        };
        let alternates: Vec<String> = wanted
            .iter()
            .filter(|id| !records.iter().any(|r| &r.did == *id))
            .filter_map(|id| ids::alternate_prefixed(id, &self.prefix))
            .filter(|alt| !records.iter().any(|r| &r.did == alt))
            .collect();
        if alternates.is_empty() {
            return Ok(records);
        }
        let more = self
            .store
            .list(weft_store::ListQuery {
                ids: Some(alternates),
                ..query
            })
            .await?;
        records.extend(more);
        records.sort_by(|a, b| a.did.cmp(&b.did));
        records.dedup_by(|a, b| a.did == b.did);
        Ok(records)
    }

    /// `GET /urls/`: the URLs of records matching size/hash/ids.
    pub async fn urls(&self, params: &Params) -> Result<Value, WeftError> {
        params.only(&["size", "hash", "ids", "start", "limit"])?;
        limits::params(&params.0)?;
        let int = |k: &str| -> Result<Option<i64>, WeftError> {
            params
                .get(k)
                .map(|v| {
                    v.parse::<i64>()
                        .map_err(|_| WeftError::invalid(format!("{k} must be an integer")))
                })
                .transpose()
        };
        let size = int("size")?;
        if size.is_some_and(|s| s < 0) {
            return Err(WeftError::invalid("size must be >= 0"));
        }
        let start = int("start")?.unwrap_or(0);
        let limit = int("limit")?.unwrap_or(100);
        if start < 0 {
            return Err(WeftError::invalid("start must be >= 0"));
        }
        if limit < 0 {
            return Err(WeftError::invalid("limit must be >= 0"));
        }
        if limit > 1024 {
            return Err(WeftError::invalid("limit must be <= 1024"));
        }
        let hashes = query::hashes(&params.all("hash"))?;
        limits::filter_count(hashes.len())?;
        let ids = params
            .get("ids")
            .map(|s| s.split(',').map(str::to_owned).collect::<Vec<_>>());
        query::id_count(ids.as_deref())?;
        if size.is_none() && hashes.is_empty() && ids.is_none() {
            return Err(WeftError::invalid(
                "at least one of size, hash or ids is required",
            ));
        }
        let q = weft_store::ListQuery {
            ids,
            size,
            hashes: hashes.clone(),
            limit: 1024,
            ..weft_store::ListQuery::default()
        };
        let records = self.store.list(q).await?;
        let urls: Vec<Value> = records
            .iter()
            .flat_map(|r| r.urls.iter().map(move |u| json!({"url": u, "metadata": r.urls_metadata.get(u).cloned().unwrap_or_default()})))
            .skip(usize::try_from(start).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(0))
            .collect();
        let hash_map: serde_json::Map<String, Value> = hashes
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        Ok(json!({"urls": urls, "limit": limit, "start": start, "size": size, "hashes": hash_map}))
    }

    /// `GET /_query/urls/q` and `/_query/urls/metadata/q`.
    pub async fn query_urls(&self, params: &Params, by_metadata: bool) -> Result<Value, WeftError> {
        limits::params(&params.0)?;
        let (q, fields) = if by_metadata {
            query::urls_metadata_query(params)?
        } else {
            query::urls_query(params)?
        };
        let meta = q.metadata.clone();
        let records = self.store.query_urls(q).await?;
        let rows: Vec<Value> = records
            .into_iter()
            .map(|r| {
                let urls: Vec<String> = match &meta {
                    Some((k, v, url)) => r
                        .urls
                        .iter()
                        .filter(|u| {
                            url.as_ref().is_none_or(|s| u.contains(s.as_str()))
                                && r.urls_metadata
                                    .get(*u)
                                    .and_then(|m| m.get(k))
                                    .is_some_and(|x| IndexRecord::metadata_text(x) == *v)
                        })
                        .cloned()
                        .collect(),
                    None => r.urls.clone(),
                };
                let mut row = serde_json::Map::new();
                for f in &fields {
                    match f.as_str() {
                        "did" => row.insert("did".into(), Value::String(r.did.clone())),
                        "rev" => row.insert("rev".into(), Value::String(r.rev.clone())),
                        _ => row.insert("urls".into(), json!(urls)),
                    };
                }
                Value::Object(row)
            })
            .collect();
        Ok(Value::Array(rows))
    }

    /// `GET /index/{did}/aliases`.
    pub async fn aliases(&self, did: &str) -> Result<Vec<String>, WeftError> {
        self.exact(did).await?;
        Ok(self.store.aliases(did).await?)
    }

    /// `POST` (add) and `PUT` (replace) `/index/{did}/aliases`.
    pub async fn put_aliases(
        &self,
        creds: &Credentials,
        did: &str,
        body: &[u8],
        replace: bool,
    ) -> Result<Vec<String>, WeftError> {
        self.authenticate(creds, "update").await?;
        let b: AliasesBody = input::parse(body)?;
        let names = dedup(b.aliases.into_iter().map(|a| a.value).collect());
        if names.iter().any(String::is_empty) {
            return Err(WeftError::invalid("alias values must not be empty"));
        }
        limits::indexed_all("alias", &names)?;
        let rec = self.exact(did).await?;
        self.authorize(creds, "update", &rec.authz).await?;
        self.store.put_aliases(did, names, replace).await?;
        Ok(self.store.aliases(did).await?)
    }

    /// `DELETE /index/{did}/aliases[/{alias}]`.
    pub async fn delete_aliases(
        &self,
        creds: &Credentials,
        did: &str,
        name: Option<String>,
    ) -> Result<(), WeftError> {
        let rec = self.exact(did).await?;
        self.authorize(creds, "delete", &rec.authz).await?;
        if let Some(n) = &name {
            limits::no_nul("alias", n)?;
        }
        self.store
            .delete_aliases(did, name)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => WeftError::not_found("alias not found"),
                other => other.into(),
            })
    }

    /// `GET /_stats[?month=&year=]`.
    pub async fn stats(&self, params: &Params) -> Result<Value, WeftError> {
        let before = match (params.get("month"), params.get("year")) {
            (None, None) => None,
            (Some(m), Some(y)) => {
                let (Ok(m), Ok(y)) = (m.parse::<u32>(), y.parse::<i32>()) else {
                    return Err(WeftError::invalid("month and year must be integers"));
                };
                if !(1..=12).contains(&m) {
                    return Err(WeftError::invalid("month must be between 1 and 12"));
                }
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                Some(format!("{ny:04}-{nm:02}-01T00:00:00.000000"))
            }
            _ => return Err(WeftError::invalid("month and year must be given together")),
        };
        let (count, size) = self.store.stats(before).await?;
        Ok(json!({"fileCount": count, "totalFileSize": size}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_write_what_they_serialize_to() {
        let records = br#"[{"did":"a"},{"did":"b"}]"#.to_vec();
        let mut filters = serde_json::Map::new();
        filters.insert("limit".into(), json!(2));
        filters.insert("hashes".into(), json!({"md5": "x"}));
        for echo in [filters, serde_json::Map::new()] {
            for records in [
                ListedRecords::Json(records.clone()),
                ListedRecords::Json(b"[]".to_vec()),
                ListedRecords::Documents(vec![json!({"did": "c"})]),
            ] {
                let listing = Listing {
                    echo: query::Echo::Filters(echo.clone()),
                    records,
                };
                let written = listing.to_json();
                assert_eq!(written, serde_json::to_vec(&listing).unwrap());
                let value: Value = serde_json::from_slice(&written).unwrap();
                assert_eq!(value.as_object().unwrap().len(), echo.len() + 1);
            }
        }
        let listing = Listing {
            echo: query::Echo::Filters(serde_json::Map::new()),
            records: ListedRecords::Json(records),
        };
        assert_eq!(
            listing.to_json(),
            br#"{"records":[{"did":"a"},{"did":"b"}]}"#.to_vec()
        );
    }
}
