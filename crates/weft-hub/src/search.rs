//! Discovery search over the aggregated studies (tantivy).
//!
//! One document per study: its GUID and commons, every string value of its
//! `gen3_discovery` as full text, the study as a JSON field (so `field:value` queries reach
//! any mapped field), facets `/commons/<commons_name>` and `/tag/<category>/<name>`, and the
//! stored document. A commons' documents are replaced together (delete by commons, add,
//! commit); the index is rebuilt from the store at every start.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Mutex, RwLock};

use serde::Serialize;
use serde_json::Value;
use tantivy::collector::{Count, FacetCollector, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    FacetOptions, Field, IndexRecordOption, STORED, STRING, Schema, TEXT, Value as _,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::HubError;
use crate::mapping::STUDY_FIELD;

/// Most hits one request may ask for.
pub const MAX_LIMIT: usize = 1000;

/// Writer memory (one indexing thread: the machine this runs on has few cores).
const WRITER_BYTES: usize = 64 * 1024 * 1024;

#[derive(Clone, Copy)]
struct Fields {
    guid: Field,
    commons: Field,
    commons_name: Field,
    text: Field,
    study: Field,
    facet: Field,
    src: Field,
}

/// A search: free text, tags (all must match), commons (any may match), a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchRequest {
    /// Query syntax: words (all must match), `"phrases"`, `field:value` on any study field,
    /// `OR`, `-word`. Empty: every study.
    pub q: Option<String>,
    /// `(category, name)` pairs; every one must be a tag of the study.
    pub tags: Vec<(String, String)>,
    /// `commons_name`s; a study of any of them matches.
    pub commons: Vec<String>,
    pub limit: usize,
    pub offset: usize,
}

/// One hit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub guid: String,
    pub commons: String,
    pub score: f32,
    pub doc: Value,
}

/// Facet counts over every match (not just the page).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Facets {
    pub commons: BTreeMap<String, u64>,
    pub tags: BTreeMap<String, BTreeMap<String, u64>>,
}

/// A page of hits, the total number of matches and the facets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResult {
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub hits: Vec<Hit>,
    pub facets: Facets,
}

/// One study to index.
pub struct IndexDoc<'a> {
    pub guid: &'a str,
    pub commons_name: &'a str,
    /// The stored document (`{"gen3_discovery": ..}`) as JSON text; parsed one document at
    /// a time while indexing, so a rebuild never holds a whole commons as parsed trees.
    pub text: &'a str,
}

/// The search index.
pub struct SearchIndex {
    index: Index,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    fields: Fields,
    /// Tag categories seen (for per-category facet counts).
    categories: RwLock<BTreeSet<String>>,
}

