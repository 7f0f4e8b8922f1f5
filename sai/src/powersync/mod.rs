//! PowerSync integration: the service's sync rules (always available), and with the
//! `powersync` feature the client schema on the `powersync` crate.

#[cfg(feature = "powersync")]
mod client_schema;
mod sync_rules;

#[cfg(feature = "powersync")]
pub use client_schema::client_schema;
pub use sync_rules::{SyncRules, source_schema};
