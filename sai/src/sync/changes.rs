//! Incremental downloads: positions in a server's change log, pages of changes, and the
//! device's side of them (its user, its cursor, applying a page).
//!
//! The server keeps, per domain, a change log (`{name}_changes`) with one entry per row of
//! the downloaded tables (and per removed row), stamped with the position of the row's
//! latest change in the same transaction as the change. A device holds the position it has
//! applied (`{name}_sync_cursor_local`, with the user it downloads for) and asks for the
//! entries after it: a round costs the changes since the last one, not the user's rows.
//! [`ServerStore::changes_for_user`](crate::server::ServerStore::changes_for_user) reads a
//! page on any store; [`apply_page`] writes it and the new cursor in one transaction.

use rusqlite::{OptionalExtension, Transaction};

use crate::client::{ClientError, ClientStore, ReconcileSummary};
use crate::domain::Domain;
use crate::schema::{Schema, SyncDirection, TableRole, quote};

use super::rows::{DeviceTable, SyncRow};

/// A position in a domain's change log: everything up to it has been handed out.
/// [`Cursor::START`] is before every change. Positions only grow.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Cursor(u64);

impl Cursor {
    /// Before every change: a device that never downloaded.
    pub const START: Cursor = Cursor(0);

    /// The cursor at a change position (as stored or sent over a transport).
    pub const fn at(position: u64) -> Self {
        Cursor(position)
    }

    /// The change position.
    pub const fn position(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A row the device must delete (a projection a rebuild removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removal {
    /// The table.
    pub table: String,
    /// The row's `id`.
    pub id: String,
}

/// One page of a user's changes after a cursor: the current content of each changed row,
/// the rows removed, and the cursor to ask from next.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangePage {
    /// The cursor the page was read after; a device applies it only at that cursor.
    pub after: Cursor,
    /// Changed rows, each as it is now.
    pub rows: Vec<SyncRow>,
    /// Removed rows.
    pub removals: Vec<Removal>,
    /// The cursor after this page (equal to `after` when the page is empty).
    pub next: Cursor,
    /// Whether more changes wait after `next` (ask again at once).
    pub more: bool,
}

/// Why a device refused to apply a page or to sync for a user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// Reading or writing the client store failed.
    #[error("client store: {0}")]
    Client(#[from] ClientError),
    /// The device syncs for another user: its cursor (or its log) belongs to `device`.
    #[error("this device syncs for user `{device}`, not `{requested}`")]
    WrongUser {
        /// The user the device's cursor or logged intents belong to.
        device: String,
        /// The user the round was asked for.
        requested: String,
    },
    /// The page was read after another cursor than the device holds (a stale or repeated
    /// page): applying it could move rows back; nothing was written.
    #[error("the page starts after {page_after} but the device is at {device}")]
    OutOfOrder {
        /// The device's cursor.
        device: Cursor,
        /// The cursor the page was read after.
        page_after: Cursor,
    },
    /// The page would move the device's cursor back (its `next` is before its `after`): a
    /// server whose change log was reset or restored; nothing was written.
    #[error("the page moves the cursor back, from {after} to {next}")]
    Rewinds {
        /// The cursor the page was read after.
        after: Cursor,
        /// The cursor the page moves to.
        next: Cursor,
    },
    /// A downloaded row has no value for a column this app's version of the domain requires:
    /// the server runs a newer version that renamed or dropped it. Nothing of the page was
    /// written and the cursor stays, so the same page applies once the app is updated.
    #[error(
        "row `{id}` of `{table}` has no value for column `{column}`, which this app's version \
         of domain `{domain}` requires: the server runs a newer version; update the app"
    )]
    ServerAhead {
        /// The domain.
        domain: &'static str,
        /// The downloaded table.
        table: String,
        /// The row.
        id: String,
        /// The required column the row lacks.
        column: &'static str,
    },
    /// A page row names a table this device does not download.
    #[error("the page names table `{0}`, which this device does not download")]
    UnknownTable(String),
}

impl From<rusqlite::Error> for DeviceError {
    fn from(e: rusqlite::Error) -> Self {
        DeviceError::Client(ClientError::from(e))
    }
}

fn cursor_table<D: Domain>() -> String {
    quote(&TableRole::LocalCursor.table_name(D::NAME))
}

