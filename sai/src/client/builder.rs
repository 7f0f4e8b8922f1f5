//! Opening a store: the domains it holds (each one's SQL rendered once, here), durability and
//! connection options, and the client tables.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::error::Result;
use super::reconcile::reconcile_domain;
use super::store::{ClientStore, DomainEntry};
use crate::domain::Domain;
use crate::schema::{Schema, SchemaBuilder, Side};

/// How hard a commit waits for the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// WAL with `synchronous=FULL`: a `send` that returned survives a crash or power loss.
    #[default]
    Full,
    /// WAL with `synchronous=NORMAL`: survives an application crash; a power loss may drop
    /// the last commits (never corrupts the file). Several times faster per `send`.
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

/// Options of a [`ClientStore`]: start from [`StoreOptions::default`] and change what you
/// need with the `with_*` setters.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Commit durability; [`Durability::Full`] by default.
    pub durability: Durability,
    /// How long a write waits for another connection's write lock (default 5 s).
    pub busy_timeout: Duration,
    /// SQLite page cache size in KiB (default 32 MiB; SQLite's own default is 2 MiB).
    pub cache_kib: u32,
    /// Whether opening creates the client tables (default). Off when another component owns
    /// them, as PowerSync does (`sai::powersync::PowerSyncClient`).
    pub create_tables: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            durability: Durability::Full,
            busy_timeout: Duration::from_secs(5),
            cache_kib: 32 * 1024,
            create_tables: true,
        }
    }
}

impl StoreOptions {
    /// Sets [`durability`](Self::durability).
    #[must_use]
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets [`busy_timeout`](Self::busy_timeout).
    #[must_use]
    pub fn with_busy_timeout(mut self, busy_timeout: Duration) -> Self {
        self.busy_timeout = busy_timeout;
        self
    }

    /// Sets [`cache_kib`](Self::cache_kib).
    #[must_use]
    pub fn with_cache_kib(mut self, cache_kib: u32) -> Self {
        self.cache_kib = cache_kib;
        self
    }

    /// Sets [`create_tables`](Self::create_tables).
    #[must_use]
    pub fn with_create_tables(mut self, create_tables: bool) -> Self {
        self.create_tables = create_tables;
        self
    }
}

/// Configures and opens a [`ClientStore`].
#[must_use]
pub struct ClientStoreBuilder {
    schema: SchemaBuilder,
    domains: Vec<DomainEntry>,
    options: StoreOptions,
}

impl ClientStore {
    /// Starts configuring a store.
    pub fn builder() -> ClientStoreBuilder {
        ClientStoreBuilder {
            schema: Schema::builder(),
            domains: Vec::new(),
            options: StoreOptions::default(),
        }
    }
}

impl ClientStoreBuilder {
    /// Adds a domain: its client tables are created on open, and its SQL is rendered now,
    /// once for the store's lifetime.
    pub fn domain<D: Domain>(mut self) -> Self {
        self.schema = self.schema.domain::<D>();
        self.domains
            .push(DomainEntry::new::<D>(reconcile_domain::<D>));
        self
    }

    /// Sets the commit durability.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.options.durability = durability;
        self
    }

    /// Whether opening creates the client tables (default `true`); see
    /// [`StoreOptions::create_tables`].
    pub fn create_tables(mut self, create: bool) -> Self {
        self.options.create_tables = create;
        self
    }

    /// Sets all options.
    pub fn options(mut self, options: StoreOptions) -> Self {
        self.options = options;
        self
    }

    /// The tables of the registered domains.
    pub fn schema(&self) -> std::result::Result<Schema, crate::schema::SchemaError> {
        self.schema.clone().build()
    }

    /// Opens (creating if needed) the SQLite file at `path`.
    pub fn open(self, path: impl AsRef<Path>) -> Result<ClientStore> {
        let conn = Connection::open(path)?;
        self.finish(conn)
    }

    /// Opens a private in-memory database (tests, previews).
    pub fn open_in_memory(self) -> Result<ClientStore> {
        let conn = Connection::open_in_memory()?;
        self.finish(conn)
    }

    fn finish(self, conn: Connection) -> Result<ClientStore> {
        let schema = self.schema.build()?;
        prepare_connection(&conn, &self.options)?;
        if self.options.create_tables {
            create_tables(&conn, &schema)?;
        }
        Ok(ClientStore::from_parts(conn, self.domains))
    }
}

/// Sets the journal mode, durability and lock wait on a connection.
pub fn prepare_connection(conn: &Connection, options: &StoreOptions) -> Result<()> {
    conn.busy_timeout(options.busy_timeout)?;
    // Returns the resulting mode; an in-memory database stays in `memory` mode.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    // A page cache large enough for tens of thousands of pending intents: restore and
    // reconcile read the whole log of an entity.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {}; PRAGMA cache_size = -{};",
        options.durability.pragma(),
        options.cache_kib
    ))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Creates the client tables of a schema, or migrates existing ones to it (idempotent), on any
/// connection, in one transaction: a column the domain gained is added (see
/// [`plan_migration`](crate::schema::plan_migration)); an unsafe change is refused with
/// [`ClientError::Migration`](super::ClientError::Migration) and changes nothing.
pub fn create_tables(conn: &Connection, schema: &Schema) -> Result<()> {
    crate::schema::migrate_sqlite(conn, schema, Side::Client, "")??;
    Ok(())
}
