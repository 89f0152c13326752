//! A small dictionary written for these tests; the real ones (gdcdictionary,
//! gen3dictionary) are loaded in `tests/real.rs`.

use super::*;
use serde_json::json;

pub(crate) fn mini() -> Files {
    let link = |name: &str, backref: &str, target: &str, m: &str, required: bool| {
        json!({"name": name, "backref": backref, "label": "member_of", "target_type": target,
               "multiplicity": m, "required": required})
    };
    let node = |id: &str, category: &str, links: Value, required: Value, props: Value| {
        let mut properties = json!({
            "type": {"type": "string"},
            "id": {"$ref": "_definitions.yaml#/UUID", "systemAlias": "node_id"},
            "submitter_id": {"type": ["string", "null"]},
            "state": {"$ref": "_definitions.yaml#/state"},
            "project_id": {"$ref": "_definitions.yaml#/project_id"},
            "created_datetime": {"$ref": "_definitions.yaml#/datetime"},
            "updated_datetime": {"$ref": "_definitions.yaml#/datetime"}});
        for (k, v) in props.as_object().unwrap() {
            properties[k] = v.clone();
        }
        json!({"$schema": "http://json-schema.org/draft-04/schema#", "id": id, "title": id,
               "type": "object", "category": category, "program": "*", "project": "*",
               "additionalProperties": false, "submittable": true, "validators": null,
               "systemProperties": ["id", "project_id", "state", "created_datetime", "updated_datetime"],
               "links": links, "required": required,
               "uniqueKeys": [["id"], ["project_id", "submitter_id"]], "properties": properties})
    };
    let mut files = Files::new();
    files.insert(
        "_definitions.yaml".into(),
        json!({
            "UUID": {"type": "string", "pattern": "^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$",
                     "term": {"$ref": "_terms.yaml#/UUID"}},
            "foreign_key": {"type": "object", "additionalProperties": true,
                            "properties": {"id": {"$ref": "#/UUID"}, "submitter_id": {"type": "string"}}},
            "to_one": {"anyOf": [{"type": "array", "items": {"$ref": "#/foreign_key"}, "maxItems": 1},
                                 {"$ref": "#/foreign_key"}]},
            "to_many": {"anyOf": [{"type": "array", "items": {"$ref": "#/foreign_key"}},
                                  {"$ref": "#/foreign_key"}]},
            "datetime": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
            "state": {"default": "validated", "enum": ["validated", "submitted", "released"]},
            "project_id": {"type": "string"},
            "file_state": {"default": "registered", "enum": ["registered", "uploading", "uploaded"]},
            "data_file_properties": {
                "file_name": {"type": "string"}, "file_size": {"type": "integer"},
                "md5sum": {"type": "string", "pattern": "^[a-f0-9]{32}$"},
                "object_id": {"type": "string"}, "file_state": {"$ref": "#/file_state"}}}),
    );
    files.insert(
        "_terms.yaml".into(),
        json!({"UUID": {"description": "A universally unique identifier."}}),
    );
    files.insert(
        "_settings.yaml".into(),
        json!({"enable_case_cache": false, "_dict_version": "9.9.9", "_dict_commit": "abc"}),
    );
    files.insert(
        "program.yaml".into(),
        json!({"$schema": "http://json-schema.org/draft-04/schema#", "id": "program", "title": "Program",
               "type": "object", "category": "administrative", "program": "*", "project": "*",
               "additionalProperties": false, "submittable": false, "validators": null,
               "systemProperties": ["id"], "required": ["name", "dbgap_accession_number"],
               "uniqueKeys": [["id"], ["name"]], "links": [],
               "properties": {"type": {"type": "string"},
                              "id": {"$ref": "_definitions.yaml#/UUID"},
                              "name": {"type": "string"},
                              "dbgap_accession_number": {"type": "string"}}}),
    );
    files.insert(
        "project.yaml".into(),
        json!({"$schema": "http://json-schema.org/draft-04/schema#", "id": "project", "title": "Project",
               "type": "object", "category": "administrative", "program": "*", "project": "*",
               "additionalProperties": false, "submittable": true, "validators": null,
               "systemProperties": ["id", "state"], "required": ["code", "name", "dbgap_accession_number", "programs"],
               "uniqueKeys": [["id"], ["code"]],
               "links": [link("programs", "projects", "program", "many_to_one", true)],
               "properties": {"type": {"type": "string"},
                              "id": {"$ref": "_definitions.yaml#/UUID"},
                              "name": {"type": "string"}, "code": {"type": "string"},
                              "dbgap_accession_number": {"type": "string"},
                              "availability_type": {"enum": ["Open", "Restricted"]},
                              "state": {"default": "open", "enum": ["open", "review"]},
                              "programs": {"$ref": "_definitions.yaml#/to_one"}}}),
    );
    files.insert(
        "case.yaml".into(),
        node(
            "case",
            "administrative",
            json!([link("projects", "cases", "project", "many_to_one", true)]),
            json!(["submitter_id", "type", "projects"]),
            json!({"projects": {"$ref": "_definitions.yaml#/to_one"},
                   "age": {"type": "integer"}, "weight": {"type": "number"},
                   "alive": {"type": "boolean"}, "tags": {"type": "array", "items": {"type": "string"}},
                   "sex": {"enum": ["female", "male", "unknown"]}}),
        ),
    );
    files.insert(
        "sample.yaml".into(),
        node(
            "sample",
            "biospecimen",
            json!([link("cases", "samples", "case", "many_to_many", true)]),
            json!(["submitter_id", "type", "cases"]),
            json!({"cases": {"$ref": "_definitions.yaml#/to_many"}, "tissue": {"type": "string"}}),
        ),
    );
    let mut file = node(
        "reads",
        "data_file",
        json!([{"exclusive": false, "required": true, "subgroup": [
            link("samples", "reads_files", "sample", "many_to_many", false),
            link("cases", "reads_files", "case", "many_to_one", false)]}]),
        json!(["submitter_id", "type", "file_name", "file_size", "md5sum"]),
        json!({"samples": {"$ref": "_definitions.yaml#/to_many"},
               "cases": {"$ref": "_definitions.yaml#/to_one"}}),
    );
    file["properties"]["$ref"] = json!("_definitions.yaml#/data_file_properties");
    files.insert("reads.yaml".into(), file);
    files
}

