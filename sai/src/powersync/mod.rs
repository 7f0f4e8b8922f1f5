//! PowerSync integration: the service's sync rules (always available), and with the
//! `powersync` feature the client schema, the client store on a PowerSync database and the
//! upload path, on the `powersync` crate.

#[cfg(feature = "powersync")]
mod client;
#[cfg(feature = "powersync")]
mod client_schema;
mod sync_rules;
#[cfg(feature = "powersync")]
mod upload;

#[cfg(feature = "powersync")]
pub use client::{OpenError, PowerSyncClient};
#[cfg(feature = "powersync")]
pub use client_schema::client_schema;
pub use sync_rules::{SyncRules, source_schema};
#[cfg(feature = "powersync")]
pub use upload::{MAX_UPLOAD_BATCH, MalformedUpload, UploadReport, upload_intents};
