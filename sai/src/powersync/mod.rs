//! PowerSync integration: the service's sync rules (always available), and with the
//! `powersync` feature the client schema, store and upload path on the `powersync` crate.

mod sync_rules;

pub use sync_rules::{SyncRules, source_schema};
