//! The whole loop over the embedded transport: client stores on SQLite files, the server on a
//! SQLite file with the stricter machine, `sai::sync::Loopback` in between.

use std::sync::{Arc, Mutex};

use sai::client::{ClientIdentity, ClientStore, EventSourcedActor};
use sai::server::{EventProcessor, SqliteStore};
use sai::sync::{Loopback, SyncError};
use sai_suite::{StrictTodoMachine, Todo, TodoEvent, TodoMachine};

fn store(dir: &tempfile::TempDir, name: &str) -> ClientStore {
    ClientStore::builder()
        .domain::<Todo>()
        .open(dir.path().join(name))
        .unwrap()
}

async fn server(dir: &tempfile::TempDir) -> Loopback<Todo, StrictTodoMachine> {
    let store = SqliteStore::<Todo>::open(dir.path().join("server.db")).unwrap();
    Loopback::new(EventProcessor::new(store).with_machine::<StrictTodoMachine>())
        .await
        .unwrap()
}

fn decided_rows(sync: &mut Loopback<Todo, StrictTodoMachine>) -> (i64, i64) {
    let conn = sync.processor_mut().store_mut().connection();
    let count = |t: &str| {
        conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
            .unwrap()
    };
    (
        count("todo_intent_events_processed"),
        count("todo_intent_events_rejected"),
    )
}

#[tokio::test]
async fn two_devices_edit_offline_and_converge_with_one_rejection() {
    let dir = tempfile::tempdir().unwrap();
    let (phone_store, laptop_store) = (store(&dir, "phone.db"), store(&dir, "laptop.db"));
    let mut sync = server(&dir).await;

    let phone =
        EventSourcedActor::<Todo>::create(&phone_store, ClientIdentity::new("phone", "alice"))
            .unwrap();
    phone
        .send(TodoEvent::Create {
            title: "Buy milk".into(),
        })
        .unwrap();
    sync.sync(&phone_store, "alice").await.unwrap();
    sync.sync(&laptop_store, "alice").await.unwrap();
    let laptop = EventSourcedActor::<Todo>::open(
        &laptop_store,
        ClientIdentity::new("laptop", "alice"),
        phone.entity_id(),
    )
    .unwrap();
    let told = Arc::new(Mutex::new(Vec::new()));
    let sink = told.clone();
    let _l = laptop
        .on_rejection(move |r| {
            sink.lock()
                .unwrap()
                .push((r.code.clone(), r.message.clone()))
        })
        .unwrap();
    let phone_told = Arc::new(Mutex::new(0));
    let sink = phone_told.clone();
    let _p = phone
        .on_rejection(move |_| *sink.lock().unwrap() += 1)
        .unwrap();

    // Offline edits on both devices.
    phone
        .send(TodoEvent::Rename {
            title: "Buy oat milk".into(),
        })
        .unwrap();
    phone.send(TodoEvent::Toggle).unwrap();
    laptop
        .send(TodoEvent::Label {
            label: "errand".into(),
        })
        .unwrap();
    let optimistic = laptop
        .send(TodoEvent::Estimate { hours: Some(80.0) })
        .unwrap();
    assert_eq!(
        optimistic.projection().context().estimate,
        Some(80.0),
        "the client machine allows it"
    );

    for s in [&laptop_store, &phone_store, &laptop_store, &phone_store] {
        sync.sync(s, "alice").await.unwrap();
    }

    let (p, l) = (
        phone.projection().unwrap().unwrap(),
        laptop.projection().unwrap().unwrap(),
    );
    assert_eq!(p.snapshot, l.snapshot);
    assert!(!p.optimistic && !l.optimistic);
    assert_eq!(p.state(), TodoMachine::Done);
    assert_eq!(p.context().title, "Buy oat milk");
    assert_eq!(p.context().labels, ["errand"]);
    assert_eq!(
        p.context().estimate,
        None,
        "the rejected estimate is gone everywhere"
    );
    assert_eq!(p.snapshot.version, 4);
    assert!(
        phone.pending_intents().unwrap().is_empty() && laptop.pending_intents().unwrap().is_empty()
    );
    assert_eq!(decided_rows(&mut sync), (4, 1));

    let told = told.lock().unwrap();
    assert_eq!(told.len(), 1, "told exactly once: {told:?}");
    assert_eq!(told[0].0, "guard_failed");
    assert!(
        told[0].1.contains("estimates above 40 hours need a split"),
        "{}",
        told[0].1
    );
    assert_eq!(
        *phone_told.lock().unwrap(),
        0,
        "the phone's intents were all accepted"
    );
    let rejection = laptop.rejections().unwrap();
    assert_eq!(rejection.len(), 1);
    assert!(laptop.clear_rejection(rejection[0].intent_id).unwrap());
    assert!(laptop.rejections().unwrap().is_empty());
}

