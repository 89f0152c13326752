//! The `[hub]` section: weft as an aggregate metadata service (Gen3's data hub).
//!
//! The commons a hub pulls from are described in aggregate MDS's own configuration format
//! (`configuration`, `gen3_commons`, `adapter_commons`), either in its JSON file
//! (`hub.config_file`, the file `populate.py --config` reads) or inline in TOML under the
//! same names, or both (names must not repeat). The Gen3-format structures accept keys they
//! do not know, as aggregate MDS does, so real configuration files load unchanged; weft's
//! own keys (`HubConfig`) do not.
//!
//! Only the `gen3` adapter (and the `gen3_commons` form) is served: any other adapter is a
//! configuration error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ConfigError;

/// The hub: which commons to aggregate and how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HubConfig {
    /// An aggregate MDS configuration file (JSON, Gen3's format). Its commons are added to
    /// those listed inline below.
    pub config_file: Option<PathBuf>,
    /// Seconds between two pulls of a commons. Default 3600.
    pub sync_interval_secs: u64,
    /// Seconds before the first retry of a commons whose pull failed; each further failure
    /// doubles the wait, up to `sync_interval_secs`. Default 5.
    pub retry_min_secs: u64,
    /// Seconds one page request to a commons may take. Default 60.
    pub request_timeout_secs: u64,
    /// Largest body of one page a commons may answer, in bytes; a longer one (or one that
    /// never ends) fails that commons' pull. Default 67108864 (64 MiB).
    pub max_page_bytes: u64,
    /// Most bytes of page bodies one pull of a commons may read, all pages together; past
    /// it the pull fails. Default 2147483648 (2 GiB).
    pub max_pull_bytes: u64,
    /// Most distinct records one pull of a commons may bring; past it the pull fails.
    /// Default 1000000.
    pub max_pull_records: u64,
    /// Directory of the discovery search index (rebuilt from the database at every start).
    /// Default `<data_dir>/hub-search`.
    pub search_dir: Option<PathBuf>,
    /// Aggregate MDS's `configuration` (schema, settings).
    pub configuration: AggConfiguration,
    /// Aggregate MDS's `gen3_commons` (the non-adapter form), by commons name.
    pub gen3_commons: BTreeMap<String, Gen3Commons>,
    /// Aggregate MDS's `adapter_commons`, by commons name. Only adapter `gen3` is served.
    pub adapter_commons: BTreeMap<String, AdapterCommons>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            config_file: None,
            sync_interval_secs: 3600,
            retry_min_secs: 5,
            request_timeout_secs: 60,
            max_page_bytes: 64 << 20,
            max_pull_bytes: 2 << 30,
            max_pull_records: 1_000_000,
            search_dir: None,
            configuration: AggConfiguration::default(),
            gen3_commons: BTreeMap::new(),
            adapter_commons: BTreeMap::new(),
        }
    }
}

/// Aggregate MDS's whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AggFile {
    pub configuration: AggConfiguration,
    pub gen3_commons: BTreeMap<String, Gen3Commons>,
    pub adapter_commons: BTreeMap<String, AdapterCommons>,
}

/// `configuration`: the normalized fields' schema and global settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AggConfiguration {
    /// Field name → `{type, description, default, properties, items}`; `type` is one of
    /// string (default), integer, number, array, object, nested.
    pub schema: Map<String, Value>,
    pub settings: AggSettings,
    /// Served as `/mds/aggregate/info/aggregations`.
    pub aggregations: Map<String, Value>,
}

/// `configuration.settings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AggSettings {
    /// Gen3 copies dataguids.org's DRS prefix cache when set; weft serves the prefixes of
    /// its configured commons instead (`drs_prefixes`) and ignores this.
    pub cache_drs: bool,
    pub drs_indexd_server: Option<String>,
    pub timestamp_entry: bool,
    pub array_config_prefix: Option<String>,
}

/// `select_field`: keep only studies whose study field `field_name` equals `field_value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectField {
    pub field_name: String,
    pub field_value: Value,
}

