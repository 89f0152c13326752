//! The explorer's pure parts: the mapping read and checked against the real dictionaries,
//! the column index, guppy's filters, aggregations and paging.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::agg;
use crate::filter::{Cond, Missing, compile};
use crate::mapping::{Collector, EtlMapping, Field, FieldKind, IndexMapping, Kind, array_fields};
use crate::schema::{page, parse_sort};
use crate::table::Table;

fn field(name: &str, kind: FieldKind, array: bool) -> Field {
    Field {
        name: name.into(),
        kind,
        array,
    }
}

/// An index of people: text, numbers, a list and a nested list.
fn table() -> Table {
    let mapping = IndexMapping {
        name: "people".into(),
        doc_type: "person".into(),
        kind: Kind::Collector(Collector {
            category: "x".into(),
            node_types: vec![],
            props: vec![],
            injecting: vec![],
        }),
        fields: vec![
            field("name", FieldKind::Keyword, false),
            field("gender", FieldKind::Keyword, false),
            field("age", FieldKind::Number, false),
            field("tags", FieldKind::Keyword, true),
            field(
                "visits",
                FieldKind::Nested(vec![
                    field("label", FieldKind::Keyword, false),
                    field("weight", FieldKind::Number, false),
                ]),
                true,
            ),
        ],
    };
    let mut t = Table::new(Arc::new(mapping));
    let docs = [
        json!({"name": "Ann", "gender": "F", "age": 30, "tags": ["a", "b"],
               "visits": [{"label": "v1", "weight": 60}, {"label": "v2", "weight": 61.5}]}),
        json!({"name": "Bob", "gender": "M", "age": 45, "tags": ["b"]}),
        json!({"name": "Cat", "gender": "F", "age": 22.5, "visits": [{"label": "v1"}]}),
        json!({"name": "Dan", "tags": ["a", "c"]}),
    ];
    for (i, d) in docs.iter().enumerate() {
        t.upsert(&format!("id-{i}"), d.as_object().unwrap());
    }
    t
}

fn missing() -> Missing {
    Missing {
        include: true,
        alias: "no data".into(),
    }
}

/// The names of the documents a filter matches.
fn names(t: &Table, filter: Value) -> Vec<String> {
    let cond = compile(&filter, t, &missing()).unwrap_or_else(|e| panic!("{filter}: {e:?}"));
    let mut rows = cond.rows(t, None);
    rows.intersect_with(t.live());
    rows.ones()
        .map(|r| t.value(t.id(r), "name").as_str().unwrap().to_owned())
        .collect()
}

fn error(t: &Table, filter: Value) -> String {
    compile(&filter, t, &missing()).unwrap_err().0
}

