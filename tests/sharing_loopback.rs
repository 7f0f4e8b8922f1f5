//! Sharing end to end over the embedded transport: two devices (client stores on SQLite
//! files) and a SQLite server, `Loopback` in between.
//!
//! Membership intents are uploaded through the server's `ingest` under the acting user, as a
//! device's upload would carry them (from a client id of their own: the device API does not
//! log membership intents yet).

use std::sync::{Arc, Mutex};

use sai::Uuid;
use sai::client::{ClientIdentity, ClientStore, EventSourcedActor};
use sai::membership::{MemberEvent, Role};
use sai::server::{EventProcessor, PostgresStore, ServerStore, SqliteStore, ingest};
use sai::sync::Loopback;
use sai_suite::{List, ListEvent, ListMachine};

fn device(dir: &tempfile::TempDir, name: &str) -> ClientStore {
    ClientStore::builder()
        .domain::<List>()
        .open(dir.path().join(name))
        .unwrap()
}

/// Membership intents of one user, numbered on a client of their own.
struct Admin {
    user: &'static str,
    seq: u64,
}

impl Admin {
    async fn send<S: ServerStore<Domain = List>>(
        &mut self,
        server: &mut Loopback<List, ListMachine, S>,
        list: Uuid,
        event: MemberEvent,
    ) {
        self.seq += 1;
        let raw = event.to_raw(list, format!("{}-admin", self.user), self.user, self.seq, 0);
        ingest(server.processor_mut().store_mut(), self.user, &[raw])
            .await
            .unwrap();
        let t = server.decide().await;
        assert_eq!((t.accepted, t.rejected), (1, 0), "{event:?}");
    }
}

fn item(name: &str) -> ListEvent {
    ListEvent::AddItem { item: name.into() }
}

#[tokio::test]
async fn on_sqlite_members_edit_offline_converge_and_a_removed_member_loses_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let server = SqliteStore::<List>::open(dir.path().join("server.db")).unwrap();
    timeline(&dir, server).await;
}

#[tokio::test]
async fn on_postgres_members_edit_offline_converge_and_a_removed_member_loses_the_list() {
    let Some(url) = sai_suite::postgres::url() else {
        return;
    };
    let (_admin, schema) = sai_suite::postgres::fresh_schema(&url, "sharing_loop").await;
    let server = PostgresStore::<List>::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    timeline(&tempfile::tempdir().unwrap(), server).await;
}

async fn timeline<S: ServerStore<Domain = List>>(dir: &tempfile::TempDir, server: S) {
    let (alice_phone, bob_phone) = (device(dir, "alice.db"), device(dir, "bob.db"));
    let mut server = Loopback::new(EventProcessor::new(server)).await.unwrap();
    let (mut alice_admin, mut bob_admin) = (
        Admin {
            user: "alice",
            seq: 0,
        },
        Admin {
            user: "bob",
            seq: 0,
        },
    );

    // Alice creates a list and invites bob, who sees it once he syncs, and joins.
    let alice = EventSourcedActor::<List>::create(
        &alice_phone,
        ClientIdentity::new("alice-phone", "alice"),
    )
    .unwrap();
    alice
        .send(ListEvent::Create {
            title: "groceries".into(),
        })
        .unwrap();
    server.sync(&alice_phone, "alice").await.unwrap();
    let list = alice.entity_id();
    alice_admin
        .send(
            &mut server,
            list,
            MemberEvent::Invite {
                user: "bob".into(),
                role: Role::Editor,
            },
        )
        .await;
    server.sync(&bob_phone, "bob").await.unwrap();
    let shared: Vec<Uuid> = bob_phone
        .projections::<List>()
        .unwrap()
        .iter()
        .map(|p| p.entity_id)
        .collect();
    assert_eq!(
        shared,
        [list],
        "the list shared with bob is among his projections"
    );
    bob_admin.send(&mut server, list, MemberEvent::Join).await;
    let bob =
        EventSourcedActor::<List>::open(&bob_phone, ClientIdentity::new("bob-phone", "bob"), list)
            .unwrap();

    let told = |actor: &EventSourcedActor<List>| {
        let told = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = told.clone();
        let sub = actor
            .on_rejection(move |r| sink.lock().unwrap().push(r.code.clone()))
            .unwrap();
        (told, sub)
    };
    let (alice_told, _a) = told(&alice);
    let (bob_told, _b) = told(&bob);

    // Both edit offline, then sync in turns: they converge.
    alice.send(item("milk")).unwrap();
    bob.send(item("bread")).unwrap();
    for (store, user) in [
        (&bob_phone, "bob"),
        (&alice_phone, "alice"),
        (&bob_phone, "bob"),
    ] {
        server.sync(store, user).await.unwrap();
    }
    let (a, b) = (
        alice.projection().unwrap().unwrap(),
        bob.projection().unwrap().unwrap(),
    );
    assert_eq!(a.snapshot, b.snapshot);
    assert!(!a.optimistic && !b.optimistic);
    assert_eq!(a.context().items, ["bread", "milk"]);

    // Demoted to viewer, bob's offline edit is rejected: told to bob, once, and not to alice.
    alice_admin
        .send(
            &mut server,
            list,
            MemberEvent::ChangeRole {
                user: "bob".into(),
                role: Role::Viewer,
            },
        )
        .await;
    bob.send(item("eggs")).unwrap();
    server.sync(&bob_phone, "bob").await.unwrap();
    server.sync(&bob_phone, "bob").await.unwrap();
    server.sync(&alice_phone, "alice").await.unwrap();
    assert_eq!(*bob_told.lock().unwrap(), ["read_only"]);
    assert!(alice_told.lock().unwrap().is_empty());
    assert!(
        alice.rejections().unwrap().is_empty(),
        "bob's rejection is bob's"
    );
    assert_eq!(
        bob.projection().unwrap().unwrap().context().items,
        ["bread", "milk"],
        "the rejected edit is gone"
    );

    // Promoted again, bob edits offline while alice removes him: the list leaves his device,
    // and his pending edit surfaces as rejected. Nothing fails.
    alice_admin
        .send(
            &mut server,
            list,
            MemberEvent::ChangeRole {
                user: "bob".into(),
                role: Role::Editor,
            },
        )
        .await;
    bob.send(item("jam")).unwrap();
    alice_admin
        .send(
            &mut server,
            list,
            MemberEvent::Remove { user: "bob".into() },
        )
        .await;
    server.sync(&bob_phone, "bob").await.unwrap();
    assert!(
        bob_phone.projections::<List>().unwrap().is_empty(),
        "the list is still on bob's device"
    );
    assert!(bob.projection().unwrap().is_none());
    assert!(bob.pending_intents().unwrap().is_empty());
    assert_eq!(*bob_told.lock().unwrap(), ["read_only", "not_member"]);
    server.sync(&alice_phone, "alice").await.unwrap();
    assert_eq!(
        alice.projection().unwrap().unwrap().context().items,
        ["bread", "milk"]
    );
    assert!(alice_told.lock().unwrap().is_empty());
}
