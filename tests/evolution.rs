//! Issue #13: version 2 of a domain opens and migrates the files and tables version 1 wrote.
//!
//! `v1` and `v2` define the same domain (`ticket`); `v2` adds an optional field and an event.
//! Version-1 code writes real SQLite files and PostgreSQL tables (decided intents with their
//! archived snapshots, intents still pending on the server and on the device), then
//! version-2 code opens them, migrates and syncs to convergence. Each refused change is shown
//! to leave the database as it was.

use rusqlite::Connection;
use sai::client::{ClientError, ClientIdentity, ClientStore, EventSourcedActor};
use sai::schema::MigrationError;
use sai::server::{EventProcessor, PostgresStore, ServerStore, SqliteStore, StoreError, ingest};
use sai::sync::Loopback;
use sai::{Intent, Uuid};
use sai_suite::{column, postgres};

// The versions of the domain, shared with the `evolve` example.
#[path = "../examples/ticket_versions.rs"]
mod ticket_versions;
use ticket_versions::{v1, v2, v3};

mod unsafe_v3 {
    use sai::{Domain, Event, IntentMeta, machine};
    use serde::{Deserialize, Serialize};

    /// An unsafe version 2: a new required field without a default.
    #[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
    #[domain(name = "ticket", machine = TicketMachine)]
    pub struct Ticket {
        pub title: String,
        pub sla_hours: Option<i64>,
        pub priority: i64,
    }

    #[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum TicketEvent {
        Open { title: String },
    }

    pub fn apply(_: &mut Ticket, _: &TicketEvent, _: &IntentMeta) {}

    #[machine(domain = Ticket, event = TicketEvent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum TicketMachine {
        #[initial]
        #[on(Open => Opened, assign = apply)]
        New,
        Opened,
    }
}

fn columns_of(conn: &Connection, table: &str) -> Vec<String> {
    column(
        conn,
        &format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
    )
}

fn client_store_v1(path: &std::path::Path) -> ClientStore {
    ClientStore::builder()
        .domain::<v1::Ticket>()
        .open(path)
        .unwrap()
}

fn client_store_v2(path: &std::path::Path) -> ClientStore {
    ClientStore::builder()
        .domain::<v2::Ticket>()
        .open(path)
        .unwrap()
}

/// Drops the `decided` column from a projection table, as a file written before it was added.
fn as_before_decided(conn: &Connection, table: &str) {
    conn.execute_batch(&format!("ALTER TABLE {table} DROP COLUMN decided"))
        .unwrap();
}

#[tokio::test]
async fn version_1_files_with_pending_intents_and_archives_migrate_and_converge_on_version_2() {
    let dir = tempfile::tempdir().unwrap();
    let (server_db, phone_db) = (dir.path().join("server.db"), dir.path().join("phone.db"));

    // Version 1: one decided intent (archived snapshot), one pending on the server, one
    // pending on the device only.
    let entity = {
        let phone = client_store_v1(&phone_db);
        let mut sync = Loopback::new(EventProcessor::new(
            SqliteStore::<v1::Ticket>::open(&server_db).unwrap(),
        ))
        .await
        .unwrap();
        let ticket =
            EventSourcedActor::<v1::Ticket>::create(&phone, ClientIdentity::new("phone", "ann"))
                .unwrap();
        ticket
            .send(v1::TicketEvent::Open {
                title: "printer".into(),
            })
            .unwrap();
        sync.sync(&phone, "ann").await.unwrap();
        ticket
            .send(v1::TicketEvent::Rename {
                title: "printer jam".into(),
            })
            .unwrap();
        sync.upload(&phone, "ann").await.unwrap();
        ticket
            .send(v1::TicketEvent::Rename {
                title: "printer jam, floor 2".into(),
            })
            .unwrap();
        ticket.entity_id()
    };
    // Both files as they were before the `decided` column existed.
    as_before_decided(&Connection::open(&server_db).unwrap(), "ticket_projection");
    {
        let conn = Connection::open(&phone_db).unwrap();
        as_before_decided(&conn, "ticket_projection");
        as_before_decided(&conn, "ticket_projection_local");
    }

    // Version 2 opens both.
    let mut server = SqliteStore::<v2::Ticket>::open(&server_db).unwrap();
    server.migrate().await.unwrap();
    let expected = [
        "id",
        "state",
        "version",
        "owner_id",
        "title",
        "updated_at",
        "decided",
        "sla_hours",
    ];
    assert_eq!(
        columns_of(server.connection(), "ticket_projection"),
        expected
    );
    server
        .migrate()
        .await
        .expect("a second migrate changes nothing");
    assert_eq!(
        columns_of(server.connection(), "ticket_projection"),
        expected
    );
    assert_eq!(
        server.pending_count().await.unwrap(),
        1,
        "the pending intent survived"
    );

    let phone = client_store_v2(&phone_db);
    {
        let conn = Connection::open(&phone_db).unwrap();
        for table in ["ticket_projection", "ticket_projection_local"] {
            assert_eq!(columns_of(&conn, table), expected, "{table}");
        }
    }
    let ticket =
        EventSourcedActor::<v2::Ticket>::open(&phone, ClientIdentity::new("phone", "ann"), entity)
            .unwrap();
    assert_eq!(ticket.pending_intents().unwrap().len(), 2);
    let seen = ticket.projection().unwrap().unwrap();
    assert_eq!(seen.context().title, "printer jam, floor 2");
    assert_eq!(seen.context().sla_hours, None);
    ticket
        .send(v2::TicketEvent::SetSla { hours: Some(4) })
        .unwrap();

    let mut sync = Loopback::new(EventProcessor::new(server)).await.unwrap();
    for _ in 0..2 {
        sync.sync(&phone, "ann").await.unwrap();
    }
    let converged = ticket.projection().unwrap().unwrap();
    assert!(!converged.optimistic, "every intent was decided");
    assert!(ticket.pending_intents().unwrap().is_empty());
    assert_eq!(converged.context().title, "printer jam, floor 2");
    assert_eq!(converged.context().sla_hours, Some(4));
    assert_eq!(converged.snapshot.version, 4);

    // The archive (version-1 snapshots without the field, then version-2 ones) rebuilds the
    // same projection.
    let before = sync
        .processor_mut()
        .store_mut()
        .projection(entity)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sync.processor_mut().rebuild_projections().await.unwrap(), 1);
    let after = sync
        .processor_mut()
        .store_mut()
        .projection(entity)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (after.version, after.fields),
        (before.version, before.fields)
    );
}

