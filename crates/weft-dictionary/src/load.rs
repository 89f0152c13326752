//! Reading a dictionary's files and resolving their `$ref`s, as Gen3's dictionaryutils does.
//!
//! A dictionary is a set of files keyed by name (`case.yaml`, `_definitions.yaml`, …): a
//! directory of YAML, or the JSON dump a commons publishes (one object keyed by file name).
//! weft's own `metaschema.yaml`, `root.yaml` and `data_release.yaml` are always added (the
//! dictionary's files win where names clash). Every object key starting with `$ref` is
//! replaced by what it points at (`file.yaml#/json/pointer`, or `#/pointer` in the same
//! file), resolved in its own file first; the object's other keys stay unless the target has
//! them too (its keys win), which is how a node merges a bundle such as
//! `data_file_properties` into its `properties`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::DictionaryError;

/// A dictionary's files, each parsed into JSON and not yet resolved.
pub type Files = BTreeMap<String, Value>;

const BUILTIN: [(&str, &str); 3] = [
    ("metaschema.yaml", include_str!("builtin/metaschema.yaml")),
    ("root.yaml", include_str!("builtin/root.yaml")),
    (
        "data_release.yaml",
        include_str!("builtin/data_release.yaml"),
    ),
];

/// How deep `$ref`s may chain before the dictionary is called cyclic.
const MAX_REF_DEPTH: usize = 64;

/// The parser's options: YAML 1.2 booleans only (`true`/`false`), so an enum value such as
/// `Y` stays the string it is in Gen3's own loader; the budget fits the largest dictionaries.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        budget: serde_saphyr::budget! {
            max_events: 50_000_000,
            max_nodes: 20_000_000,
            max_total_scalar_bytes: 256 << 20,
        },
    }
}

/// Parse one YAML file's text.
pub fn parse_yaml(file: &str, text: &str) -> Result<Value, DictionaryError> {
    serde_saphyr::from_str_with_options::<Value>(text, yaml_options()).map_err(|e| {
        DictionaryError::file(file, format!("not valid YAML: {}", e.without_snippet()))
    })
}

/// weft's built-in files, parsed.
pub fn builtin_files() -> Files {
    BUILTIN
        .iter()
        .map(|(name, text)| {
            let value = parse_yaml(name, text).unwrap_or(Value::Null);
            ((*name).to_owned(), value)
        })
        .collect()
}

/// The `*.yaml` files directly in `dir` (sub-directories are not read, as in Gen3).
pub fn read_dir(dir: &Path) -> Result<Files, DictionaryError> {
    let origin = dir.display().to_string();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| DictionaryError::file(&origin, format!("cannot read the directory: {e}")))?;
    let mut files = Files::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| DictionaryError::file(&origin, format!("cannot list: {e}")))?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".yaml") || !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| DictionaryError::file(name, format!("cannot read: {e}")))?;
        files.insert(name.to_owned(), parse_yaml(name, &text)?);
    }
    if files.is_empty() {
        return Err(DictionaryError::file(&origin, "holds no *.yaml file"));
    }
    Ok(files)
}

/// The files of a JSON dump: one object keyed by file name.
pub fn read_json_dump(origin: &str, bytes: &[u8]) -> Result<Files, DictionaryError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| DictionaryError::file(origin, format!("not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(DictionaryError::file(
            origin,
            "a dictionary dump must be a JSON object keyed by file name",
        ));
    };
    if map.is_empty() {
        return Err(DictionaryError::file(
            origin,
            "the dictionary dump is empty",
        ));
    }
    Ok(map.into_iter().collect())
}

/// Resolves `$ref`s across a set of files.
pub struct Resolver<'a> {
    files: &'a Files,
}

impl<'a> Resolver<'a> {
    pub fn new(files: &'a Files) -> Self {
        Self { files }
    }