fn load(files: Files) -> Result<Dictionary, DictionaryError> {
    Dictionary::from_files(files)
}

#[test]
fn a_dictionary_loads_with_the_builtin_nodes() {
    let d = load(mini()).unwrap();
    let ids: Vec<&str> = d.nodes().map(|n| n.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "case",
            "data_release",
            "program",
            "project",
            "reads",
            "root",
            "sample"
        ]
    );
    assert_eq!(d.version(), Some("9.9.9"));
    assert_eq!(d.commit(), Some("abc"));
    let reads = d.node("reads").unwrap();
    assert!(reads.is_file() && reads.in_project());
    // The bundle was merged into the node's own properties.
    assert_eq!(
        reads.property("md5sum").unwrap().schema["pattern"],
        "^[a-f0-9]{32}$"
    );
    assert!(reads.property("file_size").unwrap().kinds.integer);
    assert_eq!(reads.link_groups.len(), 1);
    assert!(!d.node("program").unwrap().in_project());
    let children: Vec<(&str, &str)> = d
        .links_to("case")
        .map(|(n, l)| (n.id.as_str(), l.name.as_str()))
        .collect();
    assert_eq!(children, [("reads", "cases"), ("sample", "cases")]);
}

#[test]
fn entries_are_the_resolved_sources() {
    let d = load(mini()).unwrap();
    let case = d.entry("case").unwrap();
    assert_eq!(
        case["properties"]["id"]["term"]["description"],
        "A universally unique identifier."
    );
    // Definitions are served as written.
    assert_eq!(
        d.entry("_definitions").unwrap()["UUID"]["term"],
        json!({"$ref": "_terms.yaml#/UUID"})
    );
    // Sources are served as written: nulls are allowed only in the validating schema.
    assert_eq!(case["properties"]["age"], json!({"type": "integer"}));
    assert_eq!(
        d.node("case").unwrap().property("age").unwrap().schema["type"],
        json!(["integer", "null"])
    );
    assert!(d.entry("metaschema").is_some() && d.entry("_definitions").is_some());
    assert!(d.entry("_terms").is_some() && d.entry("_settings").is_some());
    assert!(d.entry("nope").is_none());
    let all = d.all();
    for key in ["case", "root", "data_release", "_definitions", "metaschema"] {
        assert!(all.get(key).is_some(), "{key} missing from _all");
    }
}

