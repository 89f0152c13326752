//! weft's integration suite: one test binary that starts the real app on an ephemeral
//! loopback port (SQLite by default, PostgreSQL with `WEFT_TEST_DATABASE_URL`) and drives it
//! over HTTP. See `docs/TESTING.md`.

mod aliases;
mod authz;
mod bad_input;
mod blank;
mod bundles;
mod cli;
mod cloud;
mod concurrency;
mod data;
mod drs;
mod explore;
mod graphql;
mod hub;
mod index_crud;
mod listing;
mod mds;
mod mesh;
mod misc;
mod oauth;
mod objects;
mod portal;
mod prefix;
mod routes;
mod submission;
mod support;
mod system;
mod uploads;
mod user;
mod versions;
mod workspace;