#[tokio::test]
async fn an_unsafe_change_is_refused_on_the_server_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    SqliteStore::<v1::Ticket>::open(&path)
        .unwrap()
        .migrate()
        .await
        .unwrap();
    let conn = Connection::open(&path).unwrap();
    as_before_decided(&conn, "ticket_projection");
    let before = columns_of(&conn, "ticket_projection");

    // A new required field: refused, naming the column; `decided` and `sla_hours`, planned
    // before it, are not added either.
    let err = SqliteStore::<unsafe_v3::Ticket>::open(&path)
        .unwrap()
        .migrate()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Migration(MigrationError::NewRequiredColumn {
                column: "priority",
                ..
            })
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("ticket_projection.priority"),
        "{err}"
    );
    assert_eq!(columns_of(&conn, "ticket_projection"), before);

    // A table migrated after the projection refuses (a column the domain lost is still
    // required): the projection's changes, already applied, are rolled back.
    conn.execute_batch(
        "DROP TABLE ticket_client_acks; \
         CREATE TABLE ticket_client_acks (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, \
           last_seq INTEGER NOT NULL, updated_at INTEGER NOT NULL, region TEXT NOT NULL);",
    )
    .unwrap();
    let err = SqliteStore::<v2::Ticket>::open(&path)
        .unwrap()
        .migrate()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Migration(MigrationError::RemovedRequiredColumn { column, .. }) if column == "region"),
        "{err}"
    );
    assert_eq!(columns_of(&conn, "ticket_projection"), before);
}

#[test]
fn a_type_change_is_refused_on_the_device_and_the_file_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    drop(client_store_v1(&path));
    let conn = Connection::open(&path).unwrap();
    as_before_decided(&conn, "ticket_projection_local");
    conn.execute_batch("ALTER TABLE ticket_projection_local ADD COLUMN sla_hours TEXT")
        .unwrap();
    let before = columns_of(&conn, "ticket_projection_local");

    let err = ClientStore::builder()
        .domain::<v2::Ticket>()
        .open(&path)
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Migration(MigrationError::TypeChanged { column, found, .. })
            if column == "sla_hours" && found == "TEXT"),
        "{err}"
    );
    assert_eq!(columns_of(&conn, "ticket_projection_local"), before);
}

fn raw_v1(entity: Uuid, seq: u64, event: v1::TicketEvent) -> sai::RawIntent {
    Intent::new(entity, "phone", "ann", seq, event, 1_700_000_000_000)
        .to_raw()
        .unwrap()
}

#[tokio::test]
async fn postgres_tables_of_version_1_migrate_concurrently_and_decide_version_1_intents() {
    let Some(url) = postgres::url() else { return };
    let (admin, schema) = postgres::fresh_schema(&url, "evolution").await;
    let entity = Uuid::now_v7();
    {
        let mut old = PostgresStore::<v1::Ticket>::connect_in_schema(&url, &schema)
            .await
            .unwrap();
        old.migrate().await.unwrap();
        ingest(
            &mut old,
            "ann",
            &[raw_v1(
                entity,
                1,
                v1::TicketEvent::Open {
                    title: "printer".into(),
                },
            )],
        )
        .await
        .unwrap();
        let mut processor = EventProcessor::new(old);
        assert_eq!(processor.process_pending().await.decided(), 1);
        let mut old = processor.into_store();
        ingest(
            &mut old,
            "ann",
            &[raw_v1(
                entity,
                2,
                v1::TicketEvent::Rename {
                    title: "jam".into(),
                },
            )],
        )
        .await
        .unwrap();
    }
    admin
        .batch_execute("ALTER TABLE ticket_projection DROP COLUMN decided")
        .await
        .unwrap();

    // Two version-2 servers start at once.
    let (mut a, mut b) = (
        PostgresStore::<v2::Ticket>::connect_in_schema(&url, &schema)
            .await
            .unwrap(),
        PostgresStore::<v2::Ticket>::connect_in_schema(&url, &schema)
            .await
            .unwrap(),
    );
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.unwrap();
    rb.unwrap();
    let recorded: i64 = admin
        .query_one(
            "SELECT version FROM sai_schema WHERE domain = 'ticket' AND side = 'server'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        recorded, 2,
        "one of the two migrated, the other found it done"
    );
    let columns: Vec<String> = admin
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = 'ticket_projection' ORDER BY ordinal_position",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        columns,
        [
            "id",
            "state",
            "version",
            "owner_id",
            "title",
            "updated_at",
            "decided",
            "sla_hours"
        ]
    );

    // The version-1 intent still pending is decided by version 2.
    assert_eq!(a.pending_count().await.unwrap(), 1);
    let mut processor = EventProcessor::new(a);
    assert_eq!(processor.process_pending().await.decided(), 1);
    let row = processor
        .store_mut()
        .projection(entity)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.version, 2);
    assert_eq!(
        row.fields,
        [sai::SqlValue::Text("jam".into()), sai::SqlValue::Null]
    );
    assert_eq!(processor.rebuild_projections().await.unwrap(), 1);
    let rebuilt = processor
        .store_mut()
        .projection(entity)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((rebuilt.version, rebuilt.fields), (row.version, row.fields));

    // Refused on PostgreSQL too, with nothing changed.
    admin
        .batch_execute("ALTER TABLE ticket_projection DROP COLUMN sla_hours")
        .await
        .unwrap();
    let mut unsafe_v3 = PostgresStore::<unsafe_v3::Ticket>::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    let err = unsafe_v3.migrate().await.unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Migration(MigrationError::NewRequiredColumn {
                column: "priority",
                ..
            })
        ),
        "{err}"
    );
    let n: i64 = admin
        .query_one(
            "SELECT count(*) FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = 'ticket_projection' AND column_name = 'sla_hours'",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "the refused migration added nothing");
}

