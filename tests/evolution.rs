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

// The two versions of the domain, shared with the `evolve` example.
#[path = "../examples/ticket_versions.rs"]
mod ticket_versions;
use ticket_versions::{v1, v2};

mod v3 {
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
    let err = SqliteStore::<v3::Ticket>::open(&path)
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
    let mut unsafe_v3 = PostgresStore::<v3::Ticket>::connect_in_schema(&url, &schema)
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