#[test]
fn filters_follow_guppy_operators() {
    let t = table();
    assert_eq!(names(&t, json!(null)), ["Ann", "Bob", "Cat", "Dan"]);
    assert_eq!(names(&t, json!({})), ["Ann", "Bob", "Cat", "Dan"]);
    assert_eq!(names(&t, json!({"=": {"gender": "F"}})), ["Ann", "Cat"]);
    assert_eq!(names(&t, json!({"IN": {"gender": ["M", "x"]}})), ["Bob"]);
    // the missing-data alias stands for "no value"
    assert_eq!(
        names(&t, json!({"in": {"gender": ["no data", "M"]}})),
        ["Bob", "Dan"]
    );
    assert_eq!(names(&t, json!({"eq": {"gender": "no data"}})), ["Dan"]);
    // lists: any, all, none, not all
    assert_eq!(names(&t, json!({"contains_any": {"tags": ["c"]}})), ["Dan"]);
    assert_eq!(
        names(&t, json!({"contains_all": {"tags": ["a", "b"]}})),
        ["Ann"]
    );
    assert_eq!(
        names(&t, json!({"contains_all": {"tags": ["a", "zz"]}})),
        Vec::<String>::new()
    );
    assert_eq!(names(&t, json!({"!=": {"tags": "b"}})), ["Cat", "Dan"]);
    assert_eq!(
        names(&t, json!({"excludes_any": {"tags": ["b", "c"]}})),
        ["Cat"]
    );
    assert_eq!(
        names(&t, json!({"excludes_all": {"tags": ["a", "b"]}})),
        ["Bob", "Cat", "Dan"]
    );
    // numbers
    assert_eq!(names(&t, json!({">": {"age": 30}})), ["Bob"]);
    assert_eq!(names(&t, json!({">=": {"age": 30}})), ["Ann", "Bob"]);
    assert_eq!(names(&t, json!({"lt": {"age": "30"}})), ["Cat"]);
    assert_eq!(
        names(&t, json!({"in": {"age": [22.5, 45]}})),
        ["Bob", "Cat"]
    );
    assert_eq!(names(&t, json!({"!=": {"age": 30}})), ["Bob", "Cat"]);
    // combinators, in any case, and nested fields relative to their path
    assert_eq!(
        names(
            &t,
            json!({"and": [{"=": {"gender": "F"}}, {"OR": [{">": {"age": 25}}, {"=": {"name": "Dan"}}]}]})
        ),
        ["Ann"]
    );
    assert_eq!(
        names(
            &t,
            json!({"nested": {"path": "visits", ">=": {"weight": 61}}})
        ),
        ["Ann"]
    );
    assert_eq!(
        names(
            &t,
            json!({"nested": {"path": "visits", "=": {"label": "v1"}}})
        ),
        ["Ann", "Cat"]
    );
    // text search over the text fields (case-insensitive), or the named ones
    assert_eq!(
        names(&t, json!({"search": {"keyword": "AN"}})),
        ["Ann", "Dan"]
    );
    assert_eq!(
        names(&t, json!({"search": {"keyword": "an", "fields": "gender"}})),
        Vec::<String>::new()
    );
}

#[test]
fn bad_filters_are_refused_in_guppys_words() {
    let t = table();
    assert_eq!(
        error(&t, json!({"like": {"name": "x"}})),
        "Invalid operation \"like\" in filter argument."
    );
    assert_eq!(
        error(&t, json!({"contains_all": {"age": [1]}})),
        "Invalid numeric operation \"contains_all\" for field \"age\" in filter argument"
    );
    assert_eq!(
        error(&t, json!({"=": {"nope": 1}})),
        "Please check your syntax for input \"filter\" argument"
    );
    assert_eq!(
        error(&t, json!({"AND": {"=": {"name": 1}}})),
        "Please check your syntax for input \"filter\" argument"
    );
    assert_eq!(
        error(&t, json!({">": {"age": "old"}})),
        "Invalid value \"old\" for numeric field \"age\" in filter argument"
    );
    assert_eq!(
        error(&t, json!({"search": {"keyword": "a"}})),
        "Keyword too short (length < 2"
    );
    assert_eq!(
        error(&t, json!({"search": {"keyword": "ab", "x": 1}})),
        "Invalid search filter syntax: unrecognized field 'x'"
    );
    assert_eq!(
        error(&t, json!({"nested": {"path": "nope", "=": {"a": 1}}})),
        "Field nope does not exist in ES index"
    );
    assert_eq!(
        error(&t, json!([1])),
        "Please check your syntax for input \"filter\" argument"
    );
}

#[test]
fn filter_self_false_drops_the_aggregated_fields_conditions() {
    let t = table();
    let cond = compile(
        &json!({"AND": [{"=": {"gender": "F"}}, {">": {"age": 25}}]}),
        &t,
        &missing(),
    )
    .unwrap();
    let count = |c: &Cond, skip| {
        let mut r = c.rows(&t, skip);
        r.intersect_with(t.live());
        r.count_ones(..)
    };
    assert_eq!(count(&cond, None), 1);
    assert_eq!(count(&cond, Some("gender")), 2, "Ann and Bob are over 25");
    assert_eq!(count(&cond, Some("age")), 2, "Ann and Cat are F");
}