/// One `gen3_commons` entry (aggregate MDS's `MDSInstance`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gen3Commons {
    /// Base URL of the commons; its `<mds_url>/mds/metadata` is pulled.
    pub mds_url: String,
    /// The commons' public host, served in its info document.
    pub commons_url: String,
    /// `column → field` (a field name, or `{name, missing, default, type}`): copies the
    /// study's `field` into `column`.
    #[serde(default)]
    pub columns_to_fields: Option<Map<String, Value>>,
    #[serde(default = "default_study_field")]
    pub study_data_field: String,
    #[serde(default = "default_guid_type")]
    pub guid_type: String,
    #[serde(default)]
    pub data_dict_field: Option<String>,
    #[serde(default)]
    pub select_field: Option<SelectField>,
    /// weft: the commons' GUID prefixes (e.g. `dg.AAAA`), for cross-commons DRS resolution
    /// and `/mds/aggregate/info/{prefix}`.
    #[serde(default)]
    pub drs_prefixes: Vec<String>,
    /// weft: the commons' DRS hostname (`drs://HOST/...`). Default: the host of `mds_url`.
    #[serde(default)]
    pub drs_hostname: Option<String>,
}

/// One `adapter_commons` entry (aggregate MDS's `AdapterMDSInstance`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterCommons {
    pub mds_url: String,
    pub commons_url: String,
    /// Only `gen3` is served.
    pub adapter: String,
    #[serde(default)]
    pub config: AdapterOptions,
    #[serde(default)]
    pub filters: Option<Value>,
    /// Normalized field → a literal, `"path:<JSONPath>"`, or `{path, default, filters,
    /// filterParams}`.
    #[serde(default)]
    pub field_mappings: Option<Map<String, Value>>,
    /// GUID → `{field: value}` overriding fields the study has.
    #[serde(default)]
    pub per_item_values: Option<Map<String, Value>>,
    #[serde(default = "default_study_field")]
    pub study_data_field: String,
    #[serde(default)]
    pub data_dict_field: Option<String>,
    #[serde(default = "default_true")]
    pub keep_original_fields: bool,
    #[serde(default)]
    pub global_field_filters: Vec<String>,
    /// Served as the studies' `commons_name` instead of the entry's name.
    #[serde(default)]
    pub commons_name: Option<String>,
    /// weft: see [`Gen3Commons::drs_prefixes`].
    #[serde(default)]
    pub drs_prefixes: Vec<String>,
    /// weft: see [`Gen3Commons::drs_hostname`].
    #[serde(default)]
    pub drs_hostname: Option<String>,
}

/// The gen3 adapter's `config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdapterOptions {
    pub guid_type: String,
    pub study_field: String,
    #[serde(rename = "batchSize")]
    pub batch_size: u32,
    #[serde(rename = "maxItems")]
    pub max_items: Option<u64>,
    /// Extra query-string filters, appended as given (`k=v&k2=v2`).
    pub filters: Option<String>,
    pub field_name: Option<String>,
    pub field_value: Option<String>,
    pub data_dict_field: Option<String>,
}

impl Default for AdapterOptions {
    fn default() -> Self {
        Self {
            guid_type: default_guid_type(),
            study_field: default_study_field(),
            batch_size: 1000,
            max_items: None,
            filters: None,
            field_name: None,
            field_value: None,
            data_dict_field: None,
        }
    }
}

fn default_study_field() -> String {
    "gen3_discovery".to_owned()
}

fn default_guid_type() -> String {
    "discovery_metadata".to_owned()
}

fn default_true() -> bool {
    true
}

/// Schema field types aggregate MDS knows.
pub const SCHEMA_TYPES: &[&str] = &["string", "integer", "number", "array", "object", "nested"];

impl HubConfig {
    /// The commons from the file and from TOML together, checked. Reads `config_file`.
    pub fn effective(&self) -> Result<AggFile, ConfigError> {
        let mut out = AggFile {
            configuration: self.configuration.clone(),
            gen3_commons: self.gen3_commons.clone(),
            adapter_commons: self.adapter_commons.clone(),
        };
        if let Some(path) = &self.config_file {
            let file = read_agg_file(path)?;
            if out.configuration.schema.is_empty() {
                out.configuration.schema = file.configuration.schema;
            } else if !file.configuration.schema.is_empty() {
                return Err(invalid(
                    "hub: the schema is set both in hub.configuration and in hub.config_file",
                ));
            }
            if out.configuration.aggregations.is_empty() {
                out.configuration.aggregations = file.configuration.aggregations;
            }
            if out.configuration.settings == AggSettings::default() {
                out.configuration.settings = file.configuration.settings;
            }
            for (name, c) in file.gen3_commons {
                if out.gen3_commons.insert(name.clone(), c).is_some() {
                    return Err(invalid(format!(
                        "hub: commons {name:?} is listed twice (file and TOML)"
                    )));
                }
            }
            for (name, c) in file.adapter_commons {
                if out.adapter_commons.insert(name.clone(), c).is_some() {
                    return Err(invalid(format!(
                        "hub: commons {name:?} is listed twice (file and TOML)"
                    )));
                }
            }
        }
        out.validate()?;
        Ok(out)
    }

