//! The two real dictionaries of PyPI (gdcdictionary 1.2.0, gen3dictionary 3.0.0), in both
//! forms a commons uses: the directory of YAML and dictionaryutils' JSON dump.

use serde_json::json;
use weft_dictionary::Dictionary;
use weft_dictionary::testing::{REAL, real_dictionaries};

#[test]
fn both_real_dictionaries_load_the_same_from_yaml_and_from_their_dump() {
    let Some(dir) = real_dictionaries() else {
        return;
    };
    for name in REAL {
        let from_dir =
            Dictionary::from_dir(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let dump = std::fs::read(dir.join(format!("{name}.json"))).unwrap();
        let from_dump =
            Dictionary::from_json_dump(name, &dump).unwrap_or_else(|e| panic!("{name}: {e}"));
        // The dump adds dictionaryutils' version to _settings; everything else is the same.
        let strip = |mut all: serde_json::Value| {
            all["_settings"]
                .as_object_mut()
                .unwrap()
                .retain(|k, _| !k.starts_with("_dict_"));
            all
        };
        let (a, b) = (strip(from_dir.all()), strip(from_dump.all()));
        let differing: Vec<&String> = a
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, v)| b.get(k.as_str()) != Some(v))
            .map(|(k, _)| k)
            .collect();
        assert!(differing.is_empty(), "{name}: differ in {differing:?}");
        assert_eq!(
            a.as_object().unwrap().len(),
            b.as_object().unwrap().len(),
            "{name}"
        );
        assert!(
            from_dump.version().is_some(),
            "{name}: the dump carries a version"
        );

        let ids: Vec<&str> = from_dir.nodes().map(|n| n.id.as_str()).collect();
        for id in [
            "program",
            "project",
            "case",
            "sample",
            "aliquot",
            "read_group",
            "submitted_aligned_reads",
            "core_metadata_collection",
            "root",
            "data_release",
        ] {
            assert!(ids.contains(&id), "{name}: no {id} in {ids:?}");
        }
        let case = from_dir.node("case").unwrap();
        assert_eq!(case.links[0].name, "experiments");
        assert_eq!(case.links[0].target_type, "experiment");
        assert!(
            case.unique_keys
                .contains(&vec!["project_id".to_owned(), "submitter_id".to_owned()])
        );
        let reads = from_dir.node("submitted_aligned_reads").unwrap();
        assert!(reads.is_file());
        assert!(reads.property("md5sum").is_some() && reads.property("object_id").is_some());
        assert_eq!(
            reads.link_groups.len(),
            1,
            "{name}: {:?}",
            reads.link_groups
        );
        let aliquot = from_dir.node("aliquot").unwrap();
        assert!(
            aliquot
                .links
                .iter()
                .any(|l| l.name == "samples" && l.target_type == "sample")
        );
        // Every node's sources resolved: no $ref is left in any served node.
        for node in from_dir.nodes() {
            let text = from_dir.entry(&node.id).unwrap().to_string();
            assert!(
                !text.contains("\"$ref\""),
                "{name}: {} keeps a $ref",
                node.id
            );
        }
    }
}

#[test]
fn real_entities_validate_as_sheepdog_would() {
    let Some(dir) = real_dictionaries() else {
        return;
    };
    for name in REAL {
        let d = Dictionary::from_dir(&dir.join(name)).unwrap();
        let case = json!({"type": "case", "submitter_id": "case-1",
                          "experiments": {"submitter_id": "exp-1"}, "primary_site": "Lung"});
        assert_eq!(d.validate("case", &case).unwrap(), vec![], "{name}");
        let sample = json!({"type": "sample", "submitter_id": "s-1", "cases": [{"submitter_id": "case-1"}],
                            "composition": "not a composition"});
        let v = d.validate("sample", &sample).unwrap();
        assert!(
            v.iter()
                .any(|x| x.keys == ["composition"] && x.message.contains("not a composition")),
            "{name}: {v:?}"
        );
        let file = json!({"type": "submitted_aligned_reads", "submitter_id": "f-1",
                          "data_category": "Sequencing Reads", "data_format": "BAM",
                          "data_type": "Aligned Reads", "experimental_strategy": "WGS",
                          "file_name": "a.bam", "file_size": "12", "md5sum": "nope",
                          "core_metadata_collections": {"submitter_id": "c"}});
        let v = d.validate("submitted_aligned_reads", &file).unwrap();
        let keys: Vec<&str> = v
            .iter()
            .flat_map(|x| x.keys.iter().map(String::as_str))
            .collect();
        assert!(
            keys.contains(&"file_size") && keys.contains(&"md5sum"),
            "{name}: {v:?}"
        );
    }
}
