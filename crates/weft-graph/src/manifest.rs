//! `POST /validation/upload_manifest`: whether an upload manifest (`{"files": [...]}`, as
//! `.../manifest` writes it) is well formed: each file an object with an `id` (a UUID) and a
//! `project_id`, and a `file_name` or a `local_file_path`; `file_size` an integer and
//! `md5sum` 32 lowercase hex digits where given. The answer lists every problem.

use std::sync::LazyLock;

use serde_json::{Value, json};

static VALIDATOR: LazyLock<Option<jsonschema::Validator>> = LazyLock::new(|| {
    let uuid = "^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$";
    let schema = json!({
        "type": "object",
        "properties": {"files": {"type": "array", "items": {
            "type": "object",
            "properties": {
                "id": {"type": "string", "pattern": uuid},
                "file_name": {"type": "string"},
                "local_file_path": {"type": "string"},
                "file_size": {"type": "integer"},
                "md5sum": {"type": "string", "pattern": "^[a-f0-9]{32}$"},
                "type": {"type": "string"},
                "project_id": {"type": "string"},
            },
            "anyOf": [
                {"required": ["id", "file_name", "project_id"]},
                {"required": ["id", "local_file_path", "project_id"]},
            ],
        }}},
    });
    jsonschema::draft4::options()
        .should_validate_formats(false)
        .build(&schema)
        .ok()
});

/// Every problem of `manifest`, each naming where it is; empty when it is valid.
pub fn problems(manifest: &Value) -> Vec<String> {
    let Some(validator) = VALIDATOR.as_ref() else {
        return vec!["the manifest schema could not be compiled".into()];
    };
    validator
        .iter_errors(manifest)
        .map(|e| {
            let at = e.instance_path().as_str().to_owned();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_checked() {
        let id = "0123abcd-0123-4567-89ab-0123456789ab";
        let ok = json!({"files": [{"id": id, "file_name": "a.bam", "project_id": "P-Q", "file_size": 3}]});
        assert!(problems(&ok).is_empty());
        let bad = json!({"files": [{"id": "nope", "project_id": "P-Q", "md5sum": "XYZ", "file_size": "3"}]});
        let p = problems(&bad);
        assert!(p.iter().any(|m| m.contains("/files/0/id")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("/files/0/md5sum")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("/files/0/file_size")), "{p:?}");
        assert!(p.len() >= 4, "{p:?}");
        assert!(!problems(&json!([1])).is_empty());
    }
}