    /// The whole file `name`, resolved.
    pub fn resolve_file(&self, name: &str) -> Result<Value, DictionaryError> {
        let raw = self
            .files
            .get(name)
            .ok_or_else(|| DictionaryError::file(name, "no such file"))?;
        let mut trail = Vec::new();
        self.resolve(raw, name, "", &mut trail)
    }

    /// `value` (found in `file` at `at`) with its `$ref`s replaced.
    fn resolve(
        &self,
        value: &Value,
        file: &str,
        at: &str,
        trail: &mut Vec<String>,
    ) -> Result<Value, DictionaryError> {
        match value {
            Value::Object(map) => {
                let mut out = Map::new();
                let mut targets = Vec::new();
                for (key, v) in map {
                    if key.starts_with("$ref") {
                        let Value::String(reference) = v else {
                            return Err(DictionaryError::key(
                                file,
                                &format!("{at}/{key}"),
                                "a $ref must be a string",
                            ));
                        };
                        targets.push(self.target(
                            reference,
                            file,
                            &format!("{at}/{key}"),
                            trail,
                        )?);
                    } else {
                        let inner = format!("{at}/{key}");
                        out.insert(key.clone(), self.resolve(v, file, &inner, trail)?);
                    }
                }
                for target in targets {
                    match target {
                        Value::Object(t) => {
                            for (k, v) in t {
                                out.insert(k, v);
                            }
                        }
                        _ => {
                            return Err(DictionaryError::key(
                                file,
                                at,
                                "a $ref must point at an object",
                            ));
                        }
                    }
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| self.resolve(v, file, &format!("{at}/{i}"), trail))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => Ok(other.clone()),
        }
    }

    /// What `reference` (written in `file` at `at`) points at, resolved in its own file.
    fn target(
        &self,
        reference: &str,
        file: &str,
        at: &str,
        trail: &mut Vec<String>,
    ) -> Result<Value, DictionaryError> {
        let Some((base, pointer)) = reference.split_once('#') else {
            return Err(DictionaryError::key(
                file,
                at,
                format!("the $ref `{reference}` has no `#`"),
            ));
        };
        let target_file = if base.is_empty() { file } else { base };
        let Some(source) = self.files.get(target_file) else {
            return Err(DictionaryError::key(
                file,
                at,
                format!(
                    "the $ref `{reference}` names the file `{target_file}`, which the dictionary does not have"
                ),
            ));
        };
        let found = if pointer.is_empty() {
            Some(source)
        } else {
            source.pointer(pointer)
        };
        let Some(found) = found else {
            return Err(DictionaryError::key(
                file,
                at,
                format!("the $ref `{reference}` points at nothing"),
            ));
        };
        let id = format!("{target_file}#{pointer}");
        if trail.contains(&id) || trail.len() >= MAX_REF_DEPTH {
            return Err(DictionaryError::key(
                file,
                at,
                format!("the $ref `{reference}` refers back to itself"),
            ));
        }
        trail.push(id);
        let resolved = self.resolve(found, target_file, pointer, trail);
        trail.pop();
        resolved
    }
}

/// Gen3's `allow_nulls`: every property that is neither required nor a required link also
/// accepts `null` (its `type` gains `"null"`, or its `enum` gains `null`, or its `anyOf` or
/// `oneOf` gains `{"type": "null"}`), which is how a submitter clears a value.
pub fn allow_nulls(schema: &mut Value, required: &[String]) {
    let Some(Value::Object(props)) = schema.get_mut("properties") else {
        return;
    };
    let null_type = serde_json::json!({"type": "null"});
    for (name, prop) in props.iter_mut() {
        if required.contains(name) {
            continue;
        }
        let Value::Object(prop) = prop else { continue };
        if let Some(ty) = prop.get_mut("type") {
            match ty {
                Value::Array(types) if !types.iter().any(|t| t == "null") => {
                    types.push(Value::from("null"));
                }
                Value::Array(_) => {}
                other if other != "null" => {
                    let single = other.take();
                    *other = Value::Array(vec![single, Value::from("null")]);
                }
                _ => {}
            }
        } else if let Some(Value::Array(values)) = prop.get_mut("enum") {
            if !values.contains(&Value::Null) {
                values.push(Value::Null);
            }
        } else if let Some(Value::Array(any)) = prop.get_mut("anyOf") {
            if !any.contains(&null_type) {
                any.push(null_type.clone());
            }
        } else if let Some(Value::Array(one)) = prop.get_mut("oneOf")
            && !one.contains(&null_type)
        {
            one.push(null_type.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn files(pairs: &[(&str, Value)]) -> Files {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn refs_merge_across_files_and_within_one() {
        let f = files(&[
            (
                "_definitions.yaml",
                json!({"UUID": {"type": "string", "pattern": "^u$"},
                       "ids": {"type": "array", "items": {"$ref": "#/UUID"}},
                       "bundle": {"a": {"type": "string"}, "b": {"$ref": "#/UUID"}}}),
            ),
            (
                "case.yaml",
                json!({"id": "case", "properties": {
                    "$ref": "_definitions.yaml#/bundle",
                    "c": {"$ref": "_definitions.yaml#/ids", "description": "kept"},
                    "a": {"type": "integer"}}}),
            ),
        ]);
        let case = Resolver::new(&f).resolve_file("case.yaml").unwrap();
        assert_eq!(
            case["properties"]["b"],
            json!({"type": "string", "pattern": "^u$"})
        );
        assert_eq!(case["properties"]["c"]["items"]["pattern"], "^u$");
        assert_eq!(case["properties"]["c"]["description"], "kept");
        // The bundle's keys win over the node's own, as in dictionaryutils.
        assert_eq!(case["properties"]["a"], json!({"type": "string"}));
    }

    #[test]
    fn broken_refs_name_the_file_and_key() {
        let f = files(&[(
            "case.yaml",
            json!({"properties": {"x": {"$ref": "_nope.yaml#/a"}}}),
        )]);
        let e = Resolver::new(&f)
            .resolve_file("case.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("case.yaml") && e.contains("/properties/x/$ref") && e.contains("_nope.yaml"),
            "{e}"
        );

        let f = files(&[(
            "a.yaml",
            json!({"x": {"$ref": "#/y"}, "y": {"$ref": "#/x"}}),
        )]);
        let e = Resolver::new(&f)
            .resolve_file("a.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("refers back to itself"), "{e}");

        let f = files(&[("a.yaml", json!({"x": {"$ref": "#/missing"}}))]);
        let e = Resolver::new(&f)
            .resolve_file("a.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("points at nothing"), "{e}");
    }

    #[test]
    fn nulls_are_allowed_where_a_value_is_optional() {
        let mut s = json!({"properties": {
            "req": {"type": "string"},
            "t": {"type": "string"},
            "ts": {"type": ["string", "integer"]},
            "e": {"enum": ["a"]},
            "any": {"anyOf": [{"type": "string"}]},
            "one": {"oneOf": [{"type": "string"}, {"type": "null"}]}}});
        allow_nulls(&mut s, &["req".to_owned()]);
        let p = &s["properties"];
        assert_eq!(p["req"], json!({"type": "string"}));
        assert_eq!(p["t"]["type"], json!(["string", "null"]));
        assert_eq!(p["ts"]["type"], json!(["string", "integer", "null"]));
        assert_eq!(p["e"]["enum"], json!(["a", null]));
        assert_eq!(
            p["any"]["anyOf"],
            json!([{"type": "string"}, {"type": "null"}])
        );
        assert_eq!(
            p["one"]["oneOf"],
            json!([{"type": "string"}, {"type": "null"}])
        );
    }

    #[test]
    fn builtins_parse() {
        let b = builtin_files();
        assert_eq!(b["root.yaml"]["id"], "root");
        assert_eq!(b["data_release.yaml"]["links"][0]["target_type"], "root");
        assert!(b["metaschema.yaml"]["required"].as_array().is_some());
    }
}