const COST_ROWS: i64 = 100_000;

/// The cost of adding a column to a 100,000-row projection table, printed (run with
/// `--nocapture`); not a timed assertion. Both stores add a nullable column (or one with a
/// constant default) as a catalog change, without rewriting the rows.
#[tokio::test]
async fn migration_cost_of_a_new_column_on_100k_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let mut old = SqliteStore::<v1::Ticket>::open(&path).unwrap();
    old.migrate().await.unwrap();
    old.connection()
        .execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
             INSERT INTO ticket_projection (id, state, version, owner_id, title, updated_at) \
             SELECT 'e' || i, 'Opened', 1, 'ann', 'title ' || i, 0 FROM n",
            [COST_ROWS],
        )
        .unwrap();
    let mut new = SqliteStore::<v2::Ticket>::open(&path).unwrap();
    let started = std::time::Instant::now();
    new.migrate().await.unwrap();
    let sqlite = started.elapsed();
    let rows: Vec<i64> = column(
        new.connection(),
        "SELECT count(*) FROM ticket_projection WHERE sla_hours IS NULL",
    );
    assert_eq!(rows, [COST_ROWS]);
    println!("sqlite: migrate adding sla_hours to {COST_ROWS} rows took {sqlite:?}");

    let Some(url) = postgres::url() else { return };
    let (admin, schema) = postgres::fresh_schema(&url, "evolution_cost").await;
    let mut old = PostgresStore::<v1::Ticket>::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    old.migrate().await.unwrap();
    admin
        .execute(
            "INSERT INTO ticket_projection (id, state, version, owner_id, title, updated_at) \
             SELECT 'e' || i, 'Opened', 1, 'ann', 'title ' || i, 0 FROM generate_series(1, $1::bigint) i",
            &[&COST_ROWS],
        )
        .await
        .unwrap();
    let mut new = PostgresStore::<v2::Ticket>::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    new.migrate().await.unwrap();
    let postgres = started.elapsed();
    let rows: i64 = admin
        .query_one(
            "SELECT count(*) FROM ticket_projection WHERE sla_hours IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, COST_ROWS);
    println!("postgres: migrate adding sla_hours to {COST_ROWS} rows took {postgres:?}");
}

/// Intents a version-1 app logged and never sent: version 2 upcasts them (`Open` from payload
/// version 1 through 2 to 3) when the device replays its log, and the server upcasts them
/// again when it decides them.
#[tokio::test]
async fn version_1_intents_are_upcast_on_the_device_and_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let phone_db = dir.path().join("phone.db");
    let entity = {
        let phone = client_store_v1(&phone_db);
        let ticket =
            EventSourcedActor::<v1::Ticket>::create(&phone, ClientIdentity::new("phone", "ann"))
                .unwrap();
        ticket
            .send(v1::TicketEvent::Open {
                title: "printer".into(),
            })
            .unwrap();
        ticket.entity_id()
    };

    let phone = client_store_v2(&phone_db);
    let ticket =
        EventSourcedActor::<v2::Ticket>::open(&phone, ClientIdentity::new("phone", "ann"), entity)
            .unwrap();
    let pending = ticket.pending_intents().unwrap();
    assert_eq!(pending.len(), 1);
    let replayed = ticket.projection().unwrap().unwrap();
    assert_eq!(replayed.context().title, "printer");
    assert!(replayed.optimistic);

    let mut sync = Loopback::new(EventProcessor::new(
        SqliteStore::<v2::Ticket>::open(dir.path().join("server.db")).unwrap(),
    ))
    .await
    .unwrap();
    sync.sync(&phone, "ann").await.unwrap();
    let decided = ticket.projection().unwrap().unwrap();
    assert!(!decided.optimistic, "the server accepted the upcast intent");
    assert_eq!(decided.context().title, "printer");
    assert!(ticket.rejections().unwrap().is_empty());

    // A device still on version 1 uploads its version-1 payload: the server upcasts it.
    let old_device = Uuid::now_v7();
    let raw = Intent::new(
        old_device,
        "old-phone",
        "ann",
        1,
        v1::TicketEvent::Open {
            title: "scanner".into(),
        },
        1_700_000_000_000,
    )
    .to_raw()
    .unwrap();
    assert_eq!(raw.event_version, 1);
    ingest(sync.processor_mut().store_mut(), "ann", &[raw])
        .await
        .unwrap();
    assert_eq!(sync.decide().await.decided(), 1);
    let row = sync
        .processor_mut()
        .store_mut()
        .projection(old_device)
        .await
        .unwrap()
        .expect("the version-1 intent was accepted");
    assert_eq!(row.fields[0], sai::SqlValue::Text("scanner".into()));
}