    /// Whether any commons is configured (reads `config_file`; false if it cannot be read,
    /// which [`Self::effective`] reports).
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.effective().is_ok_and(|f| f.commons_count() > 0)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.sync_interval_secs == 0 {
            return Err(invalid("hub.sync_interval_secs must be > 0"));
        }
        if self.retry_min_secs == 0 {
            return Err(invalid("hub.retry_min_secs must be > 0"));
        }
        if self.request_timeout_secs == 0 {
            return Err(invalid("hub.request_timeout_secs must be > 0"));
        }
        for (key, v) in [
            ("max_page_bytes", self.max_page_bytes),
            ("max_pull_bytes", self.max_pull_bytes),
            ("max_pull_records", self.max_pull_records),
        ] {
            if v == 0 {
                return Err(invalid(format!("hub.{key} must be > 0")));
            }
        }
        self.effective().map(drop)
    }
}

impl AggFile {
    /// How many commons are listed.
    #[must_use]
    pub fn commons_count(&self) -> usize {
        self.gen3_commons.len() + self.adapter_commons.len()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for name in self.gen3_commons.keys() {
            if self.adapter_commons.contains_key(name) {
                return Err(invalid(format!(
                    "hub: commons {name:?} is both in gen3_commons and adapter_commons"
                )));
            }
        }
        for (name, c) in &self.gen3_commons {
            check_commons(name, &c.mds_url, &c.drs_prefixes)?;
        }
        for (name, c) in &self.adapter_commons {
            check_commons(name, &c.mds_url, &c.drs_prefixes)?;
            if c.adapter != "gen3" {
                return Err(invalid(format!(
                    "hub: commons {name:?} uses adapter {:?}; weft serves only the `gen3` \
                     adapter (and gen3_commons entries)",
                    c.adapter
                )));
            }
            if c.config.batch_size == 0 {
                return Err(invalid(format!(
                    "hub: commons {name:?}: config.batchSize must be > 0"
                )));
            }
        }
        for (field, def) in &self.configuration.schema {
            check_schema_field(field, def)?;
        }
        let mut prefixes = BTreeMap::new();
        let all = self
            .gen3_commons
            .iter()
            .map(|(n, c)| (n, &c.drs_prefixes))
            .chain(
                self.adapter_commons
                    .iter()
                    .map(|(n, c)| (n, &c.drs_prefixes)),
            );
        for (name, list) in all {
            for p in list {
                if let Some(other) = prefixes.insert(p.clone(), name.clone()) {
                    return Err(invalid(format!(
                        "hub: DRS prefix {p:?} is claimed by both {other:?} and {name:?}"
                    )));
                }
            }
        }
        Ok(())
    }
}

fn check_commons(name: &str, mds_url: &str, prefixes: &[String]) -> Result<(), ConfigError> {
    if name.is_empty() {
        return Err(invalid("hub: a commons has an empty name"));
    }
    if !(mds_url.starts_with("http://") || mds_url.starts_with("https://")) {
        return Err(invalid(format!(
            "hub: commons {name:?}: mds_url must be an http(s) URL, not {mds_url:?}"
        )));
    }
    for p in prefixes {
        if p.is_empty() || p.contains('/') || p.contains(':') {
            return Err(invalid(format!(
                "hub: commons {name:?}: DRS prefix {p:?} must be non-empty and contain \
                 no '/' or ':' (write dg.ABCD, not dg.ABCD/)"
            )));
        }
    }
    Ok(())
}

fn check_schema_field(field: &str, def: &Value) -> Result<(), ConfigError> {
    let Value::Object(m) = def else {
        return Err(invalid(format!(
            "hub: schema field {field:?} must be an object like {{\"type\": \"string\"}}"
        )));
    };
    if let Some(t) = m.get("type") {
        let ok = t.as_str().is_some_and(|t| SCHEMA_TYPES.contains(&t));
        if !ok {
            return Err(invalid(format!(
                "hub: schema field {field:?}: type {t} is not one of {}",
                SCHEMA_TYPES.join(", ")
            )));
        }
    }
    if let Some(props) = m.get("properties") {
        let Value::Object(props) = props else {
            return Err(invalid(format!(
                "hub: schema field {field:?}: properties must be an object"
            )));
        };
        for (k, v) in props {
            check_schema_field(&format!("{field}.{k}"), v)?;
        }
    }
    Ok(())
}

