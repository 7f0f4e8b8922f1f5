//! Rejections flow to listeners exactly once, stay listed until cleared, and survive reopen.

mod client_common;

use std::sync::{Arc, Mutex};

use client_common::*;
use sai::client::{ClientError, ClientStore, EventSourcedActor, StoredRejection, Subscription};
use sai::{Intent, Rejection, Uuid};
use sai_suite::{Todo, TodoEvent, create};

type Heard = Arc<Mutex<Vec<StoredRejection>>>;

fn listen(actor: &EventSourcedActor<Todo>) -> (Heard, Subscription) {
    let heard: Heard = Arc::default();
    let sink = heard.clone();
    let sub = actor
        .on_rejection(move |r| sink.lock().unwrap().push(r.clone()))
        .unwrap();
    (heard, sub)
}

/// Creates a todo and sends an estimate the server will reject; the server decides both.
fn rejected_estimate(store: &ClientStore) -> (EventSourcedActor<Todo>, Vec<Decision>) {
    let actor = EventSourcedActor::<Todo>::create(store, alice()).unwrap();
    actor.send(create("Plan")).unwrap();
    actor
        .send(TodoEvent::Estimate { hours: Some(99.0) })
        .unwrap();
    let decisions = Server::default().decide(store, usize::MAX);
    (actor, decisions)
}

#[test]
fn a_rejection_reaches_the_listeners_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let (actor, decisions) = rejected_estimate(&store);
    let (heard, _sub) = listen(&actor);
    let domain_heard: Heard = Arc::default();
    let sink = domain_heard.clone();
    let _domain = store
        .on_rejection::<Todo>(move |r| sink.lock().unwrap().push(r.clone()))
        .unwrap();
    assert!(heard.lock().unwrap().is_empty());

    let summary = deliver(&store, &decisions);
    assert_eq!(summary.domains[0].1.surfaced, 1);
    store.reconcile_all().unwrap();
    actor.reconcile().unwrap();
    let heard = heard.lock().unwrap().clone();
    assert_eq!(heard.len(), 1);
    assert_eq!(domain_heard.lock().unwrap().len(), 1);
    let r = &heard[0];
    assert_eq!((r.seq, r.code.as_str()), (2, "guard_failed"));
    assert!(matches!(
        r.rejection().unwrap(),
        Rejection::GuardFailed { .. }
    ));
    assert!(r.message.contains("40 hours"));
    // What the user tried to do comes with the rejection, after its log row is gone.
    assert_eq!(
        r.event::<TodoEvent>().unwrap(),
        TodoEvent::Estimate { hours: Some(99.0) }
    );
    assert_eq!((r.user_id.as_str(), r.event_version), ("alice", 1));

    // A second actor listening later is not told again; the rejection is still listed.
    let other = EventSourcedActor::<Todo>::open(&store, alice(), actor.entity_id()).unwrap();
    let (late, _late_sub) = listen(&other);
    assert!(late.lock().unwrap().is_empty());
    assert_eq!(other.rejections().unwrap().len(), 1);
    assert!(other.rejections().unwrap()[0].surfaced);

    // Cleared: gone from the lists, not surfaced again, the synced row untouched.
    assert!(actor.clear_rejection(r.intent_id).unwrap());
    assert!(actor.rejections().unwrap().is_empty());
    assert!(actor.all_rejections().unwrap().is_empty());
    assert!(!actor.clear_rejection(Uuid::now_v7()).unwrap());
    let synced: i64 = store.with_connection(|c| {
        c.query_row(
            "SELECT count(*) FROM todo_intent_events_rejected",
            [],
            |r| r.get(0),
        )
        .unwrap()
    });
    assert_eq!(synced, 1);
}

#[test]
fn rejections_are_surfaced_once_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let entity;
    let decisions;
    {
        let store = open(&path);
        let (actor, d) = rejected_estimate(&store);
        entity = actor.entity_id();
        decisions = d;
    }
    // The decision arrives while the app is closed, written by the sync process.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for d in &decisions {
            write_decision(&conn, d).unwrap();
            write_ack(&conn, "phone-1", d.intent().seq).unwrap();
        }
    }
    {
        let store = open(&path);
        let actor = EventSourcedActor::<Todo>::open(&store, alice(), entity).unwrap();
        // Nobody listened at open: the rejection waits for the first listener.
        let (heard, _sub) = listen(&actor);
        assert_eq!(heard.lock().unwrap().len(), 1);
        store.reconcile_all().unwrap();
        assert_eq!(heard.lock().unwrap().len(), 1);
        assert_eq!(logged(&store), 0);
    }
    let store = open(&path);
    let actor = EventSourcedActor::<Todo>::open(&store, alice(), entity).unwrap();
    let (heard, _sub) = listen(&actor);
    store.reconcile_all().unwrap();
    assert!(heard.lock().unwrap().is_empty(), "already surfaced before");
    assert_eq!(
        actor.rejections().unwrap().len(),
        1,
        "still listed until cleared"
    );
}

#[test]
fn several_rejections_each_surface_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    actor.send(create("Plan")).unwrap();
    for h in [50.0, 60.0, 70.0] {
        actor.send(TodoEvent::Estimate { hours: Some(h) }).unwrap();
    }
    let (heard, _sub) = listen(&actor);
    let mut server = Server::default();
    for _ in 0..4 {
        let d = server.decide(&store, 1);
        deliver(&store, &d);
    }
    let seqs: Vec<u64> = heard.lock().unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![2, 3, 4]);
    assert_eq!(store.rejections::<Todo>().unwrap().len(), 3);
}

