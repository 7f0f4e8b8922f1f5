//! The client store's building blocks on a connection leased from a real `powersync`
//! database, where the local-only tables are views: the same SQL must work there.

use sai::client::{ClientIdentity, IntentWriter, PendingStatus, ReconciliationEngine};
use sai::powersync::client_schema;
use sai::{Schema, Uuid};
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

    // Intents leave the log through the view, and their numbers are not reissued.
    let first = writer.pending_intents(&conn, entity).unwrap()[0].id;
    let tx = conn.transaction().unwrap();
    assert_eq!(writer.clear_processed_intents(&tx, &[first]).unwrap(), 1);
    let written = writer.write(&tx, entity, TodoEvent::Toggle).unwrap();
    tx.commit().unwrap();
    assert_eq!(written.intent.seq, 4);
    let seqs: Vec<u64> = writer
        .pending_intents(&conn, entity)
        .unwrap()
        .iter()
        .map(|i| i.seq)
        .collect();
    assert_eq!(seqs, vec![2, 3, 4]);
    drop(conn);

    // Nothing of the local tables is queued for upload.
    assert!(db.next_crud_transaction().await.unwrap().is_none());
}