fn read_agg_file(path: &Path) -> Result<AggFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn gen3_file_and_toml_merge() {
        let dir = tempdir("merge");
        let file = write(
            &dir,
            "agg.json",
            r#"{"configuration": {"schema": {"short_name": {"default": "not_set"},
                  "_subjects_count": {"type": "integer"}}, "settings": {"cache_drs": true}},
                "gen3_commons": {"A": {"mds_url": "http://a.test/", "commons_url": "a.test",
                  "unknown_key": 1}},
                "adapter_commons": {"B": {"mds_url": "https://b.test", "commons_url": "b.test",
                  "adapter": "gen3", "config": {"batchSize": 10, "filters": "x=1"},
                  "field_mappings": {"full_name": "path:study_title"}}}}"#,
        );
        let hub: HubConfig = toml::from_str(&format!(
            "config_file = {file:?}\nsync_interval_secs = 60\n\
             [gen3_commons.C]\nmds_url = \"http://c.test\"\ncommons_url = \"c.test\"\n\
             drs_prefixes = [\"dg.CCCC\"]\n"
        ))
        .unwrap();
        let eff = hub.effective().unwrap();
        assert_eq!(eff.commons_count(), 3);
        assert_eq!(eff.gen3_commons["A"].guid_type, "discovery_metadata");
        assert_eq!(eff.gen3_commons["A"].study_data_field, "gen3_discovery");
        assert_eq!(eff.adapter_commons["B"].config.batch_size, 10);
        assert_eq!(
            eff.adapter_commons["B"].config.filters.as_deref(),
            Some("x=1")
        );
        assert!(eff.adapter_commons["B"].keep_original_fields);
        assert_eq!(eff.gen3_commons["C"].drs_prefixes, vec!["dg.CCCC"]);
        assert!(eff.configuration.settings.cache_drs);
        let keys: Vec<&String> = eff.configuration.schema.keys().collect();
        assert_eq!(keys, ["short_name", "_subjects_count"]);
        assert!(hub.enabled());
        assert!(!HubConfig::default().enabled());
    }

    #[test]
    fn bad_hub_configs_are_clear_errors() {
        let dir = tempdir("bad");
        let cases: Vec<(String, &str)> = vec![
            (
                "[adapter_commons.X]\nmds_url = \"http://x\"\ncommons_url = \"x\"\n\
                 adapter = \"icpsr\"\n"
                    .into(),
                "only the `gen3` adapter",
            ),
            (
                "[gen3_commons.X]\nmds_url = \"ftp://x\"\ncommons_url = \"x\"\n".into(),
                "http(s) URL",
            ),
            (
                "[gen3_commons.X]\nmds_url = \"http://x\"\ncommons_url = \"x\"\n\
                 drs_prefixes = [\"dg.X/\"]\n"
                    .into(),
                "DRS prefix",
            ),
            (
                "[gen3_commons.X]\nmds_url = \"http://x\"\ncommons_url = \"x\"\n\
                 drs_prefixes = [\"p\"]\n[gen3_commons.Y]\nmds_url = \"http://y\"\n\
                 commons_url = \"y\"\ndrs_prefixes = [\"p\"]\n"
                    .into(),
                "claimed by both",
            ),
            (
                "[configuration.schema.n]\ntype = \"date\"\n".into(),
                "is not one of",
            ),
            (
                "max_page_bytes = 0\n".into(),
                "hub.max_page_bytes must be > 0",
            ),
            (
                "max_pull_records = 0\n".into(),
                "hub.max_pull_records must be > 0",
            ),
            (
                format!("config_file = {:?}\n", dir.join("missing.json")),
                "cannot read config file",
            ),
            (
                format!(
                    "config_file = {:?}\n",
                    write(&dir, "garbage.json", "{not json")
                ),
                "invalid config file",
            ),
            ("sync_interval_secs = 0\n".into(), "sync_interval_secs"),
        ];
        for (text, needle) in cases {
            let hub: HubConfig = toml::from_str(&text).unwrap();
            let err = hub.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        // a commons twice, once in the file and once inline
        let file = write(
            &dir,
            "dup.json",
            r#"{"gen3_commons": {"A": {"mds_url": "http://a", "commons_url": "a"}}}"#,
        );
        let hub: HubConfig = toml::from_str(&format!(
            "config_file = {file:?}\n[gen3_commons.A]\nmds_url = \"http://a\"\n\
             commons_url = \"a\"\n"
        ))
        .unwrap();
        assert!(hub.validate().unwrap_err().to_string().contains("twice"));
        // missing required key: a TOML error naming it
        let err = toml::from_str::<HubConfig>("[gen3_commons.A]\ncommons_url = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("mds_url"), "{err}");
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("weft-hub-config-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
