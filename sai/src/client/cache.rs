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
//!
//! It also keeps what a send reads: the entity's current projection and the server's
//! version of it ([`SendView`]), and each client's last sequence number. Sending again and
//! again is a UI's hot loop, and those reads were a quarter of a send. They live only from
//! one send to the next: any other write of the store drops them before it runs
//! (`ClientStore::write`), as do the three rules above, so they are never older than the
//! last write to the file.

use std::any::Any;
use std::collections::HashMap;

use rusqlite::Connection;
use uuid::Uuid;

use super::error::Result;
use super::projection::Projection;
use super::tables::Logged;
use crate::domain::Domain;

/// What the last send on an entity left for the next one: the entity's projection after it
/// (an overlay row) and the server's version of the entity.
pub(crate) struct SendView<D: Domain> {
    pub current: Projection<D>,
    pub server_version: u64,
}

#[derive(Default)]
pub(crate) struct LogCache {
    data_version: Option<i64>,
    entries: HashMap<(&'static str, Uuid), Box<dyn Any + Send>>,
    /// What the last send on each entity left.
    send_views: HashMap<(&'static str, Uuid), Box<dyn Any + Send>>,
    /// The last sequence number each client was given, per domain (a store has few
    /// clients: a list, searched without hashing).
    last_seqs: Vec<(&'static str, String, u64)>,
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
            self.clear();
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
        self.forget_sends();
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

    /// Takes what the last send on `entity` left, if no other write came since.
    pub(crate) fn take_send_view<D: Domain>(&mut self, entity: Uuid) -> Option<SendView<D>> {
        let view = self.send_views.remove(&(D::NAME, entity))?;
        view.downcast::<SendView<D>>().ok().map(|b| *b)
    }

    pub(crate) fn put_send_view<D: Domain>(&mut self, entity: Uuid, view: SendView<D>) {
        self.send_views.insert((D::NAME, entity), Box::new(view));
    }

    /// The last sequence number `client` was given in `D`, if no write but sends came since.
    pub(crate) fn last_seq<D: Domain>(&self, client: &str) -> Option<u64> {
        self.last_seqs
            .iter()
            .find(|(domain, c, _)| *domain == D::NAME && c == client)
            .map(|(_, _, seq)| *seq)
    }

    pub(crate) fn put_last_seq<D: Domain>(&mut self, client: &str, seq: u64) {
        match self
            .last_seqs
            .iter_mut()
            .find(|(domain, c, _)| *domain == D::NAME && c == client)
        {
            Some((_, _, last)) => *last = seq,
            None => self.last_seqs.push((D::NAME, client.to_owned(), seq)),
        }
    }

    /// Before any write but a send: what it writes may change what a send reads.
    pub(crate) fn forget_sends(&mut self) {
        self.send_views.clear();
        self.last_seqs.clear();
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.forget_sends();
    }
}