#[tokio::test]
async fn a_lost_upload_response_is_retried_and_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let client = store(&dir, "phone.db");
    let mut sync = server(&dir).await;
    let todo =
        EventSourcedActor::<Todo>::create(&client, ClientIdentity::new("phone", "alice")).unwrap();
    todo.send(TodoEvent::Create { title: "a".into() }).unwrap();
    todo.send(TodoEvent::Label { label: "x".into() }).unwrap();

    // The upload reaches the server, the connection drops before the client hears back.
    let first = sync.upload(&client, "alice").await.unwrap();
    assert_eq!((first.inserted, first.duplicates), (2, 0));
    assert_eq!(
        todo.pending_intents().unwrap().len(),
        2,
        "nothing leaves the log on a guess"
    );
    // A retry, before and after the server decided.
    let again = sync.upload(&client, "alice").await.unwrap();
    assert_eq!((again.inserted, again.duplicates), (0, 2));
    let tally = sync.decide().await;
    assert_eq!((tally.accepted, tally.rejected, tally.errors), (2, 0, 0));
    let late = sync.upload(&client, "alice").await.unwrap();
    assert_eq!((late.inserted, late.duplicates), (0, 2));
    assert_eq!(sync.decide().await.decided(), 0);

    sync.download(&client, "alice").await.unwrap();
    assert!(todo.pending_intents().unwrap().is_empty());
    assert_eq!(decided_rows(&mut sync), (2, 0));
    assert_eq!(todo.projection().unwrap().unwrap().snapshot.version, 2);
}

#[tokio::test]
async fn a_device_restarted_while_offline_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut sync = server(&dir).await;
    let entity = {
        let client = store(&dir, "phone.db");
        let todo =
            EventSourcedActor::<Todo>::create(&client, ClientIdentity::new("phone", "alice"))
                .unwrap();
        todo.send(TodoEvent::Create { title: "a".into() }).unwrap();
        sync.sync(&client, "alice").await.unwrap();
        todo.send(TodoEvent::Rename { title: "b".into() }).unwrap();
        todo.send(TodoEvent::Toggle).unwrap();
        todo.entity_id()
        // The process stops here, offline, with two intents pending.
    };
    let client = store(&dir, "phone.db");
    let todo =
        EventSourcedActor::<Todo>::open(&client, ClientIdentity::new("phone", "alice"), entity)
            .unwrap();
    let restored = todo.projection().unwrap().unwrap();
    assert_eq!(
        (restored.state(), restored.context().title.as_str()),
        (TodoMachine::Done, "b")
    );
    assert_eq!(todo.pending_intents().unwrap().len(), 2);

    let r = sync.sync(&client, "alice").await.unwrap();
    assert_eq!((r.uploaded.inserted, r.decided.accepted), (2, 2));
    let p = todo.projection().unwrap().unwrap();
    assert_eq!(
        (p.state(), p.snapshot.version, p.optimistic),
        (TodoMachine::Done, 3, false)
    );
    // New work continues the sequence where it stopped.
    todo.send(TodoEvent::Toggle).unwrap();
    assert_eq!(todo.pending_intents().unwrap()[0].intent.seq, 4);
    sync.sync(&client, "alice").await.unwrap();
    assert_eq!(
        todo.projection().unwrap().unwrap().state(),
        TodoMachine::Active
    );
}

#[tokio::test]
async fn a_round_whose_decisions_failed_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let phone_store = store(&dir, "phone.db");
    let mut sync = server(&dir).await;
    let phone =
        EventSourcedActor::<Todo>::create(&phone_store, ClientIdentity::new("phone", "alice"))
            .unwrap();
    phone
        .send(TodoEvent::Create {
            title: "Buy milk".into(),
        })
        .unwrap();
    sync.sync(&phone_store, "alice").await.unwrap();
    // The server's projection names a state its machine lacks (a state renamed in a
    // release): the server cannot decide this entity's next intent.
    sync.processor_mut()
        .store_mut()
        .connection()
        .execute("UPDATE todo_projection SET state = 'Gone'", [])
        .unwrap();
    phone.send(TodoEvent::Toggle).unwrap();
    match sync.sync(&phone_store, "alice").await {
        Err(SyncError::Undecided { report }) => {
            assert_eq!(report.uploaded.inserted, 1);
            assert_eq!((report.decided.decided(), report.decided.errors), (0, 1));
            let text = SyncError::Undecided { report }.to_string();
            assert!(text.contains("Gone"), "{text}");
        }
        other => panic!("a failed decision must reach a `?` caller: {other:?}"),
    }
}

/// Replaces `to` (a closed store's file) with a copy of `from` (another closed store's
/// file): SQLite checkpoints the WAL on close, so the main file is the whole database.
fn copy_file(dir: &tempfile::TempDir, from: &str, to: &str) {
    for suffix in ["-wal", "-shm"] {
        std::fs::remove_file(dir.path().join(format!("{to}{suffix}"))).ok();
    }
    std::fs::copy(dir.path().join(from), dir.path().join(to)).unwrap();
}

