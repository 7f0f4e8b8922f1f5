//! The client store's building blocks on a connection leased from a real `powersync`
//! database, where the local-only tables are views: the same SQL must work there.

use sai::Uuid;
use sai::client::{ClientIdentity, IntentWriter, PendingStatus, ReconciliationEngine};
use sai::powersync::client_schema;
use sai::schema::Schema;
use sai_suite::powersync::Offline;
use sai_suite::{Todo, TodoEvent, TodoMachine};

#[tokio::test]
async fn the_building_blocks_run_on_a_powersync_connection() {
    let dir = tempfile::tempdir().unwrap();
    let db = sai_suite::powersync::open(
        &dir.path().join("client.db"),
        client_schema(&Schema::of::<Todo>()),
        Offline,
    );
    let writer = IntentWriter::<Todo>::new(ClientIdentity::new("phone-1", "alice"));
    let engine = ReconciliationEngine::<Todo>::new();
    let entity = Uuid::now_v7();

    let mut conn = db.writer().await.unwrap();
    for event in [
        TodoEvent::Create {
            title: "Milk".into(),
        },
        TodoEvent::Toggle,
        TodoEvent::Toggle,
    ] {
        let tx = conn.transaction().unwrap();
        writer.write(&tx, entity, event).unwrap();
        tx.commit().unwrap();
    }
    let tx = conn.transaction().unwrap();
    let r = engine.reconcile(&tx, entity).unwrap();
    tx.commit().unwrap();
    assert_eq!(r.pending.len(), 3);
    assert!(r.pending.iter().all(|p| p.status == PendingStatus::Pending));
    let p = r.projection.unwrap();
    assert_eq!((p.state(), p.snapshot.version), (TodoMachine::Active, 3));

    // The server accepts the first intent. Its decision arrives as a download does: straight
    // into the synced tables' storage, which queues nothing for upload.
    let first = writer.logged_intents(&conn, entity).unwrap()[0].id;
    let tx = conn.transaction().unwrap();
    tx.execute(
        "INSERT INTO ps_data__todo_projection (id, data) VALUES (?1, ?2)",
        [
            entity.to_string(),
            serde_json::json!({
                "state": "Active", "version": 1, "owner_id": "alice", "updated_at": 0,
                "title": "Milk", "completed": 0, "estimate": null, "labels": "[]",
                "priority_level": 0,
            })
            .to_string(),
        ],
    )
    .unwrap();
    tx.execute(
        "INSERT INTO ps_data__todo_client_acks (id, data) VALUES ('phone-1', ?1)",
        [serde_json::json!({"user_id": "alice", "last_seq": 1, "updated_at": 0}).to_string()],
    )
    .unwrap();
    // Intents leave the log through the view, and their numbers are not reissued.
    let r = engine.reconcile(&tx, entity).unwrap();
    assert_eq!(r.cleared, [first]);
    let written = writer.write(&tx, entity, TodoEvent::Toggle).unwrap();
    tx.commit().unwrap();
    assert_eq!(written.seq(), 4);
    let seqs: Vec<u64> = writer
        .logged_intents(&conn, entity)
        .unwrap()
        .iter()
        .map(|i| i.seq)
        .collect();
    assert_eq!(seqs, vec![2, 3, 4]);
    drop(conn);

    // Nothing of the local tables is queued for upload.
    assert!(db.next_crud_transaction().await.unwrap().is_none());
}

