//! Moving intents up and decisions down.
//!
//! - [`SyncRow`]: one row a user may download, read from the server's tables exactly as the
//!   generated sync rules select them ([`sqlite_rows_for_user`], and with the `postgres`
//!   feature `postgres_rows_for_user`), and written into a client's synced tables with
//!   [`replace_synced_rows`].
//! - `Loopback` (feature `server`): the embedded transport for tests, demos and single-machine apps. It moves
//!   a client store's pending intents into the server's ingestion, lets the processor
//!   decide, and brings the user's projections, rejections and acknowledgements back in one
//!   transaction, then reconciles — the same data, ordering and idempotency as over PowerSync.

#[cfg(feature = "server")]
mod loopback;
mod rows;

#[cfg(feature = "server")]
pub use loopback::{Loopback, SyncError, SyncReport};
#[cfg(feature = "postgres")]
pub use rows::postgres_rows_for_user;
pub use rows::{SyncRow, replace_synced_rows, sqlite_rows_for_user};