#[test]
fn entities_are_checked_against_their_node() {
    let d = load(mini()).unwrap();
    let ok = json!({"type": "case", "submitter_id": "c1", "projects": {"code": "P"},
                    "age": 3, "weight": 2.5, "alive": true, "tags": ["a"], "sex": null});
    assert_eq!(d.validate("case", &ok).unwrap(), vec![]);

    let bad = json!({"type": "case", "projects": {"code": "P"}, "age": "three",
                     "sex": "other", "colour": "red"});
    let v = d.validate("case", &bad).unwrap();
    let find = |key: &str| {
        v.iter()
            .find(|x| x.keys == [key])
            .unwrap_or_else(|| panic!("{key}: {v:?}"))
    };
    assert_eq!(find("submitter_id").kind, ViolationKind::MissingProperty);
    let age = find("age");
    assert_eq!(age.kind, ViolationKind::InvalidValue);
    assert!(
        age.message.contains("three") && age.message.contains("age"),
        "{}",
        age.message
    );
    assert_eq!(find("sex").kind, ViolationKind::InvalidValue);
    assert!(find("sex").message.contains("other"));
    assert_eq!(find("colour").kind, ViolationKind::InvalidProperty);
    assert_eq!(v.len(), 4, "{v:?}");

    // A link of the wrong shape is a link error; a required link may not be null.
    let v = d
        .validate(
            "case",
            &json!({"type": "case", "submitter_id": "c", "projects": 5}),
        )
        .unwrap();
    assert_eq!(v[0].kind, ViolationKind::InvalidLink);
    let v = d
        .validate(
            "case",
            &json!({"type": "case", "submitter_id": "c", "projects": null}),
        )
        .unwrap();
    assert_eq!(v[0].keys, ["projects"]);
    assert!(d.validate("nope", &json!({})).is_none());
}

#[test]
fn a_broken_dictionary_names_file_node_and_key() {
    let mut f = mini();
    f.get_mut("case.yaml")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove("category");
    let e = load(f).unwrap_err();
    assert_eq!(
        (e.file.as_str(), e.node.as_deref()),
        ("case.yaml", Some("case"))
    );
    assert!(e.message.contains("category"), "{e}");

    let mut f = mini();
    f.get_mut("sample.yaml").unwrap()["links"][0]["target_type"] = json!("nothing");
    let e = load(f).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("links[0].target_type"));
    assert!(
        e.to_string().contains("sample.yaml") && e.message.contains("nothing"),
        "{e}"
    );

    let mut f = mini();
    f.get_mut("sample.yaml").unwrap()["links"][0]["multiplicity"] = json!("lots");
    let e = load(f).unwrap_err();
    assert_eq!(e.node.as_deref(), Some("sample"));
    assert!(e.key.as_deref().unwrap_or("").starts_with("links"), "{e}");

    let mut f = mini();
    f.get_mut("case.yaml").unwrap()["uniqueKeys"] = json!([["id"], ["project_id", "nickname"]]);
    let e = load(f).unwrap_err();
    assert!(e.message.contains("nickname"), "{e}");

    let mut f = mini();
    f.get_mut("case.yaml").unwrap()["properties"]["age"]["type"] = json!("integr");
    let e = load(f).unwrap_err();
    assert_eq!(e.node.as_deref(), Some("case"));
    assert!(e.to_string().contains("properties.age"), "{e}");

    let mut f = mini();
    f.get_mut("case.yaml").unwrap()["properties"]["age"] =
        json!({"$ref": "_definitions.yaml#/nope"});
    let e = load(f).unwrap_err();
    assert_eq!(e.file, "case.yaml");
    assert!(e.to_string().contains("/properties/age/$ref"), "{e}");
}

#[test]
fn a_directory_and_a_json_dump_load_the_same() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value) in mini() {
        // JSON is YAML: the directory form is read through the YAML parser.
        std::fs::write(
            dir.path().join(name),
            serde_json::to_string_pretty(&value).unwrap(),
        )
        .unwrap();
    }
    std::fs::create_dir(dir.path().join("projects")).unwrap();
    std::fs::write(dir.path().join("README.md"), "not a node").unwrap();
    let from_dir = Dictionary::from_dir(dir.path()).unwrap();
    let dump = serde_json::to_vec(&Value::Object(mini().into_iter().collect())).unwrap();
    let from_dump = Dictionary::from_json_dump("dump.json", &dump).unwrap();
    assert_eq!(from_dir.all(), from_dump.all());

    let e = Dictionary::from_json_dump("dump.json", b"[1]").unwrap_err();
    assert!(e.to_string().contains("dump.json"), "{e}");
    std::fs::write(dir.path().join("bad.yaml"), "a: [1,\n").unwrap();
    let e = Dictionary::from_dir(dir.path()).unwrap_err();
    assert_eq!(e.file, "bad.yaml");
    assert!(e.message.contains("YAML"), "{e}");
}