/// `PowerSyncClient`: the caller's store options survive, and a send queues its intent for
/// upload in the same transaction as the local log row.
#[tokio::test]
async fn a_powersync_client_keeps_options_and_queues_each_send_for_upload() {
    use sai::client::{ClientStore, Durability, EventSourcedActor};
    use sai::powersync::PowerSyncClient;

    let dir = tempfile::tempdir().unwrap();
    let builder = ClientStore::builder()
        .domain::<Todo>()
        .durability(Durability::Normal);
    let client = PowerSyncClient::open(dir.path().join("client.db"), builder, Offline)
        .await
        .unwrap();
    let synchronous: i64 = client
        .store()
        .with_connection(|c| c.query_row("PRAGMA synchronous", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(synchronous, 1, "NORMAL, as the caller asked");

    let todo =
        EventSourcedActor::<Todo>::create(client.store(), ClientIdentity::new("phone-1", "alice"))
            .unwrap();
    todo.send(TodoEvent::Create {
        title: "Milk".into(),
    })
    .unwrap();
    todo.send(TodoEvent::Toggle).unwrap();
    // A send the client machine rejects queues nothing.
    assert!(
        todo.send(TodoEvent::Create {
            title: "again".into()
        })
        .is_err()
    );

    let mut seqs = Vec::new();
    while let Some(tx) = client.db().next_crud_transaction().await.unwrap() {
        assert_eq!(tx.crud.len(), 1, "one intent per send transaction");
        let entry = &tx.crud[0];
        assert_eq!(entry.table, "todo_intent_events");
        seqs.push(entry.data.as_ref().unwrap()["seq"].as_i64().unwrap());
        tx.complete().await.unwrap();
    }
    assert_eq!(seqs, [1, 2]);
    assert_eq!(
        client.store().logged_intents::<Todo>().unwrap().len(),
        2,
        "the local log keeps them"
    );
}

// The versions of the evolution example's domain (only v2 and v3 are used here).
#[allow(dead_code)]
#[path = "../examples/ticket_versions.rs"]
mod ticket_versions;

/// A `PowerSyncClient` opened by version 3 of a domain on a file version 2 wrote: the rows
/// PowerSync stores (the optimistic overlay, a synced projection) have the renamed column's
/// values under the new name, the declared defaults, and no dropped column; the view shows
/// the new layout and the pending intents replay on it.
#[tokio::test]
async fn a_powersync_client_migrates_its_stored_rows_on_open() {
    use sai::client::{ClientStore, EventSourcedActor};
    use sai::powersync::PowerSyncClient;
    use ticket_versions::{v2, v3};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("client.db");
    let who = || ClientIdentity::new("phone-1", "alice");
    let (entity, synced) = {
        let client = PowerSyncClient::open(
            &path,
            ClientStore::builder().domain::<v2::Ticket>(),
            Offline,
        )
        .await
        .unwrap();
        let ticket = EventSourcedActor::<v2::Ticket>::create(client.store(), who()).unwrap();
        ticket
            .send(v2::TicketEvent::Open {
                summary: "printer".into(),
                urgent: false,
            })
            .unwrap();
        ticket
            .send(v2::TicketEvent::Rename {
                title: "printer jam".into(),
            })
            .unwrap();
        // A server row as a download stores it.
        let synced = Uuid::now_v7();
        client
            .store()
            .with_connection(|c| {
                c.execute(
                    "INSERT INTO ps_data__ticket_projection (id, data) VALUES (?1, ?2)",
                    [
                        synced.to_string(),
                        serde_json::json!({
                            "state": "Opened", "version": 1, "owner_id": "alice",
                            "updated_at": 0, "decided": "{}", "title": "scanner",
                            "sla_hours": 8,
                        })
                        .to_string(),
                    ],
                )
            })
            .unwrap();
        (ticket.entity_id(), synced)
    };

    let client = PowerSyncClient::open(
        &path,
        ClientStore::builder().domain::<v3::Ticket>(),
        Offline,
    )
    .await
    .unwrap();
    let stored: Vec<String> = client
        .store()
        .with_connection(|c| {
            c.prepare(
                "SELECT data FROM ps_data_local__ticket_projection_local \
                 UNION ALL SELECT data FROM ps_data__ticket_projection",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()
        })
        .unwrap();
    assert_eq!(stored.len(), 2);
    for data in &stored {
        let row: serde_json::Value = serde_json::from_str(data).unwrap();
        assert!(
            row.get("title").is_none() && row.get("sla_hours").is_none(),
            "{row}"
        );
        assert_eq!(
            (&row["priority"], &row["queue"]),
            (&serde_json::json!(3), &serde_json::json!("triage")),
            "{row}"
        );
        assert_eq!(row["escalated"], serde_json::json!(0), "{row}");
    }
    let ticket = EventSourcedActor::<v3::Ticket>::open(client.store(), who(), entity).unwrap();
    let seen = ticket.projection().unwrap().unwrap();
    // The overlay is rebuilt on open by replaying the log: this entity has no server row, so
    // it starts, like any entity version 3 creates, from the struct's `Default`.
    assert_eq!(seen.context().summary, "printer jam");
    assert_eq!(seen.context().priority, 0);
    let server_row = EventSourcedActor::<v3::Ticket>::open(client.store(), who(), synced)
        .unwrap()
        .projection()
        .unwrap()
        .unwrap();
    assert_eq!(server_row.context().summary, "scanner");
    assert_eq!(server_row.context().priority, 3);
    drop(client);

    // Opening again with the same version rewrites nothing.
    let record = |path: &std::path::Path| -> i64 {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row("SELECT version FROM sai_schema", [], |r| r.get(0))
            .unwrap()
    };
    let before = record(&path);
    drop(
        PowerSyncClient::open(
            &path,
            ClientStore::builder().domain::<v3::Ticket>(),
            Offline,
        )
        .await
        .unwrap(),
    );
    assert_eq!(record(&path), before);
}

/// Versions of the ticket that cannot be applied to what version 2 stored.
mod unsafe_tickets {
    use sai::{Domain, Event, IntentMeta, machine};
    use serde::{Deserialize, Serialize};

    #[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum TicketEvent {
        Open { title: String },
    }

    /// A new required field without a default.
    pub mod new_required {
        use super::*;

        #[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
        #[domain(name = "ticket", machine = TicketMachine)]
        pub struct Ticket {
            pub title: String,
            pub sla_hours: Option<i64>,
            pub priority: i64,
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

    /// `sla_hours` changed from a number to text.
    pub mod type_changed {
        use super::*;

        #[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
        #[domain(name = "ticket", machine = TicketMachine)]
        pub struct Ticket {
            pub title: String,
            pub sla_hours: Option<String>,
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
}

/// Everything a refused migration must leave as it was: the stored JSON of every table, the
/// views' columns and the schema record.
fn powersync_file_state(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut state: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'ps_data%' \
             ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .flat_map(|table| {
            conn.prepare(&format!(
                "SELECT '{table}: ' || id || ' ' || data FROM \"{table}\""
            ))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
        })
        .collect();
    state.extend(
        conn.prepare(
            "SELECT 'view ' || m.name || '.' || c.name FROM sqlite_master m, \
             pragma_table_info(m.name) c WHERE m.type = 'view' ORDER BY m.name, c.cid",
        )
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap),
    );
    state.extend(
        conn.prepare("SELECT domain || side || fingerprint || version FROM sai_schema")
            .unwrap()
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap),
    );
    state
}

/// A `PowerSyncClient` opened by a version of the domain that cannot read what version 2
/// stored (a new required field without a default; a column whose stored values are numbers
/// now declared text) is refused with the same typed error as the other stores, before
/// PowerSync touches its views: the file is byte for byte what version 2 left, and version 2
/// opens it again.
#[tokio::test]
async fn a_powersync_client_refuses_an_unsafe_change_and_changes_nothing() {
    use sai::client::{ClientError, ClientStore, EventSourcedActor};
    use sai::powersync::{OpenError, PowerSyncClient};
    use sai::schema::MigrationError;
    use ticket_versions::v2;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("client.db");
    {
        let client = PowerSyncClient::open(
            &path,
            ClientStore::builder().domain::<v2::Ticket>(),
            Offline,
        )
        .await
        .unwrap();
        let ticket = EventSourcedActor::<v2::Ticket>::create(
            client.store(),
            ClientIdentity::new("phone-1", "alice"),
        )
        .unwrap();
        ticket
            .send(v2::TicketEvent::Open {
                summary: "printer".into(),
                urgent: false,
            })
            .unwrap();
        ticket
            .send(v2::TicketEvent::SetSla { hours: Some(8) })
            .unwrap();
    }
    let before = powersync_file_state(&path);
    assert!(
        before.iter().any(|r| r.contains("\"sla_hours\":8")),
        "{before:#?}"
    );

    let refused = PowerSyncClient::open(
        &path,
        ClientStore::builder().domain::<unsafe_tickets::new_required::Ticket>(),
        Offline,
    )
    .await
    .err()
    .expect("a new required field without a default is refused");
    assert!(
        matches!(
            &refused,
            OpenError::Client(ClientError::Migration(MigrationError::NewRequiredColumn {
                column: "priority",
                ..
            }))
        ),
        "{refused:?}"
    );
    assert_eq!(powersync_file_state(&path), before);

    let refused = PowerSyncClient::open(
        &path,
        ClientStore::builder().domain::<unsafe_tickets::type_changed::Ticket>(),
        Offline,
    )
    .await
    .err()
    .expect("a type change of a column with data is refused");
    assert!(
        matches!(
            &refused,
            OpenError::Client(ClientError::Migration(MigrationError::TypeChanged { column, .. }))
                if column == "sla_hours"
        ),
        "{refused:?}"
    );
    assert_eq!(powersync_file_state(&path), before);

    let client = PowerSyncClient::open(
        &path,
        ClientStore::builder().domain::<v2::Ticket>(),
        Offline,
    )
    .await
    .unwrap();
    let seen = client.store().projections::<v2::Ticket>().unwrap();
    assert_eq!(seen[0].context().sla_hours, Some(8));
}