/// A device still on version 1 syncs with a version-2 server: its version-1 intents are
/// decided, and the downloaded rows' new column (`sla_hours`), unknown to it, is ignored.
#[tokio::test]
async fn a_version_1_device_syncs_with_a_version_2_server() {
    use sai::schema::Schema;
    use sai::sync::{replace_synced_rows, sqlite_rows_for_user};

    let dir = tempfile::tempdir().unwrap();
    let old_phone = client_store_v1(&dir.path().join("old-phone.db"));
    let mut server =
        EventProcessor::new(SqliteStore::<v2::Ticket>::open(dir.path().join("server.db")).unwrap());
    server.store_mut().migrate().await.unwrap();
    let ticket =
        EventSourcedActor::<v1::Ticket>::create(&old_phone, ClientIdentity::new("old", "ann"))
            .unwrap();
    ticket
        .send(v1::TicketEvent::Open {
            title: "printer".into(),
        })
        .unwrap();

    // The old app's round: upload its version-1 intents, the server decides, download.
    let raw: Vec<_> = old_phone
        .logged_intents::<v1::Ticket>()
        .unwrap()
        .iter()
        .map(|i| i.to_raw().unwrap())
        .collect();
    ingest(server.store_mut(), "ann", &raw).await.unwrap();
    assert_eq!(server.process_pending().await.decided(), 1);
    let server_schema = Schema::of::<v2::Ticket>();
    let rows =
        sqlite_rows_for_user(server.store_mut().connection(), &server_schema, "ann").unwrap();
    assert!(
        rows.iter()
            .any(|r| r.columns.iter().any(|(name, _)| *name == "sla_hours")),
        "the server sends the new column"
    );
    old_phone
        .apply_server_data(|tx| replace_synced_rows(tx, &server_schema, &rows))
        .unwrap();

    let seen = ticket.projection().unwrap().unwrap();
    assert!(!seen.optimistic, "the decision reached the old device");
    assert_eq!(seen.context().title, "printer");
    assert!(ticket.pending_intents().unwrap().is_empty());
}

/// A server ahead of version 1 without renaming anything: version 1's fields, and a state
/// (`Escalated`) version 1's machine does not have.
mod ahead {
    use sai::{Domain, Event, IntentMeta, machine};
    use serde::{Deserialize, Serialize};

    #[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
    #[domain(name = "ticket", machine = TicketMachine)]
    pub struct Ticket {
        pub title: String,
    }

    #[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum TicketEvent {
        Open { title: String },
        Rename { title: String },
        Escalate,
    }

    pub fn set_title(t: &mut Ticket, e: &TicketEvent, _: &IntentMeta) {
        if let TicketEvent::Open { title } | TicketEvent::Rename { title } = e {
            t.title = title.clone();
        }
    }

    #[machine(domain = Ticket, event = TicketEvent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum TicketMachine {
        #[initial]
        #[on(Open => Opened, assign = set_title)]
        New,
        #[on(Rename, assign = set_title)]
        #[on(Escalate => Escalated)]
        Opened,
        Escalated,
    }
}

