//! Sharing end to end over the embedded transport: two devices (client stores on SQLite
//! files) and a SQLite server, `Loopback` in between.
//! Membership intents are sent from the devices (`send_membership`), predicted there and
//! decided by the server; guards and sends see the member's role on the device too.

use std::sync::{Arc, Mutex};

use sai::Uuid;
use sai::client::{ClientIdentity, ClientStore, EventSourcedActor, SendError};
use sai::membership::{Member, MemberEvent, Role};
use sai::server::{EventProcessor, PostgresStore, ServerStore, SqliteStore};
use sai::sync::Loopback;
use sai_suite::{List, ListEvent};

fn device(dir: &tempfile::TempDir, name: &str) -> ClientStore {
    ClientStore::builder()
        .domain::<List>()
        .open(dir.path().join(name))
        .unwrap()
}

/// The code of a send the device refused, predicting the server.
fn refused<T>(sent: Result<T, SendError>) -> String {
    match sent {
        Err(SendError::Rejected(rejection)) => rejection.code().to_owned(),
        Err(e) => panic!("expected a predicted rejection, got {e}"),
        Ok(_) => panic!("expected a predicted rejection, the send was accepted"),
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
    alice
        .send_membership(MemberEvent::Invite {
            user: "bob".into(),
            role: Role::Editor,
        })
        .unwrap();
    let report = server.sync(&alice_phone, "alice").await.unwrap();
    assert_eq!(report.decided.accepted, 1);
    assert!(
        alice_phone
            .logged_member_intents::<List>()
            .unwrap()
            .is_empty(),
        "a decided membership intent leaves the log"
    );
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
    let bob =
        EventSourcedActor::<List>::open(&bob_phone, ClientIdentity::new("bob-phone", "bob"), list)
            .unwrap();
    assert_eq!(
        refused(bob.send(item("early"))),
        "not_member",
        "invited, not joined"
    );
    assert_eq!(
        bob.members().unwrap().and_then(|m| m.member("bob")),
        Some(Member {
            role: Role::Editor,
            joined: false
        })
    );
    bob.send_membership(MemberEvent::Join).unwrap();
    assert_eq!(
        bob.members().unwrap().and_then(|m| m.role_of("bob")),
        Some(Role::Editor),
        "the pending join is predicted"
    );
    // The pending join is predicted: bob edits at once, and the server decides the join
    // first (one client, one sequence).
    bob.send(item("pre")).unwrap();
    let report = server.sync(&bob_phone, "bob").await.unwrap();
    assert_eq!((report.decided.accepted, report.decided.rejected), (2, 0));

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
    // The device predicts the server: an editor may not archive, nor invite.
    assert_eq!(refused(bob.send(ListEvent::Archive)), "guard_failed");
    assert_eq!(
        refused(bob.send_membership(MemberEvent::Invite {
            user: "carol".into(),
            role: Role::Viewer,
        })),
        "membership_refused"
    );
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
    assert_eq!(a.context().items, ["pre", "bread", "milk"]);

    // Demoted to viewer, bob's offline edit is rejected: told to bob, once, and not to alice.
    alice
        .send_membership(MemberEvent::ChangeRole {
            user: "bob".into(),
            role: Role::Viewer,
        })
        .unwrap();
    bob.send(item("eggs")).unwrap();
    server.sync(&alice_phone, "alice").await.unwrap();
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
        ["pre", "bread", "milk"],
        "the rejected edit is gone"
    );
    // Now his device knows he only reads.
    assert_eq!(refused(bob.send(item("more"))), "read_only");

    // Promoted again, bob edits offline while alice removes him: the list leaves his device,
    // and his pending edit surfaces as rejected. Nothing fails.
    alice
        .send_membership(MemberEvent::ChangeRole {
            user: "bob".into(),
            role: Role::Editor,
        })
        .unwrap();
    server.sync(&alice_phone, "alice").await.unwrap();
    server.sync(&bob_phone, "bob").await.unwrap();
    bob.send(item("jam")).unwrap();
    alice
        .send_membership(MemberEvent::Remove { user: "bob".into() })
        .unwrap();
    server.sync(&alice_phone, "alice").await.unwrap();
    server.sync(&bob_phone, "bob").await.unwrap();
    assert!(
        bob_phone.projections::<List>().unwrap().is_empty(),
        "the list is still on bob's device"
    );
    assert!(bob.projection().unwrap().is_none());
    assert!(bob.pending_intents().unwrap().is_empty());
    assert_eq!(*bob_told.lock().unwrap(), ["read_only", "not_member"]);
    assert_eq!(
        alice.projection().unwrap().unwrap().context().items,
        ["pre", "bread", "milk"]
    );

    // A membership intent the server refuses is told to its sender like any rejection:
    // alice invites carol from her phone and, offline, from her laptop too.
    let alice_laptop = device(dir, "alice-laptop.db");
    server.sync(&alice_laptop, "alice").await.unwrap();
    let laptop = EventSourcedActor::<List>::open(
        &alice_laptop,
        ClientIdentity::new("alice-laptop", "alice"),
        list,
    )
    .unwrap();
    let (laptop_told, _l) = told(&laptop);
    for actor in [&alice, &laptop] {
        actor
            .send_membership(MemberEvent::Invite {
                user: "carol".into(),
                role: Role::Viewer,
            })
            .unwrap();
    }
    // A second invitation on the same device is refused there: the pending one is predicted.
    assert_eq!(
        refused(laptop.send_membership(MemberEvent::Invite {
            user: "carol".into(),
            role: Role::Editor,
        })),
        "membership_refused"
    );
    server.sync(&alice_phone, "alice").await.unwrap();
    server.sync(&alice_laptop, "alice").await.unwrap();
    server.sync(&alice_phone, "alice").await.unwrap();
    assert_eq!(*laptop_told.lock().unwrap(), ["membership_refused"]);
    assert!(
        alice_told.lock().unwrap().is_empty(),
        "the laptop's rejection is the laptop's"
    );
    assert!(
        alice_laptop
            .logged_member_intents::<List>()
            .unwrap()
            .is_empty()
    );
    assert_eq!(*bob_told.lock().unwrap(), ["read_only", "not_member"]);
}