#[test]
fn histograms_count_documents_most_frequent_first() {
    let t = table();
    let all = t.live().clone();
    let terms = |name: &str, missing| {
        agg::terms(t.column(name).unwrap(), &all, None, missing)
            .into_iter()
            .map(|x| (x.key, x.count))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        terms("gender", true),
        [(Some("F".into()), 2), (Some("M".into()), 1), (None, 1)]
    );
    assert_eq!(terms("gender", false).len(), 2);
    // ties: the greater key first; a list counts each of its values once per document
    assert_eq!(
        terms("tags", true),
        [
            (Some("b".into()), 2),
            (Some("a".into()), 2),
            (Some("c".into()), 1),
            (None, 1)
        ]
    );
    assert_eq!(
        terms("visits.label", false),
        [(Some("v1".into()), 2), (Some("v2".into()), 1)]
    );
    assert_eq!(agg::cardinality(t.column("tags").unwrap(), &all), 3);
    assert_eq!(agg::value_count(t.column("tags").unwrap(), &all), 5);
    // the hidden part of each count, in the same pass
    let mut hidden = fixedbitset::FixedBitSet::with_capacity(t.rows());
    hidden.insert(1);
    let h = agg::terms(t.column("gender").unwrap(), &all, Some(&hidden), true);
    assert_eq!(h.iter().map(|x| x.hidden).collect::<Vec<_>>(), [0, 1, 0]);

    let age = t.column("age").unwrap();
    let s = agg::stats(age, &all, None, None);
    assert_eq!(
        (s.count, s.min, s.max, s.sum),
        (3, Some(22.5), Some(45.0), 97.5)
    );
    assert_eq!(s.avg(), Some(32.5));
    let s = agg::stats(age, &all, Some(25.0), Some(45.0));
    assert_eq!((s.count, s.sum), (1, 30.0));
    // buckets [k, k + step) aligned on the offset, empty ones inside kept
    let h: Vec<(f64, u64)> = agg::histogram(age, &all, 10.0, 5.0, None, None)
        .into_iter()
        .map(|(k, s)| (k, s.count))
        .collect();
    assert_eq!(h, [(15.0, 1), (25.0, 1), (35.0, 0), (45.0, 1)]);
}