/// The `sai_schema` rows of a SQLite file: (domain, side, version).
fn schema_records(conn: &Connection) -> Vec<(String, String, i64)> {
    let mut stmt = conn
        .prepare("SELECT domain, side, version FROM sai_schema ORDER BY domain, side")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

const V3_COLUMNS: [&str; 10] = [
    "id",
    "state",
    "version",
    "owner_id",
    "decided",
    "summary",
    "updated_at",
    "priority",
    "queue",
    "escalated",
];

/// Version 2 files (a decided ticket with its archive, a rename pending on the server and one
/// on the device) opened by version 3: `title` is renamed `summary` with its data, the new
/// required columns take their declared defaults, `sla_hours` is dropped; the archive of
/// version-2 snapshots rebuilds the migrated projection exactly; then everything converges.
#[tokio::test]
async fn version_3_renames_adds_defaulted_columns_and_drops_on_the_server_and_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let (server_db, phone_db) = (dir.path().join("server.db"), dir.path().join("phone.db"));
    let entity = {
        let phone = client_store_v2(&phone_db);
        let mut sync = Loopback::new(EventProcessor::new(
            SqliteStore::<v2::Ticket>::open(&server_db).unwrap(),
        ))
        .await
        .unwrap();
        let ticket =
            EventSourcedActor::<v2::Ticket>::create(&phone, ClientIdentity::new("phone", "ann"))
                .unwrap();
        ticket
            .send(v2::TicketEvent::Open {
                summary: "printer".into(),
                urgent: false,
            })
            .unwrap();
        ticket
            .send(v2::TicketEvent::SetSla { hours: Some(4) })
            .unwrap();
        sync.sync(&phone, "ann").await.unwrap();
        ticket
            .send(v2::TicketEvent::Rename {
                title: "printer jam".into(),
            })
            .unwrap();
        sync.upload(&phone, "ann").await.unwrap();
        ticket
            .send(v2::TicketEvent::Rename {
                title: "printer jam, floor 2".into(),
            })
            .unwrap();
        ticket.entity_id()
    };
    assert_eq!(
        schema_records(&Connection::open(&server_db).unwrap()),
        [("ticket".into(), "server".into(), 1)]
    );

    let mut server = SqliteStore::<v3::Ticket>::open(&server_db).unwrap();
    server.migrate().await.unwrap();
    assert_eq!(
        columns_of(server.connection(), "ticket_projection"),
        V3_COLUMNS
    );
    let migrated = server.projection(entity).await.unwrap().unwrap();
    assert_eq!(
        migrated.fields,
        [
            sai::SqlValue::Text("printer".into()),
            sai::SqlValue::Integer(3),
            sai::SqlValue::Text("triage".into()),
            sai::SqlValue::Integer(0),
        ],
        "the renamed column kept its data; the new ones read their declared defaults"
    );
    assert_eq!(
        schema_records(server.connection()),
        [("ticket".into(), "server".into(), 2)]
    );
    assert_eq!(server.pending_count().await.unwrap(), 1);

    // The archive holds version-2 snapshots (`title`, `sla_hours`, no `priority`): read as
    // version 3, they rebuild the row the migration produced.
    let mut processor = EventProcessor::new(server);
    assert_eq!(processor.rebuild_projections().await.unwrap(), 1);
    let rebuilt = processor
        .store_mut()
        .projection(entity)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (rebuilt.state, rebuilt.version, rebuilt.fields),
        (migrated.state, migrated.version, migrated.fields)
    );

    let phone = ClientStore::builder()
        .domain::<v3::Ticket>()
        .open(&phone_db)
        .unwrap();
    {
        let conn = Connection::open(&phone_db).unwrap();
        for table in ["ticket_projection", "ticket_projection_local"] {
            assert_eq!(columns_of(&conn, table), V3_COLUMNS, "{table}");
        }
        assert_eq!(
            schema_records(&conn),
            [("ticket".into(), "client".into(), 2)]
        );
    }
    let ticket =
        EventSourcedActor::<v3::Ticket>::open(&phone, ClientIdentity::new("phone", "ann"), entity)
            .unwrap();
    assert_eq!(ticket.pending_intents().unwrap().len(), 2);
    let seen = ticket.projection().unwrap().unwrap();
    assert_eq!(seen.context().summary, "printer jam, floor 2");
    assert_eq!(
        (seen.context().priority, seen.context().queue.as_str()),
        (3, "triage")
    );
    ticket
        .send(v3::TicketEvent::Prioritize { priority: 1 })
        .unwrap();

    let mut sync = Loopback::new(processor).await.unwrap();
    for _ in 0..2 {
        sync.sync(&phone, "ann").await.unwrap();
    }
    let converged = ticket.projection().unwrap().unwrap();
    assert!(!converged.optimistic, "every intent was decided");
    assert!(ticket.pending_intents().unwrap().is_empty());
    assert_eq!(
        converged.context(),
        &v3::Ticket {
            summary: "printer jam, floor 2".into(),
            priority: 1,
            queue: "triage".into(),
            escalated: false,
        }
    );
    assert_eq!(converged.snapshot.version, 5);
}

/// The schema record makes an unchanged `migrate` (and reopening a device file) a no-op that
/// reads only `sai_schema`: a column removed by hand afterwards is not noticed (the catalog is
/// not read) and the record keeps its version.
#[tokio::test]
async fn an_unchanged_schema_is_not_migrated_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let mut server = SqliteStore::<v2::Ticket>::open(&path).unwrap();
    server.migrate().await.unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("ALTER TABLE ticket_projection DROP COLUMN sla_hours")
        .unwrap();
    let before: Vec<i64> = column(&conn, "SELECT migrated_at FROM sai_schema");
    server.migrate().await.unwrap();
    assert!(!columns_of(&conn, "ticket_projection").contains(&"sla_hours".to_owned()));
    assert_eq!(
        column::<i64>(&conn, "SELECT migrated_at FROM sai_schema"),
        before
    );
    // Another layout is migrated (and the record moves on).
    SqliteStore::<v1::Ticket>::open(&path)
        .unwrap()
        .migrate()
        .await
        .unwrap();
    assert_eq!(
        schema_records(&conn),
        [("ticket".into(), "server".into(), 2)]
    );

    let phone = dir.path().join("phone.db");
    drop(client_store_v2(&phone));
    let conn = Connection::open(&phone).unwrap();
    conn.execute_batch("ALTER TABLE ticket_projection_local DROP COLUMN sla_hours")
        .unwrap();
    drop(client_store_v2(&phone));
    assert!(!columns_of(&conn, "ticket_projection_local").contains(&"sla_hours".to_owned()));
    assert_eq!(
        schema_records(&conn),
        [("ticket".into(), "client".into(), 1)]
    );
}

/// A declared rename whose new column already exists is refused on the server and on the
/// device, and nothing changes.
#[tokio::test]
async fn a_rename_onto_an_existing_column_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    SqliteStore::<v2::Ticket>::open(&path)
        .unwrap()
        .migrate()
        .await
        .unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("ALTER TABLE ticket_projection ADD COLUMN summary TEXT")
        .unwrap();
    let before = columns_of(&conn, "ticket_projection");
    let err = SqliteStore::<v3::Ticket>::open(&path)
        .unwrap()
        .migrate()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Migration(MigrationError::RenameConflict { from, to: "summary", .. }) if from == "title"),
        "{err}"
    );
    assert_eq!(columns_of(&conn, "ticket_projection"), before);
    assert_eq!(
        schema_records(&conn),
        [("ticket".into(), "server".into(), 1)]
    );

    let phone = dir.path().join("phone.db");
    drop(client_store_v2(&phone));
    let conn = Connection::open(&phone).unwrap();
    conn.execute_batch("ALTER TABLE ticket_projection_local ADD COLUMN summary TEXT")
        .unwrap();
    let before = columns_of(&conn, "ticket_projection");
    let err = ClientStore::builder()
        .domain::<v3::Ticket>()
        .open(&phone)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ClientError::Migration(MigrationError::RenameConflict { to: "summary", .. })
        ),
        "{err}"
    );
    assert_eq!(
        columns_of(&conn, "ticket_projection"),
        before,
        "rolled back"
    );
}