fn read_cursor(tx: &rusqlite::Connection, table: &str) -> rusqlite::Result<Option<(String, i64)>> {
    tx.query_row(
        &format!("SELECT \"id\", \"position\" FROM {table} ORDER BY \"id\" LIMIT 1"),
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

fn to_cursor(position: i64) -> Cursor {
    Cursor(u64::try_from(position).unwrap_or(0))
}

/// The device's user for domain `D` and the cursor it has applied; `None` before its first
/// round.
pub fn device_cursor<D: Domain>(
    client: &ClientStore,
) -> Result<Option<(String, Cursor)>, DeviceError> {
    let table = cursor_table::<D>();
    let found = client.transaction(|tx| read_cursor(tx, &table))?;
    Ok(found.map(|(user, position)| (user, to_cursor(position))))
}

/// Binds the device to `user` for domain `D` (at its first round) and returns its cursor;
/// [`DeviceError::WrongUser`] if it is bound to another user, or if its log holds intents of
/// another user. The identity is given once: every later round must name the same user.
pub fn bind_device_user<D: Domain>(
    client: &ClientStore,
    user: &str,
) -> Result<Cursor, DeviceError> {
    client.transaction(|tx| bound_cursor::<D>(tx, user))
}

/// The device's cursor for `user`, binding the device to `user` on its first round; refused
/// when the cursor or a logged intent belongs to another user. The log's user column is read
/// in SQL, no intent decoded (this runs on every upload and download).
fn bound_cursor<D: Domain>(tx: &rusqlite::Connection, user: &str) -> Result<Cursor, DeviceError> {
    let log = quote(&TableRole::LocalIntents.table_name(D::NAME));
    let other: Option<String> = tx
        .prepare_cached(&format!(
            "SELECT \"user_id\" FROM {log} WHERE \"user_id\" <> ?1 LIMIT 1"
        ))?
        .query_row([user], |r| r.get(0))
        .optional()?;
    let table = cursor_table::<D>();
    match (other, read_cursor(tx, &table)?) {
        (Some(device), _) | (None, Some((device, _))) if device != user => {
            Err(DeviceError::WrongUser {
                device,
                requested: user.to_owned(),
            })
        }
        (_, Some((_, position))) => Ok(to_cursor(position)),
        (_, None) => {
            tx.execute(
                &format!("INSERT INTO {table} (\"id\", \"position\") VALUES (?1, 0)"),
                [user],
            )?;
            Ok(Cursor::START)
        }
    }
}

/// Writes a page of `user`'s changes and the page's `next` cursor in one transaction,
/// without reconciling (call [`ClientStore::reconcile_all`] once the last page is in, or use
/// [`apply_page`]). Refused, writing nothing, when the device is bound to another user or
/// is not at the page's `after` cursor. Only the columns the device's tables have are
/// written (a device on an older app version ignores the columns a newer server added).
pub fn write_page<D: Domain>(
    client: &ClientStore,
    user: &str,
    page: &ChangePage,
) -> Result<(), DeviceError> {
    let schema = Schema::of::<D>();
    let cursor = cursor_table::<D>();
    if page.next < page.after {
        return Err(DeviceError::Rewinds {
            after: page.after,
            next: page.next,
        });
    }
    client.write(|tx, _| {
        let device = bound_cursor::<D>(tx, user)?;
        if device != page.after {
            return Err(DeviceError::OutOfOrder {
                device,
                page_after: page.after,
            });
        }
        write_rows(tx, D::NAME, &schema, page)?;
        let next = i64::try_from(page.next.position()).unwrap_or(i64::MAX);
        tx.execute(
            &format!("UPDATE {cursor} SET \"position\" = ?1 WHERE \"id\" = ?2"),
            rusqlite::params![next, user],
        )?;
        Ok(())
    })
}

/// [`write_page`], then reconciles every domain.
pub fn apply_page<D: Domain>(
    client: &ClientStore,
    user: &str,
    page: &ChangePage,
) -> Result<ReconcileSummary, DeviceError> {
    write_page::<D>(client, user, page)?;
    Ok(client.reconcile_all()?)
}

/// Upserts the page's rows and deletes its removals.
fn write_rows(
    tx: &Transaction<'_>,
    domain: &'static str,
    schema: &Schema,
    page: &ChangePage,
) -> Result<(), DeviceError> {
    let downloaded = |name: &str| {
        schema
            .tables()
            .iter()
            .find(|t| t.name == name && t.role.sync() == SyncDirection::Down)
            .ok_or_else(|| DeviceError::UnknownTable(name.to_owned()))
    };
    // Every table named is checked before anything is written.
    for row in &page.rows {
        downloaded(&row.table)?;
    }
    for removal in &page.removals {
        let t = downloaded(&removal.table)?;
        tx.prepare_cached(&format!("DELETE FROM {} WHERE \"id\" = ?1", quote(&t.name)))?
            .execute([&removal.id])?;
    }
    for t in schema
        .tables()
        .iter()
        .filter(|t| t.role.sync() == SyncDirection::Down)
    {
        let rows: Vec<&SyncRow> = page.rows.iter().filter(|r| r.table == t.name).collect();
        if rows.is_empty() {
            continue;
        }
        let device = DeviceTable::read(tx, t)?;
        let mut upsert = tx.prepare_cached(&device.insert_sql("INSERT OR REPLACE"))?;
        for row in rows {
            let (values, missing) = device.values(row);
            if let Some(column) = missing {
                return Err(DeviceError::ServerAhead {
                    domain,
                    table: t.name.clone(),
                    id: row.id.clone(),
                    column,
                });
            }
            upsert.execute(rusqlite::params_from_iter(&values))?;
        }
    }
    Ok(())
}
