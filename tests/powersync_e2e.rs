//! The product end to end over PowerSync: real `powersync` clients on SQLite files, the fake
//! PowerSync service speaking the real protocol, and a backend whose upload endpoint calls the
//! real ingestion and `EventProcessor` — on a SQLite server and on the real PostgreSQL server.

use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::Ordering;

use sai::client::{ClientIdentity, ClientStore, EventSourcedActor, Projection};
use sai::powersync::UploadBatch;
use sai::{Domain, Event, machine};
use sai_suite::fake_powersync::FakeService;
use sai_suite::powersync_app::{Device, Server, eventually};
use sai_suite::{Note, NoteEvent, NoteMachine, Todo, TodoEvent, TodoMachine};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

fn settled<D: Domain>(actor: &EventSourcedActor<D>) -> Option<Projection<D>> {
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
            .projection()
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

/// Entries in the device's upload queue.
fn queued(device: &Device) -> i64 {
    device
        .store()
        .with_connection(|c| c.query_row("SELECT count(*) FROM ps_crud", [], |r| r.get(0)))
        .unwrap()
}

/// Each domain of a batch with its intents' sequence numbers.
fn seqs(batch: &UploadBatch) -> Vec<(String, Vec<u64>)> {
    batch
        .domains()
        .map(|(d, intents)| (d.to_owned(), intents.iter().map(|i| i.seq).collect()))
        .collect()
}

/// One device writes todos and notes, interleaved, while offline; its first upload carries
/// both domains and loses its response after the server stored it. Each domain's intents reach
/// that domain's store and are decided once, and the device's log empties for both.
async fn two_domains(server: Server) {
    let dir = tempfile::tempdir().unwrap();
    let service = FakeService::new("sai_todo");
    let server = Arc::new(Mutex::new(server));
    let both = ClientStore::builder().domain::<Todo>().domain::<Note>();
    let tablet = Device::open_with(dir.path(), "tablet.db", "alice", &server, &service, both).await;
    let me = ClientIdentity::new("tablet", "alice");
    let todo = EventSourcedActor::<Todo>::create(tablet.store(), me.clone()).unwrap();
    let note = EventSourcedActor::<Note>::create(tablet.store(), me).unwrap();
    todo.send(TodoEvent::Create {
        title: "Call mom".into(),
    })
    .unwrap();
    note.send(NoteEvent::Write {
        text: "milk".into(),
    })
    .unwrap();
    todo.send(TodoEvent::Label {
        label: "family".into(),
    })
    .unwrap();
    note.send(NoteEvent::Write {
        text: "milk, eggs".into(),
    })
    .unwrap();
    note.send(NoteEvent::Archive).unwrap();

    tablet.backend.fail_after_ingest.store(1, Ordering::SeqCst);
    tablet.connect().await;
    let t = eventually("the todo to settle", || {
        settled(&todo).filter(|p| p.snapshot.version == 2)
    })
    .await;
    let n = eventually("the note to settle", || {
        settled(&note).filter(|p| p.snapshot.version == 3)
    })
    .await;
    assert_eq!(
        (
            t.state(),
            t.context().title.as_str(),
            &t.context().labels[..]
        ),
        (TodoMachine::Active, "Call mom", &["family".to_owned()][..])
    );
    assert_eq!(
        (n.state(), n.context().text.as_str()),
        (NoteMachine::Archived, "milk, eggs")
    );
    assert!(tablet.store().pending_intents::<Todo>().unwrap().is_empty());
    assert!(tablet.store().pending_intents::<Note>().unwrap().is_empty());

    // The first upload held both domains, each in sequence order; it is sent again whole and
    // then leaves the queue.
    assert_eq!(
        tablet.backend.fail_after_ingest.load(Ordering::SeqCst),
        0,
        "the failure happened"
    );
    eventually("the lost upload to be retried", || {
        (queued(&tablet) == 0).then_some(())
    })
    .await;
    let uploads = tablet.backend.uploads.lock().unwrap().clone();
    assert_eq!(
        seqs(&uploads[0]),
        [
            ("todo".to_owned(), vec![1, 2]),
            ("note".to_owned(), vec![1, 2, 3])
        ]
    );
    assert_eq!(
        uploads.len(),
        2,
        "{:?}",
        uploads.iter().map(seqs).collect::<Vec<_>>()
    );
    assert_eq!(uploads[1], uploads[0]);

    let mut s = server.lock().await;
    for (table, rows) in [
        ("todo_intent_events_processed", 2),
        ("note_intent_events_processed", 3),
        ("todo_intent_events_rejected", 0),
        ("note_intent_events_rejected", 0),
        ("todo_intent_events", 0),
        ("note_intent_events", 0),
    ] {
        assert_eq!(s.count(table).await, rows, "{table}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_domains_upload_into_their_own_stores_on_a_sqlite_server() {
    let dir = tempfile::tempdir().unwrap();
    two_domains(Server::sqlite(&dir.path().join("server.db")).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_domains_upload_into_their_own_stores_on_postgres() {
    let Some(url) = sai_suite::postgres::url() else {
        return;
    };
    let (client, schema) = sai_suite::postgres::fresh_schema(&url, "e2e_domains").await;
    two_domains(Server::postgres(&url, &schema, client).await).await;
}

/// A domain the server does not serve.
#[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[domain(name = "tag", machine = TagMachine)]
struct Tag {
    name: String,
}

#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
enum TagEvent {
    Name { name: String },
}

#[machine(domain = Tag, event = TagEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TagMachine {
    #[initial]
    #[on(Name => Named)]
    Unnamed,
    Named,
}

/// A batch with a domain the backend does not serve is refused whole: nothing of it is
/// stored, not even its served domain's intents, and it stays queued on the device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_an_unserved_domain_is_refused_and_stays_queued() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::sqlite(&dir.path().join("server.db")).await;
    let server = Arc::new(Mutex::new(server));
    let service = FakeService::new("sai_todo");
    let builder = ClientStore::builder().domain::<Todo>().domain::<Tag>();
    let phone =
        Device::open_with(dir.path(), "phone.db", "alice", &server, &service, builder).await;
    let me = ClientIdentity::new("phone", "alice");
    let todo = EventSourcedActor::<Todo>::create(phone.store(), me.clone()).unwrap();
    todo.send(TodoEvent::Create {
        title: "Buy milk".into(),
    })
    .unwrap();
    let tag = EventSourcedActor::<Tag>::create(phone.store(), me).unwrap();
    tag.send(TagEvent::Name {
        name: "errand".into(),
    })
    .unwrap();

    phone.connect().await;
    let uploads = eventually("two upload attempts", || {
        let uploads = phone.backend.uploads.lock().unwrap();
        (uploads.len() >= 2).then(|| uploads.clone())
    })
    .await;
    assert_eq!(
        seqs(&uploads[0]),
        [("todo".to_owned(), vec![1]), ("tag".to_owned(), vec![1])]
    );
    assert_eq!(uploads[1], uploads[0], "retried unchanged");
    {
        let mut s = server.lock().await;
        assert_eq!(s.count("todo_intent_events").await, 0);
        assert_eq!(s.count("todo_intent_events_processed").await, 0);
    }
    assert_eq!(todo.pending_intents().unwrap().len(), 1);
    assert_eq!(tag.pending_intents().unwrap().len(), 1);
    assert_eq!(queued(&phone), 2, "nothing was completed");
}

/// A device connected while intents are queued, and the change announcement that should
/// start the uploader is never sent (as when it races the first download): the uploader
/// still drains the queue, because the client keeps looking at it until it is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_intents_upload_after_connect_without_a_wake_up() {
    let dir = tempfile::tempdir().unwrap();
    let service = FakeService::new("sai_todo");
    let server = Arc::new(Mutex::new(
        Server::sqlite(&dir.path().join("server.db")).await,
    ));
    let phone_dev = Device::open(dir.path(), "phone.db", "alice", &server, &service).await;
    let phone =
        EventSourcedActor::<Todo>::create(phone_dev.store(), ClientIdentity::new("phone", "alice"))
            .unwrap();
    phone
        .send(TodoEvent::Create {
            title: "offline".into(),
        })
        .unwrap();
    phone.send(TodoEvent::Toggle).unwrap();
    assert_eq!(queued(&phone_dev), 2);
    // Connect without `PowerSyncClient::connect`'s wake-up: nothing touches ps_crud after
    // the uploader starts listening.
    let mut options = powersync::SyncOptions::new(phone_dev.backend.clone());
    options.with_retry_delay(std::time::Duration::from_millis(50));
    phone_dev.client.db().connect(options).await;
    let p = eventually("the queued intents to be decided", || {
        settled(&phone).filter(|p| p.snapshot.version == 2)
    })
    .await;
    assert_eq!(p.state(), TodoMachine::Done);
    assert_eq!(queued(&phone_dev), 0);
}

/// A consistent copy of a device's file, as a backup tool takes it.
fn backup(device: &Device, to: &std::path::Path) {
    device
        .store()
        .with_connection(|c| c.execute("VACUUM INTO ?1", [to.to_str().unwrap()]))
        .unwrap();
}

/// The phone's file restored from a backup taken before its last send was decided; an edit
/// made before the restored phone reconnects reuses that decided sequence number. The
/// server refuses it as taken, the upload path renumbers it, and it is decided: no edit
/// is lost as a false duplicate.
async fn restored_device(server: Server) {
    let dir = tempfile::tempdir().unwrap();
    let service = FakeService::new("sai_todo");
    let server = Arc::new(Mutex::new(server));
    let me = ClientIdentity::new("phone", "alice");
    let phone_dev = Device::open(dir.path(), "phone.db", "alice", &server, &service).await;
    phone_dev.connect().await;
    let phone = EventSourcedActor::<Todo>::create(phone_dev.store(), me.clone()).unwrap();
    phone.send(TodoEvent::Create { title: "a".into() }).unwrap();
    eventually("the todo to be created", || {
        settled(&phone).filter(|p| p.snapshot.version == 1)
    })
    .await;
    backup(&phone_dev, &dir.path().join("backup.db"));
    phone.send(TodoEvent::Rename { title: "b".into() }).unwrap();
    eventually("the rename to be decided", || {
        settled(&phone).filter(|p| p.snapshot.version == 2)
    })
    .await;
    let id = phone.entity_id();
    phone_dev.client.db().disconnect().await;
    drop(phone);
    drop(phone_dev);

    let restored_dev = Device::open(dir.path(), "backup.db", "alice", &server, &service).await;
    let restored = EventSourcedActor::<Todo>::open(restored_dev.store(), me, id).unwrap();
    assert_eq!(restored.projection().unwrap().unwrap().context().title, "a");
    let edit = restored
        .send(TodoEvent::Rename { title: "c".into() })
        .unwrap();
    assert_eq!(
        edit.seq(),
        2,
        "the restored file does not know seq 2 was decided"
    );
    restored_dev.connect().await;
    let p = eventually("the restored phone's edit to be decided", || {
        settled(&restored).filter(|p| p.snapshot.version == 3)
    })
    .await;
    assert_eq!(p.context().title, "c");
    assert!(restored.rejections().unwrap().is_empty());
    let mut s = server.lock().await;
    assert_eq!(s.count("todo_intent_events_processed").await, 3);
    assert_eq!(s.count("todo_intent_events_rejected").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_device_loses_no_edit_on_a_sqlite_server() {
    let dir = tempfile::tempdir().unwrap();
    restored_device(Server::sqlite(&dir.path().join("server.db")).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_device_loses_no_edit_on_postgres() {
    let Some(url) = sai_suite::postgres::url() else {
        return;
    };
    let (client, schema) = sai_suite::postgres::fresh_schema(&url, "restore").await;
    restored_device(Server::postgres(&url, &schema, client).await).await;
}

/// The phone's file copied to a tablet (two devices, one client id), both on PowerSync: the
/// tablet's edit reuses the sequence number the phone's was decided under; it is refused as
/// taken, renumbered and decided. Both edits count, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloned_device_loses_no_edit() {
    let dir = tempfile::tempdir().unwrap();
    let service = FakeService::new("sai_todo");
    let server = Arc::new(Mutex::new(
        Server::sqlite(&dir.path().join("server.db")).await,
    ));
    let me = ClientIdentity::new("phone", "alice");
    let phone_dev = Device::open(dir.path(), "phone.db", "alice", &server, &service).await;
    phone_dev.connect().await;
    let phone = EventSourcedActor::<Todo>::create(phone_dev.store(), me.clone()).unwrap();
    phone.send(TodoEvent::Create { title: "a".into() }).unwrap();
    eventually("the todo to be created", || {
        settled(&phone).filter(|p| p.snapshot.version == 1)
    })
    .await;
    backup(&phone_dev, &dir.path().join("tablet.db"));
    let tablet_dev = Device::open(dir.path(), "tablet.db", "alice", &server, &service).await;
    let tablet =
        EventSourcedActor::<Todo>::open(tablet_dev.store(), me, phone.entity_id()).unwrap();

    let label = |l: &str| TodoEvent::Label { label: l.into() };
    assert_eq!(phone.send(label("phone")).unwrap().seq(), 2);
    eventually("the phone's label to be decided", || {
        settled(&phone).filter(|p| p.snapshot.version == 2)
    })
    .await;
    assert_eq!(tablet.send(label("tablet")).unwrap().seq(), 2);
    tablet_dev.connect().await;
    for device in [&phone, &tablet] {
        let p = eventually("both devices to converge", || {
            settled(device).filter(|p| p.snapshot.version == 3)
        })
        .await;
        assert_eq!(p.context().labels, ["phone", "tablet"]);
    }
    let mut s = server.lock().await;
    assert_eq!(s.count("todo_intent_events_processed").await, 3);
    assert_eq!(s.count("todo_intent_events_rejected").await, 0);
}

/// Sharing over PowerSync: alice shares a list with bob, who joins and edits; demoted to
/// viewer, his offline edit is rejected and told to him once; removed, the list leaves his
/// device (the service removes its rows) and his pending edit surfaces as rejected.
async fn sharing(server: Server) {
    use sai::membership::{MemberEvent, Role};
    use sai_suite::{List, ListEvent};

    let dir = tempfile::tempdir().unwrap();
    let service = FakeService::new("sai_list");
    let server = Arc::new(Mutex::new(server));
    let open = |name: &'static str, user: &'static str| {
        let (dir, server, service) = (dir.path(), &server, &service);
        async move {
            let lists = ClientStore::builder().domain::<List>();
            Device::open_with(dir, name, user, server, service, lists).await
        }
    };
    let alice_dev = open("alice.db", "alice").await;
    let bob_dev = open("bob.db", "bob").await;
    let publish = |user: &'static str| {
        let (server, service) = (server.clone(), service.clone());
        async move { server.lock().await.publish(&service, user).await }
    };
    let decided = |dev: &Device| {
        dev.store()
            .logged_member_intents::<List>()
            .is_ok_and(|l| l.is_empty())
            .then_some(())
    };
    let item = |name: &str| ListEvent::AddItem { item: name.into() };

    alice_dev.connect().await;
    let alice = EventSourcedActor::<List>::create(
        alice_dev.store(),
        ClientIdentity::new("alice-phone", "alice"),
    )
    .unwrap();
    alice
        .send(ListEvent::Create {
            title: "groceries".into(),
        })
        .unwrap();
    alice
        .send_membership(MemberEvent::Invite {
            user: "bob".into(),
            role: Role::Editor,
        })
        .unwrap();
    eventually("alice's list and invitation to be decided", || {
        settled(&alice).and(decided(&alice_dev))
    })
    .await;
    let list = alice.entity_id();

    // Bob receives the shared list, joins and edits.
    publish("bob").await;
    bob_dev.connect().await;
    eventually("bob to see the list", || {
        bob_dev.store().projection::<List>(list).ok().flatten()
    })
    .await;
    let bob = EventSourcedActor::<List>::open(
        bob_dev.store(),
        ClientIdentity::new("bob-phone", "bob"),
        list,
    )
    .unwrap();
    let told = Arc::new(StdMutex::new(Vec::new()));
    let sink = told.clone();
    let _listener = bob
        .on_rejection(move |r| sink.lock().unwrap().push(r.code.clone()))
        .unwrap();
    bob.send_membership(MemberEvent::Join).unwrap();
    bob.send(item("milk")).unwrap();
    eventually("bob's edit to be accepted", || {
        settled(&bob).filter(|p| p.context().items == ["milk"])
    })
    .await;
    publish("alice").await;
    eventually("alice to see bob's edit", || {
        settled(&alice).filter(|p| p.context().items == ["milk"])
    })
    .await;

    // Demoted while offline, bob's edit is rejected, and he is told once.
    bob_dev.client.db().disconnect().await;
    alice
        .send_membership(MemberEvent::ChangeRole {
            user: "bob".into(),
            role: Role::Viewer,
        })
        .unwrap();
    eventually("the demotion to be decided", || decided(&alice_dev)).await;
    bob.send(item("eggs")).unwrap();
    bob_dev.connect().await;
    eventually("bob to be told read_only", || {
        (*told.lock().unwrap() == ["read_only"]).then_some(())
    })
    .await;
    eventually("bob's list without the eggs", || {
        settled(&bob).filter(|p| p.context().items == ["milk"])
    })
    .await;

    // Promoted, then removed while his edit waits offline: the list leaves his device.
    alice
        .send_membership(MemberEvent::ChangeRole {
            user: "bob".into(),
            role: Role::Editor,
        })
        .unwrap();
    eventually("the promotion to be decided", || decided(&alice_dev)).await;
    publish("bob").await;
    eventually("bob to know he edits again", || bob.send(item("jam")).ok()).await;
    bob_dev.client.db().disconnect().await;
    // The edit above may have gone up already; one more waits offline.
    bob.send(item("honey")).unwrap();
    alice
        .send_membership(MemberEvent::Remove { user: "bob".into() })
        .unwrap();
    eventually("the removal to be decided", || decided(&alice_dev)).await;
    bob_dev.connect().await;
    eventually("the list to leave bob's device", || {
        (bob_dev.store().projections::<List>().ok()?.is_empty()
            && bob.pending_intents().ok()?.is_empty())
        .then_some(())
    })
    .await;
    eventually("bob to be told not_member", || {
        (told.lock().unwrap().last().map(String::as_str) == Some("not_member")).then_some(())
    })
    .await;
    let told = told.lock().unwrap().clone();
    assert_eq!(told[0], "read_only");
    assert_eq!(
        told.iter().filter(|c| *c == "read_only").count(),
        1,
        "told once: {told:?}"
    );
    assert!(
        alice.rejections().unwrap().is_empty(),
        "bob's rejections are bob's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_through_powersync_on_a_sqlite_server() {
    let dir = tempfile::tempdir().unwrap();
    sharing(Server::sqlite(&dir.path().join("server.db")).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_through_powersync_on_postgres() {
    let Some(url) = sai_suite::postgres::url() else {
        return;
    };
    let (client, schema) = sai_suite::postgres::fresh_schema(&url, "e2e_sharing").await;
    sharing(Server::postgres(&url, &schema, client).await).await;
}