/// A new required field without a declared default is refused, and the error says how to
/// declare one.
#[tokio::test]
async fn a_new_required_field_without_a_default_says_how_to_declare_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    SqliteStore::<v2::Ticket>::open(&path)
        .unwrap()
        .migrate()
        .await
        .unwrap();
    let err = SqliteStore::<unsafe_v3::Ticket>::open(&path)
        .unwrap()
        .migrate()
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("#[domain(default)]"), "{message}");
    assert!(message.contains("#[domain(default = …)]"), "{message}");
}

/// A device still on version 1 syncs with a server that moved its ticket to a state version
/// 1 does not have: reading it says the server is ahead (not a corrupt row), and the
/// device's own data stays readable.
#[tokio::test]
async fn a_version_1_device_is_told_the_server_is_ahead() {
    use sai::schema::Schema;
    use sai::sync::{replace_synced_rows, sqlite_rows_for_user};

    let dir = tempfile::tempdir().unwrap();
    let old_phone = client_store_v1(&dir.path().join("old-phone.db"));
    let mut server = EventProcessor::new(
        SqliteStore::<ahead::Ticket>::open(dir.path().join("server.db")).unwrap(),
    );
    server.store_mut().migrate().await.unwrap();
    let (ticket, other) = (
        EventSourcedActor::<v1::Ticket>::create(&old_phone, ClientIdentity::new("old", "ann"))
            .unwrap(),
        EventSourcedActor::<v1::Ticket>::create(&old_phone, ClientIdentity::new("old", "ann"))
            .unwrap(),
    );
    for (t, title) in [(&ticket, "printer"), (&other, "scanner")] {
        t.send(v1::TicketEvent::Open {
            title: title.into(),
        })
        .unwrap();
    }
    let raw: Vec<_> = old_phone
        .logged_intents::<v1::Ticket>()
        .unwrap()
        .iter()
        .map(|i| i.to_raw().unwrap())
        .collect();
    ingest(server.store_mut(), "ann", &raw).await.unwrap();
    assert_eq!(server.process_pending().await.decided(), 2);
    let server_schema = Schema::of::<ahead::Ticket>();
    let rows =
        sqlite_rows_for_user(server.store_mut().connection(), &server_schema, "ann").unwrap();
    old_phone
        .apply_server_data(|tx| replace_synced_rows(tx, &server_schema, &rows))
        .unwrap();
    assert!(ticket.pending_intents().unwrap().is_empty());
    // A newer app escalates the first ticket.
    let escalate = Intent::new(
        ticket.entity_id(),
        "desk",
        "ann",
        1,
        ahead::TicketEvent::Escalate,
        1_700_000_000_000,
    )
    .to_raw()
    .unwrap();
    ingest(server.store_mut(), "ann", &[escalate])
        .await
        .unwrap();
    assert_eq!(server.process_pending().await.accepted, 1);
    let rows =
        sqlite_rows_for_user(server.store_mut().connection(), &server_schema, "ann").unwrap();
    // Writing and reconciling succeed: nothing is pending on the row this version cannot read.
    old_phone
        .apply_server_data(|tx| replace_synced_rows(tx, &server_schema, &rows))
        .unwrap();
    let err = ticket.projection().unwrap_err();
    assert!(
        matches!(&err, ClientError::ServerAhead { domain: "ticket", table, id, detail }
            if table == "ticket_projection"
                && *id == ticket.entity_id().to_string()
                && detail.contains("Escalated")),
        "{err}"
    );
    assert!(err.to_string().contains("update the app"), "{err}");
    assert_eq!(
        other.projection().unwrap().unwrap().context().title,
        "scanner",
        "rows this version can read still are"
    );
}

/// A device still on version 1 downloads from a server on version 3, which renamed the
/// required `title` to `summary`: the page is refused as written by a newer version (not a
/// constraint error), nothing of it is written, and the cursor stays; once the app is updated
/// (the same file opened by version 3), the same page applies.
#[tokio::test]
async fn a_version_1_device_refuses_a_page_without_a_column_it_requires_until_updated() {
    use sai::sync::{Cursor, DeviceError, bind_device_user, device_cursor, write_page};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old-phone.db");
    let old_phone = client_store_v1(&path);
    let mut server =
        EventProcessor::new(SqliteStore::<v3::Ticket>::open(dir.path().join("server.db")).unwrap());
    server.store_mut().migrate().await.unwrap();
    let ticket =
        EventSourcedActor::<v1::Ticket>::create(&old_phone, ClientIdentity::new("old", "ann"))
            .unwrap();
    ticket
        .send(v1::TicketEvent::Open {
            title: "printer".into(),
        })
        .unwrap();
    bind_device_user::<v1::Ticket>(&old_phone, "ann").unwrap();
    let raw: Vec<_> = old_phone
        .logged_intents::<v1::Ticket>()
        .unwrap()
        .iter()
        .map(|i| i.to_raw().unwrap())
        .collect();
    ingest(server.store_mut(), "ann", &raw).await.unwrap();
    assert_eq!(server.process_pending().await.accepted, 1);
    let page = server
        .store_mut()
        .changes_for_user("ann", Cursor::START, 100)
        .await
        .unwrap();
    assert!(!page.rows.is_empty());

    let err = write_page::<v1::Ticket>(&old_phone, "ann", &page).unwrap_err();
    assert!(
        matches!(&err, DeviceError::ServerAhead { domain: "ticket", table, id, column: "title" }
            if table == "ticket_projection" && *id == ticket.entity_id().to_string()),
        "{err:?}"
    );
    assert!(err.to_string().contains("update the app"), "{err}");
    assert_eq!(
        device_cursor::<v1::Ticket>(&old_phone).unwrap(),
        Some(("ann".to_owned(), Cursor::START))
    );
    let projection = ticket.projection().unwrap().unwrap();
    assert!(projection.optimistic, "nothing of the page was written");
    assert_eq!(ticket.pending_intents().unwrap().len(), 1);
    drop((ticket, old_phone));

    // The app is updated: version 3 opens the same file and the same page applies.
    let updated = ClientStore::builder()
        .domain::<v3::Ticket>()
        .open(&path)
        .unwrap();
    write_page::<v3::Ticket>(&updated, "ann", &page).unwrap();
    updated.reconcile_all().unwrap();
    assert_eq!(
        device_cursor::<v3::Ticket>(&updated).unwrap(),
        Some(("ann".to_owned(), page.next))
    );
    let seen = updated.projections::<v3::Ticket>().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(!seen[0].optimistic);
    assert_eq!(seen[0].context().summary, "printer");
}