#[test]
fn rejections_of_other_clients_are_not_this_devices() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    actor.send(create("Plan")).unwrap();
    let (heard, _sub) = listen(&actor);
    let foreign = Intent::new(
        actor.entity_id(),
        "tablet",
        "alice",
        7,
        TodoEvent::Toggle,
        0,
    );
    let rejection = Rejection::NotAccepted {
        state: "Idle".into(),
        event_type: "TOGGLE".into(),
    };
    store
        .apply_server_data(|tx| write_rejection(tx, &foreign, &rejection))
        .unwrap();
    assert!(heard.lock().unwrap().is_empty());
    assert!(actor.rejections().unwrap().is_empty());
}

#[test]
fn a_rejection_row_that_does_not_read_blocks_nothing_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let (actor, decisions) = rejected_estimate(&store);
    let (heard, _sub) = listen(&actor);
    // A synced rejection of this device's client whose `seq` is not a number (a newer
    // server, a bad migration).
    store
        .apply_server_data(|tx| {
            tx.execute(
                "INSERT INTO todo_intent_events_rejected (id, entity_id, client_id, user_id, \
                 seq, event_type, event_version, payload, created_at, code, message, reason, \
                 state, rejected_at) VALUES (?1, ?2, 'phone-1', 'alice', 'ninety', 'TOGGLE', \
                 1, '{\"type\":\"TOGGLE\"}', 0, 'guard_failed', 'm', '{}', 'Active', 0)",
                [Uuid::now_v7().to_string(), actor.entity_id().to_string()],
            )?;
            Ok(())
        })
        .unwrap();

    // Reconciliation goes on, and the real rejection still reaches the listener once.
    deliver(&store, &decisions);
    store.reconcile_all().unwrap();
    let heard: Vec<u64> = heard.lock().unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(heard, [2]);
    // The listing reports the bad row as a typed error; nothing was deleted.
    assert!(matches!(
        store.rejections::<Todo>(),
        Err(ClientError::CorruptRow { .. })
    ));
    let synced: i64 = store.with_connection(|c| {
        c.query_row(
            "SELECT count(*) FROM todo_intent_events_rejected",
            [],
            |r| r.get(0),
        )
        .unwrap()
    });
    assert_eq!(synced, 2);
}

/// A rejection row naming another user on this device's client id (the server bound the
/// client to alice) is neither surfaced nor listed; alice's own is.
#[test]
fn a_rejection_naming_another_user_on_my_client_is_not_mine() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    actor.send(create("Plan")).unwrap();
    let (heard, _sub) = listen(&actor);
    let rejection = Rejection::NotAccepted {
        state: "Idle".into(),
        event_type: "TOGGLE".into(),
    };
    let client = alice().client_id;
    let bobs = Intent::new(
        actor.entity_id(),
        client.clone(),
        "bob",
        7,
        TodoEvent::Toggle,
        0,
    );
    let alices = Intent::new(
        actor.entity_id(),
        client.clone(),
        "alice",
        8,
        TodoEvent::Toggle,
        0,
    );
    store
        .apply_server_data(|tx| {
            write_ack(tx, &client, 8)?;
            write_rejection(tx, &bobs, &rejection)?;
            write_rejection(tx, &alices, &rejection)
        })
        .unwrap();
    let heard: Vec<Uuid> = heard.lock().unwrap().iter().map(|r| r.intent_id).collect();
    assert_eq!(heard, [alices.id]);
    let listed: Vec<Uuid> = actor
        .rejections()
        .unwrap()
        .iter()
        .map(|r| r.intent_id)
        .collect();
    assert_eq!(listed, [alices.id]);
    let all: Vec<Uuid> = store
        .rejections::<Todo>()
        .unwrap()
        .iter()
        .map(|r| r.intent_id)
        .collect();
    assert_eq!(all, [alices.id]);
}

/// A rejection committed by another connection (as PowerSync's download does) and cleared
/// before the store reconciled still reaches the listeners, once.
#[test]
fn a_rejection_cleared_before_any_reconcile_still_reaches_the_listeners_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let store = open(&path);
    let (actor, decisions) = rejected_estimate(&store);
    let (heard, _sub) = listen(&actor);
    let rejected = decisions
        .iter()
        .find(|d| matches!(d, Decision::Rejected { .. }))
        .unwrap()
        .intent()
        .id;
    {
        let mut other = rusqlite::Connection::open(&path).unwrap();
        let tx = other.transaction().unwrap();
        for d in &decisions {
            write_decision(&tx, d).unwrap();
            write_ack(&tx, &d.intent().client_id, d.intent().seq).unwrap();
        }
        tx.commit().unwrap();
    }
    // The user clears it from a list before the store looked at the new data.
    assert!(actor.clear_rejection(rejected).unwrap());
    store.reconcile_all().unwrap();
    actor.reconcile().unwrap();
    let heard: Vec<Uuid> = heard.lock().unwrap().iter().map(|r| r.intent_id).collect();
    assert_eq!(heard, [rejected]);
    assert!(actor.rejections().unwrap().is_empty());
}
