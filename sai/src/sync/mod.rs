//! Moving intents up and decisions down.
//!
//! - [`SyncRow`]: one row a user may download, read from the server's tables exactly as the
//!   generated sync rules select them ([`sqlite_rows_for_user`], and with the `postgres`
//!   feature `postgres_rows_for_user`), and written into a client's synced tables with
//!   [`replace_synced_rows`].
//! - Incremental downloads: the server stamps every change of a downloaded row with a
//!   position in a per-domain change log, in the change's own transaction; a device keeps its
//!   [`Cursor`] and asks for the [`ChangePage`]s after it (`ServerStore::changes_for_user`
//!   on any store), applying each page and the new cursor in one transaction
//!   ([`apply_page`]). A round costs the changes since the last one.
//! - `Loopback` (feature `server`): the embedded transport for tests, demos and single-machine apps. It moves
//!   a client store's pending intents into the server's ingestion, lets the processor
//!   decide, and brings the user's projections, rejections and acknowledgements back in one
//!   transaction, then reconciles — the same data, ordering and idempotency as over PowerSync.

mod changes;
#[cfg(feature = "server")]
mod loopback;
pub(crate) mod rows;

pub use changes::{
    ChangePage, Cursor, DeviceError, Removal, apply_page, bind_device_user, device_cursor,
    write_page,
};

#[cfg(feature = "server")]
pub use loopback::{DEFAULT_PAGE_LIMIT, Loopback, SyncError, SyncReport};
#[cfg(feature = "postgres")]
pub use rows::postgres_rows_for_user;
pub use rows::{SyncRow, replace_synced_rows, sqlite_rows_for_user};
#[cfg(feature = "server")]
pub(crate) use rows::{column_list, row_from_cells};
