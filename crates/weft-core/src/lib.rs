//! weft-core: the vocabulary every weft crate shares.
//!
//! It owns the error-code catalogue ([`ErrorCode`]), identifier rules (GUIDs, revisions,
//! prefixes), checksum validation and the timestamp format Gen3 uses on the wire.
//! It must never do I/O: no database, no network, no files.

pub mod error;
pub mod hashes;
pub mod ids;
pub mod time;

pub use error::{ErrorCode, WeftError};
