//! The admin side: a JSON API on its own listener (bearer token), the `bascule admin` CLI
//! that drives it, and the user/key operations both use.

pub mod api;
pub mod cli;
pub mod error;
pub mod kms;
pub mod metrics;
pub mod ops;
pub mod state;
pub mod tables;
pub mod zone_api;
pub mod zone_text;
