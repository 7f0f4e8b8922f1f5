//! PowerSync integration: the service's sync rules and the upload batch a backend receives
//! (always available, so a backend needs no PowerSync build), and with the `powersync`
//! feature the client schema, the client store on a PowerSync database and the upload path,
//! on the `powersync` crate.

mod batch;
#[cfg(feature = "powersync")]
mod client;
#[cfg(feature = "powersync")]
mod client_schema;
#[cfg(feature = "powersync")]
mod migrate;
mod sync_rules;
#[cfg(feature = "powersync")]
mod upload;

pub use batch::{UnservedDomain, UploadBatch};
#[cfg(feature = "powersync")]
pub use client::{OpenError, PowerSyncClient, wake_uploads};
#[cfg(feature = "powersync")]
pub use client_schema::client_schema;
pub use sync_rules::{RulesProblem, SyncRules, check_rules, source_schema};
#[cfg(feature = "powersync")]
pub use upload::{MAX_UPLOAD_BATCH, MalformedUpload, UploadReport, upload_intents};