fn raw_v2(entity: Uuid, seq: u64, event: v2::TicketEvent) -> sai::RawIntent {
    Intent::new(entity, "phone", "ann", seq, event, 1_700_000_000_000)
        .to_raw()
        .unwrap()
}

async fn pg_columns(admin: &tokio_postgres::Client, schema: &str) -> Vec<String> {
    admin
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = 'ticket_projection' ORDER BY ordinal_position",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// PostgreSQL tables of version 2 migrated by version 3: the rename keeps the data, the
/// defaulted columns read their defaults, `sla_hours` is dropped, the version-2 archive
/// rebuilds the same rows and a pending version-2 intent is decided; an unchanged `migrate`
/// then reads only `sai_schema`; a rename onto an existing column is refused.
#[tokio::test]
async fn postgres_tables_of_version_2_rename_add_defaults_and_drop_for_version_3() {
    let Some(url) = postgres::url() else { return };
    let (admin, schema) = postgres::fresh_schema(&url, "evolution_v3").await;
    let entity = Uuid::now_v7();
    {
        let mut old = PostgresStore::<v2::Ticket>::connect_in_schema(&url, &schema)
            .await
            .unwrap();
        old.migrate().await.unwrap();
        let open = v2::TicketEvent::Open {
            summary: "printer".into(),
            urgent: true,
        };
        let sla = v2::TicketEvent::SetSla { hours: Some(4) };
        ingest(
            &mut old,
            "ann",
            &[raw_v2(entity, 1, open), raw_v2(entity, 2, sla)],
        )
        .await
        .unwrap();
        let mut processor = EventProcessor::new(old);
        assert_eq!(processor.process_pending().await.decided(), 2);
        let rename = v2::TicketEvent::Rename {
            title: "jam".into(),
        };
        ingest(processor.store_mut(), "ann", &[raw_v2(entity, 3, rename)])
            .await
            .unwrap();
    }

    let mut new = PostgresStore::<v3::Ticket>::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    new.migrate().await.unwrap();
    assert_eq!(pg_columns(&admin, &schema).await, V3_COLUMNS);
    let migrated = new.projection(entity).await.unwrap().unwrap();
    assert_eq!(
        migrated.fields,
        [
            sai::SqlValue::Text("printer".into()),
            sai::SqlValue::Integer(3),
            sai::SqlValue::Text("triage".into()),
            sai::SqlValue::Integer(0),
        ]
    );
    let mut processor = EventProcessor::new(new);
    assert_eq!(processor.rebuild_projections().await.unwrap(), 1);
    let rebuilt = processor
        .store_mut()
        .projection(entity)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rebuilt.fields,
        [
            sai::SqlValue::Text("printer".into()),
            sai::SqlValue::Integer(3),
            sai::SqlValue::Text("triage".into()),
            // Version 2 did not keep `urgent`: the declared default.
            sai::SqlValue::Integer(0),
        ]
    );
    assert_eq!(processor.process_pending().await.accepted, 1);
    let row = processor
        .store_mut()
        .projection(entity)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.version, 3);
    assert_eq!(row.fields[0], sai::SqlValue::Text("jam".into()));

    // Unchanged: `migrate` does not read the catalog, so a column dropped by hand stays
    // dropped, and the record keeps its version.
    admin
        .batch_execute("ALTER TABLE ticket_projection DROP COLUMN escalated")
        .await
        .unwrap();
    let mut again = PostgresStore::<v3::Ticket>::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    again.migrate().await.unwrap();
    assert!(
        !pg_columns(&admin, &schema)
            .await
            .contains(&"escalated".to_owned())
    );
    let recorded: i64 = admin
        .query_one(
            "SELECT version FROM sai_schema WHERE domain = 'ticket'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, 2);

    // Back to version 2 (keeps the new columns), then a `summary` column appears by hand:
    // version 3's rename is refused and nothing changes.
    let mut back = PostgresStore::<v2::Ticket>::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    admin
        .batch_execute(
            "ALTER TABLE ticket_projection RENAME COLUMN summary TO title; \
             ALTER TABLE ticket_projection ADD COLUMN sla_hours BIGINT",
        )
        .await
        .unwrap();
    back.migrate().await.unwrap();
    admin
        .batch_execute("ALTER TABLE ticket_projection ADD COLUMN summary TEXT")
        .await
        .unwrap();
    let before = pg_columns(&admin, &schema).await;
    let err = PostgresStore::<v3::Ticket>::connect_in_schema(&url, &schema)
        .await
        .unwrap()
        .migrate()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Migration(MigrationError::RenameConflict { to: "summary", .. })
        ),
        "{err}"
    );
    assert_eq!(pg_columns(&admin, &schema).await, before);
}

