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
