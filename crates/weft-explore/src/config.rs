//! guppy's configuration file (`explore.guppy_config`): which mapping is which guppy index,
//! the authorization field, the missing-data bucket, and the tier access level of each index.

use serde_json::Value;

use crate::mapping::{AUTH_FIELD, EtlMapping};

/// How much a caller sees of what it may not read (guppy's `tier_access_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Only what it may read.
    Private,
    /// Counts of everything, small counts of what it may not read hidden (`-1`); rows only
    /// of what it may read.
    Regular,
    /// Everything.
    Libre,
}

impl Tier {
    /// `private`, `regular` or `libre`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "private" => Some(Self::Private),
            "regular" => Some(Self::Regular),
            "libre" => Some(Self::Libre),
            _ => None,
        }
    }
}

/// What of guppy's configuration weft reads.
#[derive(Debug, Clone)]
pub struct GuppyConfig {
    /// `(index name, guppy type, its own tier level)` per index.
    pub indices: Vec<(String, String, Option<Tier>)>,
    pub auth_filter_field: String,
    pub aggs_include_missing_data: bool,
    pub missing_data_alias: String,
    /// The level of indices that name none.
    pub tier_access_level: Tier,
    /// Below this many documents the caller may not read, a count is hidden.
    pub tier_access_limit: u64,
    /// Bucket keys never hidden.
    pub encrypt_whitelist: Vec<String>,
}

impl GuppyConfig {
    /// The configuration of a mapping with guppy's defaults.
    #[must_use]
    pub fn defaults(mapping: &EtlMapping, tier: Tier, limit: u64) -> Self {
        Self {
            indices: mapping
                .indices
                .iter()
                .map(|m| (m.name.clone(), m.doc_type.clone(), None))
                .collect(),
            auth_filter_field: AUTH_FIELD.to_owned(),
            aggs_include_missing_data: true,
            missing_data_alias: "no data".to_owned(),
            tier_access_level: tier,
            tier_access_limit: limit,
            encrypt_whitelist: Vec::new(),
        }
    }

    /// guppy's JSON file over the defaults; every index it names must be a mapping's
    /// (by `type`), and an error names the key.
    pub fn parse(text: &str, mapping: &EtlMapping, tier: Tier, limit: u64) -> Result<Self, String> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| format!("guppy config: not valid JSON: {e}"))?;
        let mut c = Self::defaults(mapping, tier, limit);
        if let Some(list) = v.get("indices") {
            let Value::Array(list) = list else {
                return Err("guppy config: indices: must be a list".into());
            };
            c.indices.clear();
            for (i, ix) in list.iter().enumerate() {
                let text = |k: &str| {
                    ix.get(k)
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| format!("guppy config: indices[{i}].{k}: missing"))
                };
                let (index, ty) = (text("index")?, text("type")?);
                if mapping.by_type(&ty).is_none() {
                    return Err(format!(
                        "guppy config: indices[{i}].type: no mapping has doc_type {ty:?}"
                    ));
                }
                let level = match ix.get("tier_access_level") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(Tier::parse(s).ok_or_else(|| {
                        format!("guppy config: indices[{i}].tier_access_level: {s:?} is not private, regular or libre")
                    })?),
                    Some(_) => {
                        return Err(format!(
                            "guppy config: indices[{i}].tier_access_level: must be a string"
                        ));
                    }
                };
                c.indices.push((index, ty, level));
            }
        }
        if let Some(f) = v.get("auth_filter_field") {
            c.auth_filter_field = f
                .as_str()
                .ok_or("guppy config: auth_filter_field: must be a string")?
                .to_owned();
            if c.auth_filter_field != AUTH_FIELD {
                return Err(format!(
                    "guppy config: auth_filter_field: only {AUTH_FIELD:?} is served"
                ));
            }
        }
        if let Some(b) = v.get("aggs_include_missing_data") {
            c.aggs_include_missing_data = b
                .as_bool()
                .ok_or("guppy config: aggs_include_missing_data: must be true or false")?;
        }
        if let Some(a) = v.get("missing_data_alias") {
            c.missing_data_alias = a
                .as_str()
                .ok_or("guppy config: missing_data_alias: must be a string")?
                .to_owned();
        }
        if let Some(l) = v.get("tier_access_limit") {
            c.tier_access_limit = l
                .as_u64()
                .ok_or("guppy config: tier_access_limit: must be a whole number")?;
        }
        if v.get("enable_encrypt_whitelist").and_then(Value::as_bool) == Some(true) {
            c.encrypt_whitelist = match v.get("encrypt_whitelist") {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                _ => ["__missing__", "unknown", "not reported", "no data"]
                    .map(str::to_owned)
                    .to_vec(),
            };
        }
        Ok(c)
    }

    /// The tier level of a guppy type.
    #[must_use]
    pub fn tier_of(&self, doc_type: &str) -> Tier {
        self.indices
            .iter()
            .find(|(_, t, _)| t == doc_type)
            .and_then(|(_, _, l)| *l)
            .unwrap_or(self.tier_access_level)
    }

    /// Whether guppy serves a type.
    #[must_use]
    pub fn serves(&self, doc_type: &str) -> bool {
        self.indices.iter().any(|(_, t, _)| t == doc_type)
    }
}