fn server_title(sync: &mut Loopback<Todo, StrictTodoMachine>) -> (String, i64) {
    sync.processor_mut()
        .store_mut()
        .connection()
        .query_row("SELECT title, version FROM todo_projection", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
}

/// Restore the phone's file from a copy taken before its last send was decided, then edit:
/// whether the server's acknowledgement arrives before the edit or only after its upload,
/// the edit is decided (never dropped as a duplicate of the decided send it renumbers).
#[tokio::test]
async fn a_device_restored_from_an_older_copy_loses_no_edit() {
    for download_first in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut sync = server(&dir).await;
        let me = ClientIdentity::new("phone", "alice");
        let entity = {
            let client = store(&dir, "phone.db");
            let todo = EventSourcedActor::<Todo>::create(&client, me.clone()).unwrap();
            todo.send(TodoEvent::Create { title: "a".into() }).unwrap();
            sync.sync(&client, "alice").await.unwrap();
            todo.entity_id()
        };
        copy_file(&dir, "phone.db", "backup.db");
        {
            let client = store(&dir, "phone.db");
            let todo = EventSourcedActor::<Todo>::open(&client, me.clone(), entity).unwrap();
            assert_eq!(
                todo.send(TodoEvent::Rename { title: "b".into() })
                    .unwrap()
                    .seq(),
                2
            );
            sync.sync(&client, "alice").await.unwrap();
        }
        copy_file(&dir, "backup.db", "phone.db");

        let client = store(&dir, "phone.db");
        let todo = EventSourcedActor::<Todo>::open(&client, me.clone(), entity).unwrap();
        if download_first {
            sync.download(&client, "alice").await.unwrap();
        }
        let edit = todo.send(TodoEvent::Rename { title: "c".into() }).unwrap();
        let report = sync.sync(&client, "alice").await.unwrap();
        assert_eq!(
            (report.uploaded.inserted, report.decided.accepted),
            (1, 1),
            "download first: {download_first}"
        );
        assert_eq!(server_title(&mut sync), ("c".to_owned(), 3));
        assert!(todo.pending_intents().unwrap().is_empty());
        assert!(client.rejections::<Todo>().unwrap().is_empty());
        let p = todo.projection().unwrap().unwrap();
        assert_eq!((p.context().title.as_str(), p.optimistic), ("c", false));
        // The edit kept its id; the next send continues after it.
        assert_eq!(decided_rows(&mut sync), (3, 0));
        let archived: String = sync
            .processor_mut()
            .store_mut()
            .connection()
            .query_row(
                "SELECT id FROM todo_intent_events_processed WHERE seq = 3",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(archived, edit.intent_id().to_string());
        assert_eq!(todo.send(TodoEvent::Toggle).unwrap().seq(), 4);
    }
}

/// The phone's file copied to a tablet: two devices, one client id. Each keeps editing; every
/// edit is decided exactly once, none is dropped as a false duplicate.
#[tokio::test]
async fn a_device_file_copied_to_a_second_device_loses_no_edit() {
    let dir = tempfile::tempdir().unwrap();
    let mut sync = server(&dir).await;
    let me = ClientIdentity::new("phone", "alice");
    let entity = {
        let client = store(&dir, "phone.db");
        let todo = EventSourcedActor::<Todo>::create(&client, me.clone()).unwrap();
        todo.send(TodoEvent::Create { title: "a".into() }).unwrap();
        sync.sync(&client, "alice").await.unwrap();
        todo.entity_id()
    };
    copy_file(&dir, "phone.db", "tablet.db");
    let (phone_store, tablet_store) = (store(&dir, "phone.db"), store(&dir, "tablet.db"));
    let phone = EventSourcedActor::<Todo>::open(&phone_store, me.clone(), entity).unwrap();
    let tablet = EventSourcedActor::<Todo>::open(&tablet_store, me.clone(), entity).unwrap();
    let mut labels = Vec::new();
    for round in 0..3 {
        for (name, device, client) in [("p", &phone, &phone_store), ("t", &tablet, &tablet_store)] {
            let label = format!("{name}{round}");
            device
                .send(TodoEvent::Label {
                    label: label.clone(),
                })
                .unwrap();
            labels.push(label);
            let report = sync.sync(client, "alice").await.unwrap();
            assert_eq!(
                (report.uploaded.inserted, report.decided.accepted),
                (1, 1),
                "{name} round {round}"
            );
        }
    }
    for (device, client) in [(&phone, &phone_store), (&tablet, &tablet_store)] {
        sync.sync(client, "alice").await.unwrap();
        assert!(device.pending_intents().unwrap().is_empty());
        assert_eq!(
            device.projection().unwrap().unwrap().context().labels,
            labels
        );
    }
    assert_eq!(decided_rows(&mut sync), (7, 0));
}