impl SearchIndex {
    /// A fresh, empty index in `dir` (its old contents removed), or in memory.
    pub fn create(dir: Option<&Path>) -> Result<Self, HubError> {
        let mut b = Schema::builder();
        let fields = Fields {
            guid: b.add_text_field("guid", STRING | STORED),
            commons: b.add_text_field("commons", STRING | STORED),
            commons_name: b.add_text_field("commons_name", STRING | STORED),
            text: b.add_text_field("text", TEXT),
            study: b.add_json_field("study", TEXT),
            facet: b.add_facet_field("facet", FacetOptions::default()),
            src: b.add_text_field("src", STORED),
        };
        let schema = b.build();
        let index = match dir {
            Some(dir) => {
                if dir.exists() {
                    // never clear a directory that holds something other than an index
                    let foreign = std::fs::read_dir(dir)
                        .map_err(|e| HubError::Internal(format!("{}: {e}", dir.display())))?
                        .next()
                        .is_some()
                        && !dir.join("meta.json").exists();
                    if foreign {
                        return Err(HubError::Config(format!(
                            "hub.search_dir {} is not empty and holds no search index; \
                             refusing to clear it",
                            dir.display()
                        )));
                    }
                    std::fs::remove_dir_all(dir).map_err(|e| {
                        HubError::Internal(format!("clearing {}: {e}", dir.display()))
                    })?;
                }
                std::fs::create_dir_all(dir)
                    .map_err(|e| HubError::Internal(format!("creating {}: {e}", dir.display())))?;
                Index::create_in_dir(dir, schema)?
            }
            None => Index::create_in_ram(schema),
        };
        let writer = index.writer_with_num_threads(1, WRITER_BYTES)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            index,
            writer: Mutex::new(writer),
            reader,
            fields,
            categories: RwLock::new(BTreeSet::new()),
        })
    }

    /// Replace every document of `commons` by `docs`, and commit. Blocking: call it off the
    /// async runtime.
    pub fn replace_commons(&self, commons: &str, docs: &[IndexDoc<'_>]) -> Result<(), HubError> {
        let f = self.fields;
        let mut cats = BTreeSet::new();
        let mut writer = self
            .writer
            .lock()
            .map_err(|_| HubError::Internal("search writer poisoned".into()))?;
        writer.delete_term(Term::from_field_text(f.commons, commons));
        for d in docs {
            let mut doc = TantivyDocument::default();
            doc.add_text(f.guid, d.guid);
            doc.add_text(f.commons, commons);
            doc.add_text(f.commons_name, d.commons_name);
            let parsed: Value = serde_json::from_str(d.text).unwrap_or(Value::Null);
            let study = parsed.get(STUDY_FIELD).cloned().unwrap_or(Value::Null);
            let mut text = String::new();
            collect_text(&study, &mut text);
            doc.add_text(f.text, &text);
            if let Value::Object(m) = &study {
                let obj: std::collections::BTreeMap<String, tantivy::schema::OwnedValue> = m
                    .iter()
                    .map(|(k, v)| (k.clone(), tantivy::schema::OwnedValue::from(v.clone())))
                    .collect();
                doc.add_object(f.study, obj);
            }
            doc.add_facet(
                f.facet,
                tantivy::schema::Facet::from_path(["commons", d.commons_name]),
            );
            if let Some(Value::Array(tags)) = study.get("tags") {
                for t in tags {
                    if let (Some(c), Some(n)) = (
                        t.get("category").and_then(Value::as_str),
                        t.get("name").and_then(Value::as_str),
                    ) {
                        doc.add_facet(f.facet, tantivy::schema::Facet::from_path(["tag", c, n]));
                        cats.insert(c.to_owned());
                    }
                }
            }
            doc.add_text(f.src, d.text);
            writer.add_document(doc)?;
        }
        writer.commit()?;
        drop(writer);
        self.reader.reload()?;
        if let Ok(mut known) = self.categories.write() {
            known.extend(cats);
        }
        Ok(())
    }

    /// How many documents the index holds.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Run a search. Blocking (it is CPU work on memory-mapped files).
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResult, HubError> {
        if req.limit > MAX_LIMIT {
            return Err(HubError::BadQuery(format!(
                "limit must be at most {MAX_LIMIT}"
            )));
        }
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(q) = req.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            let mut parser = QueryParser::for_index(&self.index, vec![f.text, f.study]);
            parser.set_conjunction_by_default();
            let parsed = parser
                .parse_query(q)
                .map_err(|e| HubError::BadQuery(format!("q: {e}")))?;
            clauses.push((Occur::Must, parsed));
        }
        for (c, n) in &req.tags {
            let facet = tantivy::schema::Facet::from_path(["tag", c.as_str(), n.as_str()]);
            clauses.push((Occur::Must, Box::new(facet_query(f.facet, &facet))));
        }
        if !req.commons.is_empty() {
            let any: Vec<(Occur, Box<dyn Query>)> = req
                .commons
                .iter()
                .map(|c| {
                    let facet = tantivy::schema::Facet::from_path(["commons", c.as_str()]);
                    (
                        Occur::Should,
                        Box::new(facet_query(f.facet, &facet)) as Box<dyn Query>,
                    )
                })
                .collect();
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
        let query: Box<dyn Query> = if clauses.is_empty() {
            Box::new(AllQuery)
        } else {
            Box::new(BooleanQuery::new(clauses))
        };
        let categories: Vec<String> = self
            .categories
            .read()
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default();
        let mut facets = FacetCollector::for_field("facet");
        facets.add_facet("/commons");
        for c in &categories {
            facets.add_facet(tantivy::schema::Facet::from_path(["tag", c.as_str()]));
        }
        let searcher = self.reader.searcher();
        // Past every document there is nothing to skip to; tantivy sizes its heap by limit +
        // offset, so an offset of 2^63 must not reach it.
        let offset = usize::try_from(searcher.num_docs()).map_or(req.offset, |n| req.offset.min(n));
        let top = TopDocs::with_limit(req.limit.max(1))
            .and_offset(offset)
            .order_by_score();
        let (top, total, counts) = searcher.search(&query, &(top, Count, facets))?;
        let mut hits = Vec::with_capacity(top.len());
        if req.limit > 0 {
            for (score, addr) in top {
                let doc: TantivyDocument = searcher.doc(addr)?;
                let text = |field: Field| {
                    doc.get_first(field)
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_owned()
                };
                hits.push(Hit {
                    guid: text(f.guid),
                    commons: text(f.commons_name),
                    score,
                    doc: serde_json::from_str(&text(f.src)).unwrap_or(Value::Null),
                });
            }
        }
        let mut out = Facets::default();
        for (facet, n) in counts.get("/commons") {
            if let Some(name) = facet.to_path().get(1) {
                out.commons.insert((*name).to_owned(), n);
            }
        }
        for c in &categories {
            let parent = tantivy::schema::Facet::from_path(["tag", c.as_str()]);
            for (facet, n) in counts.get(parent) {
                if let Some(name) = facet.to_path().get(2) {
                    out.tags
                        .entry(c.clone())
                        .or_default()
                        .insert((*name).to_owned(), n);
                }
            }
        }
        Ok(SearchResult {
            total,
            limit: req.limit,
            offset: req.offset,
            hits,
            facets: out,
        })
    }
}