/// The projection table's catalog as `plan_migration` takes it, from SQLite.
fn sqlite_catalog(conn: &Connection) -> Vec<sai::schema::ExistingColumn> {
    let mut stmt = conn
        .prepare("SELECT name, type, \"notnull\", dflt_value FROM pragma_table_info('ticket_projection')")
        .unwrap();
    stmt.query_map([], |r| {
        Ok(sai::schema::ExistingColumn {
            name: r.get(0)?,
            declared_type: r.get(1)?,
            nullable: r.get::<_, i64>(2)? == 0,
            has_default: r.get::<_, Option<String>>(3)?.is_some(),
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Version 3's plan for the projection table, as statements with a label each.
fn v3_statements(
    dialect: sai::schema::Dialect,
    existing: &[sai::schema::ExistingColumn],
) -> Vec<(String, String)> {
    use sai::schema::{MigrationStep, Schema, TableRole, plan_migration};
    let schema = Schema::of::<v3::Ticket>();
    let table = schema
        .tables()
        .iter()
        .find(|t| t.role == TableRole::Projection)
        .unwrap();
    let plan = plan_migration(dialect, table, existing).unwrap();
    let labels = plan.steps.iter().map(|s| match s {
        MigrationStep::AddColumn(c) => format!("add {} (default)", c.name),
        MigrationStep::RenameColumn { from, to } => format!("rename {from} -> {to}"),
        MigrationStep::DropColumn(c) => format!("drop {c}"),
        other => format!("{other:?}"),
    });
    labels.zip(plan.statements(dialect)).collect()
}

/// The cost of each step of version 3's migration (a rename, columns with declared defaults,
/// a declared drop) on a 100,000-row projection table, on both stores, printed (run with
/// `--nocapture`); not a timed assertion.
#[tokio::test]
async fn migration_cost_of_a_rename_and_defaulted_columns_on_100k_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let mut old = SqliteStore::<v2::Ticket>::open(&path).unwrap();
    old.migrate().await.unwrap();
    old.connection()
        .execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
             INSERT INTO ticket_projection (id, state, version, owner_id, title, sla_hours, updated_at) \
             SELECT 'e' || i, 'Opened', 1, 'ann', 'title ' || i, i, 0 FROM n",
            [COST_ROWS],
        )
        .unwrap();
    let conn = Connection::open(&path).unwrap();
    let steps = v3_statements(sai::schema::Dialect::Sqlite, &sqlite_catalog(&conn));
    for (label, statement) in steps {
        let started = std::time::Instant::now();
        conn.execute_batch(&statement).unwrap();
        println!(
            "sqlite: {label} on {COST_ROWS} rows took {:?}",
            started.elapsed()
        );
    }
    let mut new = SqliteStore::<v3::Ticket>::open(&path).unwrap();
    new.migrate().await.unwrap();
    let rows: Vec<i64> = column(
        new.connection(),
        "SELECT count(*) FROM ticket_projection WHERE priority = 3 AND queue = 'triage' \
         AND summary LIKE 'title %'",
    );
    assert_eq!(rows, [COST_ROWS]);

    let Some(url) = postgres::url() else { return };
    let (admin, schema) = postgres::fresh_schema(&url, "evolution_cost_v3").await;
    let mut old = PostgresStore::<v2::Ticket>::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    old.migrate().await.unwrap();
    admin
        .execute(
            "INSERT INTO ticket_projection (id, state, version, owner_id, title, sla_hours, updated_at) \
             SELECT 'e' || i, 'Opened', 1, 'ann', 'title ' || i, i, 0 FROM generate_series(1, $1::bigint) i",
            &[&COST_ROWS],
        )
        .await
        .unwrap();
    let existing: Vec<sai::schema::ExistingColumn> = admin
        .query(
            "SELECT column_name::text, data_type::text, is_nullable = 'YES', column_default IS NOT NULL \
             FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'ticket_projection'",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| sai::schema::ExistingColumn {
            name: r.get(0),
            declared_type: r.get(1),
            nullable: r.get(2),
            has_default: r.get(3),
        })
        .collect();
    for (label, statement) in v3_statements(sai::schema::Dialect::Postgres, &existing) {
        let started = std::time::Instant::now();
        admin.batch_execute(&statement).await.unwrap();
        println!(
            "postgres: {label} on {COST_ROWS} rows took {:?}",
            started.elapsed()
        );
    }
    let mut new = PostgresStore::<v3::Ticket>::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    new.migrate().await.unwrap();
    let rows: i64 = admin
        .query_one(
            "SELECT count(*) FROM ticket_projection WHERE priority = 3 AND queue = 'triage' \
             AND summary LIKE 'title %'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, COST_ROWS);
}

/// The PowerSync service's view of the tables (the source schema its sync rules are checked
/// against) follows the renamed, added and dropped columns.
#[test]
fn the_powersync_source_schema_follows_version_3() {
    let source = sai::powersync::source_schema(&sai::schema::Schema::of::<v3::Ticket>(), "public");
    let projection = source[0]["schemas"][0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ticket_projection")
        .unwrap();
    let columns: Vec<&str> = projection["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "id",
            "state",
            "version",
            "owner_id",
            "decided",
            "summary",
            "priority",
            "queue",
            "escalated",
            "updated_at"
        ]
    );
}
