//! The product end to end over PowerSync: real `powersync` clients on SQLite files, the fake
//! PowerSync service speaking the real protocol, and a backend whose upload endpoint calls the
//! real ingestion and `EventProcessor` — on a SQLite server and on the real PostgreSQL server.

use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::Ordering;

use sai::client::{ClientIdentity, EventSourcedActor, Projection};
use sai_suite::fake_powersync::FakeService;
use sai_suite::powersync_app::{Device, Server, eventually};
use sai_suite::{Todo, TodoEvent, TodoMachine};
use tokio::sync::Mutex;

fn settled(actor: &EventSourcedActor<Todo>) -> Option<Projection<Todo>> {
    let p = actor.projection().ok()??;
    (actor.pending_intents().ok()?.is_empty() && !p.optimistic).then_some(p)
}

async fn scenario(server: Server) {
    let dir = tempfile::tempdir().unwrap();
    let service = FakeService::new("sai_todo");
    let server = Arc::new(Mutex::new(server));
    let phone_dev = Device::open(dir.path(), "phone.db", "alice", &server, &service).await;
    let laptop_dev = Device::open(dir.path(), "laptop.db", "alice", &server, &service).await;

    // The phone creates a todo and it is confirmed.
    phone_dev.connect().await;
    let phone =
        EventSourcedActor::<Todo>::create(phone_dev.store(), ClientIdentity::new("phone", "alice"))
            .unwrap();
    phone
        .send(TodoEvent::Create {
            title: "Buy milk".into(),
        })
        .unwrap();
    let confirmed = eventually("the create to be confirmed", || settled(&phone)).await;
    assert_eq!(
        (confirmed.state(), confirmed.snapshot.version),
        (TodoMachine::Active, 1)
    );

    // The laptop receives it.
    laptop_dev.connect().await;
    let id = phone.entity_id();
    eventually("the laptop to see the todo", || {
        laptop_dev.store().projection::<Todo>(id).ok().flatten()
    })
    .await;
    let laptop = EventSourcedActor::<Todo>::open(
        laptop_dev.store(),
        ClientIdentity::new("laptop", "alice"),
        id,
    )
    .unwrap();
    let told = Arc::new(StdMutex::new(Vec::new()));
    let sink = told.clone();
    let _listener = laptop
        .on_rejection(move |r| sink.lock().unwrap().push(r.message.clone()))
        .unwrap();

    // Both go offline and edit.
    phone_dev.client.db().disconnect().await;
    laptop_dev.client.db().disconnect().await;
    phone
        .send(TodoEvent::Rename {
            title: "Buy oat milk".into(),
        })
        .unwrap();
    laptop
        .send(TodoEvent::Label {
            label: "errand".into(),
        })
        .unwrap();
    assert_eq!(
        laptop
            .send(TodoEvent::Estimate { hours: Some(80.0) })
            .unwrap()
            .context()
            .estimate,
        Some(80.0)
    );

    // Back online; the laptop's first upload loses its response after the server stored it.
    laptop_dev
        .backend
        .fail_after_ingest
        .store(1, Ordering::SeqCst);
    laptop_dev.connect().await;
    phone_dev.connect().await;
    let l = eventually("the laptop to settle", || {
        settled(&laptop).filter(|p| p.context().title == "Buy oat milk")
    })
    .await;
    let p = eventually("the phone to settle", || {
        settled(&phone).filter(|p| p.snapshot.version == 3)
    })
    .await;
    assert_eq!(
        laptop_dev.backend.fail_after_ingest.load(Ordering::SeqCst),
        0,
        "the failure happened"
    );
    assert_eq!(p.snapshot, l.snapshot);
    assert_eq!(p.context().labels, ["errand"]);
    assert_eq!(
        p.context().estimate,
        None,
        "the server's stricter guard won"
    );
    let told = eventually("the laptop to be told", || {
        let t = told.lock().unwrap().clone();
        (!t.is_empty()).then_some(t)
    })
    .await;
    assert_eq!(told.len(), 1);
    assert!(
        told[0].contains("estimates above 40 hours need a split"),
        "{told:?}"
    );
    {
        let mut s = server.lock().await;
        assert_eq!(
            s.count("todo_intent_events_processed").await,
            3,
            "each intent decided once"
        );
        assert_eq!(s.count("todo_intent_events_rejected").await, 1);
        assert_eq!(s.count("todo_intent_events").await, 0);
    }

    // The phone is restarted while offline, with work pending; it resumes.
    phone_dev.client.db().disconnect().await;
    phone.send(TodoEvent::Toggle).unwrap();
    drop(phone);
    drop(phone_dev);
    let phone_dev = Device::open(dir.path(), "phone.db", "alice", &server, &service).await;
    let phone = EventSourcedActor::<Todo>::open(
        phone_dev.store(),
        ClientIdentity::new("phone", "alice"),
        id,
    )
    .unwrap();
    assert_eq!(phone.pending_intents().unwrap().len(), 1);
    assert_eq!(phone.state().unwrap(), TodoMachine::Done);
    phone_dev.connect().await;
    let p = eventually("the restarted phone to settle", || {
        settled(&phone).filter(|p| p.snapshot.version == 4)
    })
    .await;
    assert_eq!(p.state(), TodoMachine::Done);
    let l = eventually("the laptop to follow", || {
        settled(&laptop).filter(|p| p.snapshot.version == 4)
    })
    .await;
    assert_eq!(l.snapshot, p.snapshot);
    assert_eq!(
        server
            .lock()
            .await
            .count("todo_intent_events_processed")
            .await,
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_converge_through_powersync_on_a_sqlite_server() {
    let dir = tempfile::tempdir().unwrap();
    scenario(Server::sqlite(&dir.path().join("server.db")).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_converge_through_powersync_on_postgres() {
    let Some(url) = sai_suite::postgres::url() else {
        return;
    };
    let (client, schema) = sai_suite::postgres::fresh_schema(&url, "e2e").await;
    scenario(Server::postgres(&url, &schema, client).await).await;
}
