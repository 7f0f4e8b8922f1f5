//! Decoded intent logs kept in memory between reconciliations.
//!
//! Reconciling an entity replays its whole pending log; decoding thousands of rows each time
//! server data arrives would dominate. The store keeps each entity's decoded log after a
//! reconciliation and reuses it while it is provably unchanged:
//!
//! * every change this store makes to a log goes through the store, which updates or drops
//!   the entry under the same lock, in the same write; a write that rolls back after caching
//!   a log drops every entry;
//! * raw access ([`ClientStore::with_connection`](super::ClientStore::with_connection),
//!   [`ClientStore::transaction`](super::ClientStore::transaction)) drops every entry;
//! * a commit by any other connection to the file changes SQLite's `PRAGMA data_version`,
//!   which is checked before every use, and drops every entry.

use std::any::Any;
use std::collections::HashMap;

use rusqlite::Connection;
use uuid::Uuid;

use super::error::Result;
use super::tables::Logged;
use crate::domain::Domain;

#[derive(Default)]
pub(crate) struct LogCache {
    data_version: Option<i64>,
    entries: HashMap<(&'static str, Uuid), Box<dyn Any + Send>>,
    /// Whether the current write put a log: if it rolls back, that log may be one that was
    /// never committed.
    put_in_write: bool,
}

impl LogCache {
    /// Drops everything if another connection committed since the last check.
    pub(crate) fn check(&mut self, conn: &Connection) -> Result<()> {
        let version: i64 = conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        if self.data_version != Some(version) {
            self.entries.clear();
            self.data_version = Some(version);
        }
        self.put_in_write = false;
        Ok(())
    }

    /// After a write rolled back: drops what it may have cached. A write that only took or
    /// forgot entries (a `send` the machine refused) leaves the rest valid.
    pub(crate) fn rolled_back(&mut self) {
        if self.put_in_write {
            self.entries.clear();
        }
    }

    /// Takes an entity's decoded log out of the cache.
    pub(crate) fn take<D: Domain>(&mut self, entity: Uuid) -> Option<Vec<Logged<D>>> {
        let entry = self.entries.remove(&(D::NAME, entity))?;
        entry.downcast::<Vec<Logged<D>>>().ok().map(|b| *b)
    }

    pub(crate) fn put<D: Domain>(&mut self, entity: Uuid, log: Vec<Logged<D>>) {
        self.put_in_write = true;
        self.entries.insert((D::NAME, entity), Box::new(log));
    }

    pub(crate) fn forget<D: Domain>(&mut self, entity: Uuid) {
        self.entries.remove(&(D::NAME, entity));
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}