#[test]
fn pages_sort_and_changes() {
    let mut t = table();
    let all = t.live().clone();
    let by = |t: &Table, sort: Value, offset, first| {
        let sort = parse_sort(&sort, t).unwrap();
        page(t, &all, &sort, offset, first)
            .into_iter()
            .map(|r| t.value(t.id(r), "name").as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(by(&t, json!(null), 1, Some(2)), ["Bob", "Cat"]);
    assert_eq!(
        by(&t, json!([{"age": "desc"}]), 0, None),
        ["Bob", "Ann", "Cat", "Dan"]
    );
    assert_eq!(
        by(&t, json!({"age": "asc"}), 0, Some(3)),
        ["Cat", "Ann", "Bob"]
    );
    assert_eq!(
        by(&t, json!([{"gender": "asc"}, {"name": "desc"}]), 0, None),
        ["Cat", "Ann", "Bob", "Dan"]
    );
    assert_eq!(by(&t, json!([{"gender": "asc"}]), 3, Some(5)), ["Dan"]);
    assert_eq!(
        parse_sort(&json!([{"nope": "asc"}]), &t),
        Err("Invalid sort argument".into())
    );
    assert_eq!(
        parse_sort(&json!([{"age": "up"}]), &t),
        Err("Invalid sort argument".into())
    );

    // a document replaced and one removed; rendering of each kind of field
    t.upsert(
        "id-1",
        json!({"name": "Bob", "age": 46}).as_object().unwrap(),
    );
    assert!(t.remove("id-3"));
    assert!(!t.remove("id-3"));
    assert_eq!(t.len(), 3);
    assert_eq!(t.value("id-1", "age"), json!(46));
    assert_eq!(t.value("id-1", "gender"), Value::Null);
    let ann = t.document(t.row_of("id-0").unwrap());
    assert_eq!(
        Value::Object(ann),
        json!({"name": "Ann", "gender": "F", "age": 30, "tags": ["a", "b"],
               "visits": [{"label": "v1", "weight": 60}, {"label": "v2", "weight": 61.5}]})
    );
    let c = t.compacted();
    assert_eq!((c.len(), c.rows()), (3, 3));
    assert_eq!(c.value("id-1", "age"), json!(46));
    for id in ["id-0", "id-1", "id-2"] {
        assert_eq!(
            c.document(c.row_of(id).unwrap()),
            t.document(t.row_of(id).unwrap()),
            "{id}"
        );
    }
    assert_ne!(c.epoch(), t.epoch());
    let v = t.column("visits.label").unwrap();
    let w = c.column("visits.label").unwrap();
    assert_eq!(
        agg::terms(v, t.live(), None, true),
        agg::terms(w, c.live(), None, true)
    );
    assert_eq!(array_fields(&t.mapping.fields), ["tags", "visits"]);
}

fn dictionaries() -> Option<[weft_dictionary::Dictionary; 2]> {
    let dir = weft_dictionary::testing::real_dictionaries()?;
    let load = |n: &str| weft_dictionary::Dictionary::from_dir(&dir.join(n)).unwrap();
    Some(weft_dictionary::testing::REAL.map(load))
}

const GDC: &str = include_str!("../../../tests/explore/gdc-etlMapping.yaml");

#[test]
fn tubes_mapping_is_read_and_checked_against_the_dictionary() {
    let Some([gdc, _]) = dictionaries() else {
        return;
    };
    let m = EtlMapping::parse(GDC, &gdc).unwrap();
    let case = m.by_type("case").unwrap();
    let names: Vec<&str> = case.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "_case_id",
            "submitter_id",
            "project_id",
            "disease_type",
            "primary_site",
            "gender",
            "race",
            "ethnicity",
            "year_of_birth",
            "vital_status",
            "age_at_diagnosis",
            "experiment_submitter_id",
            "_samples_count",
            "_aliquots_count",
            "_read_groups_count",
            "sample_types",
            "total_weight",
            "samples",
            "data_format",
            "data_type",
            "auth_resource_path"
        ]
    );
    assert_eq!(
        array_fields(&case.fields),
        [
            "experiment_submitter_id",
            "sample_types",
            "samples",
            "samples.aliquots",
            "data_format",
            "data_type"
        ]
    );
    let file = m.by_type("file").unwrap();
    assert_eq!(file.id_field(), "_file_id");
    assert!(
        file.root_types()
            .contains(&"submitted_unaligned_reads".to_owned())
    );
    assert_eq!(file.field("file_size").unwrap().kind, FieldKind::Number);
    assert!(file.field("_case_id").unwrap().array);

    // each error names its key
    let bad = |from: &str, to: &str| {
        assert!(GDC.contains(from), "{from}");
        EtlMapping::parse(&GDC.replacen(from, to, 1), &gdc)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        bad("root: case", "root: nothing"),
        "mappings[0].root: the dictionary has no node \"nothing\""
    );
    assert_eq!(
        bad("path: samples.aliquots\n", "path: samples.nope\n"),
        "mappings[0].aggregated_props[1].path: sample has no children by the backref \"nope\""
    );
    assert_eq!(
        bad("fn: count", "fn: median"),
        "mappings[0].aggregated_props[0].fn: unknown fn \"median\" (count, sum, min, max, set or list)"
    );
    assert_eq!(
        bad(
            "experiments[experiment_submitter_id:submitter_id]",
            "experiments[x:nope]"
        ),
        "mappings[0].parent_props[0].path: experiment has no property \"nope\""
    );
    assert_eq!(
        bad("experiments[", "projects["),
        "mappings[0].parent_props[0].path: case has no link \"projects\""
    );
    assert_eq!(
        bad(
            "      - name: primary_site\n",
            "      - name: primary_sight\n"
        ),
        "mappings[0].props[3].src: case has no property \"primary_sight\""
    );
    assert_eq!(
        bad("index: file", "index: files"),
        "mappings[0].joining_props[0].index: no mapping has doc_type \"files\""
    );
    assert_eq!(
        bad("doc_type: file", "doc_type: case"),
        "mappings[1].doc_type: \"case\" is the doc_type of another mapping"
    );
    assert_eq!(
        bad("type: collector", "type: gatherer"),
        "mappings[1].type: \"gatherer\" is neither `aggregator` nor `collector`"
    );
    assert_eq!(
        bad("category: data_file", "category: nope"),
        "mappings[1].category: the dictionary has no node of category \"nope\""
    );
    assert_eq!(
        bad("  - name: gdc_case\n", "  - nam: gdc_case\n"),
        "mappings[0].name: missing"
    );
    assert!(bad("mappings:", "mappings: [").starts_with("etlMapping: not valid YAML"));
    assert_eq!(
        EtlMapping::parse("other: 1", &gdc).unwrap_err().to_string(),
        "mappings: missing: the file must hold a list `mappings`"
    );
}

