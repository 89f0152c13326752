//! Exploration as tube and guppy serve it, without Elasticsearch: documents flattened from
//! the graph by tube's `etlMapping.yaml` (`mapping`, `build`), held in an embedded in-memory
//! column index (`table`) kept live from the graph's change feed (`service`), and guppy's
//! GraphQL (`schema`), filters (`filter`), aggregations (`agg`) and downloads over it.

pub mod agg;
pub mod api;
pub mod build;
pub mod config;
pub mod filter;
pub mod mapping;
pub mod schema;
pub mod service;
pub mod table;

pub use api::Guppy;
pub use config::{GuppyConfig, Tier};
pub use mapping::{EtlMapping, MappingError};
pub use service::Explorer;

#[cfg(test)]
mod tests;