/// A rebuild that no longer finds a shared list in the archive (a backup of the archive
/// restored without it) removes the row, and the list leaves every member's device, not
/// only its owner's.
#[tokio::test]
async fn on_sqlite_a_shared_list_the_rebuild_removes_leaves_every_members_device() {
    let dir = tempfile::tempdir().unwrap();
    let server_path = dir.path().join("server.db");
    let store = SqliteStore::<List>::open(&server_path).unwrap();
    rebuild_removes(&dir, store, |list| async move {
        rusqlite::Connection::open(&server_path)
            .unwrap()
            .execute(FORGET_LIST, [list.to_string()])
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn on_postgres_a_shared_list_the_rebuild_removes_leaves_every_members_device() {
    let Some(url) = sai_suite::postgres::url() else {
        return;
    };
    let (admin, schema) = sai_suite::postgres::fresh_schema(&url, "sharing_rebuild").await;
    let store = PostgresStore::<List>::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    let admin = &admin;
    let forget = FORGET_LIST.replace("?1", "$1");
    let forget = &forget;
    rebuild_removes(&tempfile::tempdir().unwrap(), store, |list| async move {
        admin
            .batch_execute(&format!("SET search_path TO {schema}"))
            .await
            .unwrap();
        admin.execute(forget, &[&list.to_string()]).await.unwrap();
    })
    .await;
}

/// What a restored archive that never saw the list lacks.
const FORGET_LIST: &str = "DELETE FROM list_intent_events_processed WHERE entity_id = ?1";

async fn rebuild_removes<S, F, Fut>(dir: &tempfile::TempDir, store: S, forget: F)
where
    S: ServerStore<Domain = List>,
    F: FnOnce(Uuid) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut server = Loopback::new(EventProcessor::new(store)).await.unwrap();
    let (alice_phone, bob_phone) = (device(dir, "alice.db"), device(dir, "bob.db"));
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
    alice
        .send_membership(MemberEvent::Invite {
            user: "bob".into(),
            role: Role::Editor,
        })
        .unwrap();
    server.sync(&alice_phone, "alice").await.unwrap();
    server.sync(&bob_phone, "bob").await.unwrap();
    let bob = EventSourcedActor::<List>::open(
        &bob_phone,
        ClientIdentity::new("bob-phone", "bob"),
        alice.entity_id(),
    )
    .unwrap();
    bob.send_membership(MemberEvent::Join).unwrap();
    server.sync(&bob_phone, "bob").await.unwrap();
    assert_eq!(bob_phone.projections::<List>().unwrap().len(), 1);

    // The archive comes back without the list; the rebuild removes its row.
    forget(alice.entity_id()).await;
    server.processor_mut().rebuild_projections().await.unwrap();
    server.sync(&alice_phone, "alice").await.unwrap();
    server.sync(&bob_phone, "bob").await.unwrap();
    assert!(alice_phone.projections::<List>().unwrap().is_empty());
    assert!(
        bob_phone.projections::<List>().unwrap().is_empty(),
        "the removed list is still on a member's device"
    );
}