#[test]
fn a_mapping_is_derived_from_each_real_dictionary() {
    let Some(dicts) = dictionaries() else { return };
    for d in &dicts {
        let m = EtlMapping::derive(d).unwrap();
        let case = m.by_type("case").expect("a case document");
        for f in [
            "_case_id",
            "submitter_id",
            "project_id",
            "_samples_count",
            "auth_resource_path",
        ] {
            assert!(case.field(f).is_some(), "{f}");
        }
        assert!(
            case.field("gender").is_some(),
            "the demographic is flattened"
        );
        let file = m.by_type("file").expect("a file document");
        for f in [
            "_file_id",
            "object_id",
            "file_name",
            "source_node",
            "_case_id",
        ] {
            assert!(file.field(f).is_some(), "{f}");
        }
    }
}

#[test]
fn downloads_are_written_piece_by_piece_as_json_or_lines() {
    use crate::api::{Download, Format};
    let t = table();
    let all: Vec<usize> = t.live().ones().collect();
    let lock = Arc::new(tokio::sync::RwLock::new(table()));
    let dl = |format| Download {
        table: Arc::clone(&lock),
        rows: all.clone(),
        fields: vec!["name".into(), "tags".into(), "visits.label".into()],
        format,
        pin: None,
    };
    // pieces of one row each join into one JSON array
    let json = dl(Format::Json);
    let mut out = json.head();
    for i in 0..all.len() {
        out.extend(json.render(&t, i, 1));
    }
    out.extend(json.tail());
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
    assert_eq!(
        v[0],
        json!({"name": "Ann", "tags": ["a", "b"],
               "visits": [{"label": "v1", "weight": 60}, {"label": "v2", "weight": 61.5}]})
    );
    assert_eq!(v[1], json!({"name": "Bob", "tags": ["b"], "visits": null}));
    let tsv = dl(Format::Tsv);
    let mut out = tsv.head();
    out.extend(tsv.render(&t, 0, 2));
    out.extend(tsv.render(&t, 2, 2));
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "name\ttags\tvisits.label");
    assert_eq!(lines[2], "Bob\tb\t");
    assert_eq!(lines.len(), 5);
    assert!(lines[1].starts_with("Ann\ta,b\t"), "{}", lines[1]);
    assert_eq!(Format::Csv.content_type(), "text/csv; charset=utf-8");
}

#[test]
fn sub_aggregations_per_bucket() {
    let t = table();
    let all = t.live().clone();
    let gender = t.column("gender").unwrap();
    let per = agg::sub_terms(gender, &all, t.column("tags").unwrap());
    assert_eq!(
        per[&Some("F".to_owned())],
        [("a".to_owned(), 1), ("b".to_owned(), 1)]
    );
    assert_eq!(per[&None], [("a".to_owned(), 1), ("c".to_owned(), 1)]);
    let missing = agg::sub_missing(gender, &all, t.column("age").unwrap());
    assert_eq!(missing.get(&Some("F".to_owned())), None);
    assert_eq!(missing[&None], 1);
}