fn facet_query(field: Field, facet: &tantivy::schema::Facet) -> TermQuery {
    TermQuery::new(Term::from_facet(field, facet), IndexRecordOption::Basic)
}

/// Every string (and number) in a value, one per line.
fn collect_text(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Number(n) => {
            out.push_str(&n.to_string());
            out.push('\n');
        }
        Value::Array(items) => items.iter().for_each(|i| collect_text(i, out)),
        Value::Object(m) => m.values().for_each(|i| collect_text(i, out)),
        Value::Bool(_) | Value::Null => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn add(index: &SearchIndex, commons: &str, name: &str, docs: &[(&str, Value)]) {
        let texts: Vec<String> = docs.iter().map(|(_, d)| d.to_string()).collect();
        let items: Vec<IndexDoc<'_>> = docs
            .iter()
            .zip(&texts)
            .map(|((g, _), t)| IndexDoc {
                guid: g,
                commons_name: name,
                text: t,
            })
            .collect();
        index.replace_commons(commons, &items).unwrap();
    }

    fn study(title: &str, tags: &[(&str, &str)], n: i64) -> Value {
        let tags: Vec<Value> = tags
            .iter()
            .map(|(c, n)| json!({"category": c, "name": n}))
            .collect();
        json!({"gen3_discovery": {"full_name": title, "tags": tags, "_subjects_count": n,
                                  "short_name": title.to_lowercase().replace(' ', "_")}})
    }

    fn req(q: &str) -> SearchRequest {
        SearchRequest {
            q: Some(q.into()),
            limit: 10,
            ..SearchRequest::default()
        }
    }

    #[test]
    fn full_text_facets_and_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::create(Some(&dir.path().join("s"))).unwrap();
        add(
            &index,
            "a",
            "A",
            &[
                (
                    "a1",
                    study("Heart Failure Cohort", &[("Data Type", "WGS")], 10),
                ),
                ("a2", study("Lung Imaging", &[("Data Type", "Imaging")], 20)),
            ],
        );
        add(
            &index,
            "b",
            "Bee",
            &[(
                "b1",
                study(
                    "Heart Development",
                    &[("Data Type", "WGS"), ("Program", "Kids")],
                    5,
                ),
            )],
        );
        assert_eq!(index.len(), 3);

        let r = index.search(&req("heart")).unwrap();
        assert_eq!(r.total, 2);
        let mut guids: Vec<&str> = r.hits.iter().map(|h| h.guid.as_str()).collect();
        guids.sort_unstable();
        assert_eq!(guids, ["a1", "b1"]);
        assert!(r.hits.iter().all(|h| h.score > 0.0));
        assert_eq!(
            r.facets.commons,
            BTreeMap::from([("A".into(), 1), ("Bee".into(), 1)])
        );
        assert_eq!(r.facets.tags["Data Type"]["WGS"], 2);
        assert_eq!(r.facets.tags["Program"]["Kids"], 1);
        let b1 = r.hits.iter().find(|h| h.guid == "b1").unwrap();
        assert_eq!(b1.commons, "Bee");
        assert_eq!(b1.doc["gen3_discovery"]["full_name"], "Heart Development");

        // words are ANDed; fields are reachable by name; tags and commons filter
        assert_eq!(index.search(&req("heart lung")).unwrap().total, 0);
        assert_eq!(index.search(&req("heart OR lung")).unwrap().total, 3);
        assert_eq!(
            index.search(&req("short_name:lung_imaging")).unwrap().total,
            1
        );
        let tagged = SearchRequest {
            tags: vec![("Data Type".into(), "WGS".into())],
            limit: 10,
            ..SearchRequest::default()
        };
        assert_eq!(index.search(&tagged).unwrap().total, 2);
        let in_a = SearchRequest {
            commons: vec!["A".into()],
            ..tagged
        };
        let r = index.search(&in_a).unwrap();
        assert_eq!((r.total, r.hits[0].guid.as_str()), (1, "a1"));
        let either = SearchRequest {
            commons: vec!["A".into(), "Bee".into()],
            limit: 1,
            offset: 1,
            ..SearchRequest::default()
        };
        let r = index.search(&either).unwrap();
        assert_eq!((r.total, r.hits.len()), (3, 1));
        // all studies, count only
        let r = index
            .search(&SearchRequest {
                limit: 0,
                ..SearchRequest::default()
            })
            .unwrap();
        assert_eq!((r.total, r.hits.len()), (3, 0));
        assert_eq!(r.facets.tags["Data Type"]["Imaging"], 1);

        // replacing a commons drops its old documents
        add(&index, "a", "A", &[("a3", study("Kidney", &[], 1))]);
        assert_eq!(index.len(), 2);
        assert_eq!(index.search(&req("lung")).unwrap().total, 0);
        assert_eq!(index.search(&req("kidney")).unwrap().hits[0].guid, "a3");

        // malformed queries and limits are the caller's errors
        for bad in ["heart AND (", "nosuchfield_x:[a TO"] {
            let e = index.search(&req(bad)).unwrap_err();
            assert!(matches!(e, HubError::BadQuery(_)), "{bad}: {e:?}");
        }
        let e = index
            .search(&SearchRequest {
                limit: MAX_LIMIT + 1,
                ..SearchRequest::default()
            })
            .unwrap_err();
        assert!(matches!(e, HubError::BadQuery(_)));
    }

    /// An offset past every study is an empty page, whatever its size (tantivy sizes its
    /// heap by limit + offset: `offset=2^63` panicked on an overflow, found by schemathesis).
    #[test]
    fn an_offset_past_every_study_is_an_empty_page() {
        let index = SearchIndex::create(None).unwrap();
        add(
            &index,
            "a",
            "A",
            &[
                ("a1", study("One", &[("Program", "P")], 1)),
                ("a2", study("Two", &[("Program", "P")], 2)),
            ],
        );
        for offset in [2, 3, 1 << 31, 1 << 63, usize::MAX] {
            let r = index
                .search(&SearchRequest {
                    limit: MAX_LIMIT,
                    offset,
                    ..SearchRequest::default()
                })
                .unwrap();
            assert_eq!(
                (r.total, r.hits.len(), r.offset),
                (2, 0, offset),
                "{offset}"
            );
            assert_eq!(r.facets.tags["Program"]["P"], 2, "facets count every match");
        }
        let r = index
            .search(&SearchRequest {
                limit: 10,
                offset: 1,
                ..SearchRequest::default()
            })
            .unwrap();
        assert_eq!((r.total, r.hits.len()), (2, 1));
    }

    #[test]
    fn refuses_to_clear_a_foreign_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("precious.txt"), "x").unwrap();
        let e = SearchIndex::create(Some(dir.path())).err().unwrap();
        assert!(
            matches!(e, HubError::Config(ref m) if m.contains("refusing")),
            "{e:?}"
        );
        assert!(dir.path().join("precious.txt").exists());
        // an index directory is cleared and made anew
        let idx = dir.path().join("idx");
        let first = SearchIndex::create(Some(&idx)).unwrap();
        add(&first, "a", "A", &[("a1", study("One", &[], 1))]);
        drop(first);
        let second = SearchIndex::create(Some(&idx)).unwrap();
        assert!(second.is_empty());
    }
}
