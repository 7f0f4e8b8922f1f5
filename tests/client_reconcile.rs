//! Reconciliation on a real SQLite file: pending intents leave the log exactly when the
//! server's decision is visible, whatever order the synced rows arrive in.

mod client_common;

use client_common::*;
use sai::client::{EventSourcedActor, PendingStatus, SendError};
use sai::{Intent, Rejection, Uuid};
use sai_suite::{Todo, TodoEvent, TodoMachine, create};

fn label(l: &str) -> TodoEvent {
    TodoEvent::Label { label: l.into() }
}

#[test]
fn no_pending_intents_shows_the_server_projection() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    // Another device created the entity; only the server's projection arrives here.
    let mut server = Server::default();
    let entity = Uuid::now_v7();
    let d = server.apply_foreign(Intent::new(entity, "tablet", "alice", 1, create("Milk"), 0));
    deliver(&store, &[d]);

    let actor = EventSourcedActor::<Todo>::open(&store, alice(), entity).unwrap();
    let p = actor.projection().unwrap().expect("projection");
    assert_eq!(p.context().title, "Milk");
    assert_eq!(p.state(), TodoMachine::Active);
    assert!(!p.optimistic);
    let r = actor.reconcile().unwrap();
    assert!(r.cleared.is_empty() && r.pending.is_empty() && !r.changed);
    assert_eq!(overlay_rows(&store), 0);
    assert_eq!(store.projections::<Todo>().unwrap().len(), 1);
}

#[test]
fn one_pending_intent_leaves_the_log_when_its_decision_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    actor.send(create("Milk")).unwrap();
    assert_eq!(logged(&store), 1);
    assert!(actor.projection().unwrap().unwrap().optimistic);

    let mut server = Server::default();
    let decisions = server.decide(&store, usize::MAX);
    let summary = deliver(&store, &decisions);
    assert_eq!(summary.cleared(), 1);
    assert_eq!(logged(&store), 0);
    assert_eq!(overlay_rows(&store), 0);
    let p = actor.projection().unwrap().unwrap();
    assert!(!p.optimistic);
    assert_eq!((p.state(), p.snapshot.version), (TodoMachine::Active, 1));

    // The log is empty, yet the sequence continues: a number is never issued twice.
    actor.send(TodoEvent::Toggle).unwrap();
    let pending = actor.pending_intents().unwrap();
    assert_eq!(pending[0].intent.seq, 2);
    assert_eq!(pending[0].status, PendingStatus::Pending);
}

#[test]
fn many_pending_intents_leave_in_order_as_the_acknowledgement_advances() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    actor.send(create("Milk")).unwrap();
    for l in ["a", "b", "c", "d"] {
        actor.send(label(l)).unwrap();
    }
    let mut server = Server::default();
    let first = server.decide(&store, 2);
    deliver(&store, &first);

    let pending = actor.pending_intents().unwrap();
    assert_eq!(
        pending.iter().map(|p| p.intent.seq).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert!(pending.iter().all(|p| p.status == PendingStatus::Pending));
    let p = actor.projection().unwrap().unwrap();
    assert_eq!(p.snapshot.version, 5, "server v2 plus three replayed");
    assert_eq!(p.context().labels, ["a", "b", "c", "d"]);

    let rest = server.decide(&store, usize::MAX);
    deliver(&store, &rest);
    assert_eq!(logged(&store), 0);
    let p = actor.projection().unwrap().unwrap();
    assert!(!p.optimistic);
    assert_eq!(p.context().labels, ["a", "b", "c", "d"]);
}

#[test]
fn an_acknowledgement_ahead_of_the_projection_holds_the_intents_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    actor.send(create("Milk")).unwrap();
    actor.send(label("a")).unwrap();
    let mut server = Server::default();
    let decisions = server.decide(&store, usize::MAX);

    // The ack for both arrives, their effects not yet: nothing may leave the log.
    deliver_ack_only(&store, &decisions);
    assert_eq!(logged(&store), 2);
    let pending = actor.pending_intents().unwrap();
    assert!(
        pending
            .iter()
            .all(|p| p.status == PendingStatus::Acknowledged)
    );
    assert_eq!(actor.projection().unwrap().unwrap().context().labels, ["a"]);

    // The projection after the first decision only: the first leaves, the second stays.
    deliver_rows_only(&store, &decisions[..1]);
    let pending = actor.pending_intents().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].intent.seq, 2);
    assert_eq!(actor.projection().unwrap().unwrap().context().labels, ["a"]);

    // Then the rest.
    deliver_rows_only(&store, &decisions[1..]);
    assert_eq!(logged(&store), 0);
    let p = actor.projection().unwrap().unwrap();
    assert!(!p.optimistic);
    assert_eq!(p.context().labels, ["a"]);
}

#[test]
fn a_cleared_intent_keeps_the_later_ones_waiting_for_their_own_effect() {
    // Intents 1 and 2 sent offline on the same base; 1 settles; then the ack for 2 arrives
    // before its projection. The bound learnt from 1 (persisted) must hold 2 back.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let store = open(&path);
    let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    actor.send(create("Milk")).unwrap();
    actor.send(label("a")).unwrap();
    let mut server = Server::default();
    let decisions = server.decide(&store, usize::MAX);
    deliver(&store, &decisions[..1]);
    assert_eq!(logged(&store), 1);
    drop((actor, store));

    let store = open(&path);
    deliver_ack_only(&store, &decisions);
    assert_eq!(logged(&store), 1, "ack alone does not settle intent 2");
    deliver_rows_only(&store, &decisions[1..]);
    assert_eq!(logged(&store), 0);
}

/// The projection row records which decisions it includes (`decided`): it settles them on
/// its own, before the acknowledgement arrives.
#[test]
fn a_projection_that_records_its_decisions_settles_them_before_the_acknowledgement() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    actor.send(create("Milk")).unwrap();
    actor.send(TodoEvent::Toggle).unwrap();
    let mut server = Server::default();
    let decisions = server.decide(&store, usize::MAX);

    deliver_rows_only(&store, &decisions[..1]);
    assert_eq!(
        logged(&store),
        1,
        "the first row includes the first decision only"
    );
    deliver_rows_only(&store, &decisions[1..]);
    assert_eq!(logged(&store), 0);
    deliver_ack_only(&store, &decisions);
    let p = actor.projection().unwrap().unwrap();
    assert_eq!(p.state(), TodoMachine::Done);
    assert!(!p.optimistic);
}

/// A row written before the server recorded decisions (`decided` empty) falls back on the
/// version rule: without the acknowledgement, nothing is settled.
#[test]
fn a_projection_without_decisions_ahead_of_the_acknowledgement_keeps_the_intents_pending() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    actor.send(create("Milk")).unwrap();
    actor.send(TodoEvent::Toggle).unwrap();
    let mut server = Server::default();
    let decisions = server.decide(&store, usize::MAX);
    let Decision::Processed {
        intent,
        snapshot,
        owner,
        ..
    } = decisions[1].clone()
    else {
        panic!("{decisions:?}")
    };
    store
        .apply_server_data(|tx| write_projection(tx, intent.entity_id, &snapshot, &owner, "{}"))
        .unwrap();
    assert_eq!(
        logged(&store),
        2,
        "no ack: not decided as far as the client knows"
    );
    deliver_ack_only(&store, &decisions);
    assert_eq!(logged(&store), 0);
    let p = actor.projection().unwrap().unwrap();
    assert_eq!(p.state(), TodoMachine::Done);
    assert!(!p.optimistic);
}

#[test]
fn a_rejection_settles_its_intent_in_either_order() {
    for rejection_first in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("c.db"));
        let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
        actor.send(create("Plan")).unwrap();
        // The client machine allows any estimate, the server's caps it at 40 hours.
        actor
            .send(TodoEvent::Estimate { hours: Some(80.0) })
            .unwrap();
        let mut server = Server::default();
        let decisions = server.decide(&store, usize::MAX);
        assert!(matches!(decisions[1], Decision::Rejected { .. }));
        deliver(&store, &decisions[..1]);
        assert_eq!(logged(&store), 1);

        if rejection_first {
            deliver_rows_only(&store, &decisions[1..]);
            // The rejection row alone is the decision: the intent leaves.
            assert_eq!(logged(&store), 0);
            deliver_ack_only(&store, &decisions);
        } else {
            deliver_ack_only(&store, &decisions);
            // Ack without a moved projection or a rejection row: still held.
            assert_eq!(logged(&store), 1);
            deliver_rows_only(&store, &decisions[1..]);
            assert_eq!(logged(&store), 0);
        }
        let p = actor.projection().unwrap().unwrap();
        assert_eq!(p.context().estimate, None, "the rejected estimate is gone");
        assert!(!p.optimistic);
        assert_eq!(actor.rejections().unwrap().len(), 1);
    }
}

#[test]
fn an_intent_that_no_longer_applies_is_predicted_to_fail_and_stays_pending() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    actor.send(create("Milk")).unwrap();
    let mut server = Server::default();
    let d = server.decide(&store, usize::MAX);
    deliver(&store, &d);

    actor
        .send(TodoEvent::Rename {
            title: "Oat milk".into(),
        })
        .unwrap();
    actor.send(label("x")).unwrap();
    // Meanwhile another device deletes it.
    let gone = server.apply_foreign(Intent::new(
        actor.entity_id(),
        "tablet",
        "alice",
        1,
        TodoEvent::Delete,
        0,
    ));
    let r = {
        deliver(&store, &[gone]);
        actor.reconcile().unwrap()
    };
    assert_eq!(logged(&store), 2, "the server decides, not the client");
    let failing: Vec<(u64, &Rejection)> =
        r.predicted_to_fail().map(|(i, why)| (i.seq, why)).collect();
    assert_eq!(failing.len(), 2);
    assert!(matches!(failing[0].1, Rejection::FinalState { .. }));
    let p = actor.projection().unwrap().unwrap();
    assert_eq!(p.state(), TodoMachine::Deleted);
    assert_eq!(p.context().title, "Milk", "the failing rename is left out");
    let statuses = store.pending_intents::<Todo>().unwrap();
    assert!(
        statuses
            .iter()
            .all(|p| matches!(p.status, PendingStatus::PredictedToFail(_)))
    );

    // The server rejects them; they leave the log and surface as rejections.
    let decisions = server.decide(&store, usize::MAX);
    assert!(
        decisions
            .iter()
            .all(|d| matches!(d, Decision::Rejected { .. }))
    );
    deliver(&store, &decisions);
    assert_eq!(logged(&store), 0);
    assert_eq!(overlay_rows(&store), 0);
    assert_eq!(actor.rejections().unwrap().len(), 2);
}

#[test]
fn a_rejected_creation_removes_the_entity() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    let intent = actor.send(create("Milk")).unwrap().intent;
    actor.send(TodoEvent::Toggle).unwrap();
    // Pretend the server rejected the creation (the toggle is still on its way).
    let rejection = Rejection::NotAccepted {
        state: "Idle".into(),
        event_type: "CREATE".into(),
    };
    deliver(&store, &[Decision::Rejected { intent, rejection }]);
    assert!(actor.projection().unwrap().is_none());
    assert!(store.projections::<Todo>().unwrap().is_empty());
    let pending = actor.pending_intents().unwrap();
    assert_eq!(pending.len(), 1);
    assert!(matches!(
        pending[0].status,
        PendingStatus::PredictedToFail(_)
    ));
}

#[test]
fn list_view_pending_statuses_and_watchers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let (changes, _watch) = store.watch_channel::<Todo>().unwrap();
    let a = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    let b = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    a.send(create("A")).unwrap();
    b.send(create("B")).unwrap();
    b.send(TodoEvent::Toggle).unwrap();
    let sent: Vec<_> = changes.try_iter().collect();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].entities, vec![a.entity_id()]);
    assert!(!sent[0].server_data);

    let list = store.projections::<Todo>().unwrap();
    let titles: Vec<_> = list.iter().map(|p| p.context().title.clone()).collect();
    assert_eq!(titles, ["A", "B"], "ordered by (time-ordered) id");
    assert!(list.iter().all(|p| p.optimistic));
    let pending = store.pending_intents::<Todo>().unwrap();
    assert_eq!(
        pending.iter().map(|p| p.intent.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );

    let mut server = Server::default();
    let d = server.decide(&store, 1);
    deliver(&store, &d);
    let change = changes.try_iter().last().expect("a change");
    assert!(change.server_data);
    assert_eq!(change.entities, vec![a.entity_id()]);
    let list = store.projections::<Todo>().unwrap();
    assert_eq!(
        list.iter().map(|p| p.optimistic).collect::<Vec<_>>(),
        vec![false, true]
    );
}

#[test]
fn a_projection_channel_starts_with_the_current_value_and_follows_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    actor.send(create("Milk")).unwrap();

    // A view of the entity needs no identity: only the store and the id.
    let (rx, sub) = store.projection_channel::<Todo>(actor.entity_id()).unwrap();
    let first = rx.try_recv().expect("the current value comes first");
    assert_eq!(
        first.map(|p| (p.snapshot.version, p.optimistic)),
        Some((1, true))
    );
    assert!(rx.try_recv().is_err(), "nothing else yet");

    actor.send(TodoEvent::Toggle).unwrap();
    let next = rx.try_recv().expect("the change").expect("still exists");
    assert_eq!(
        (next.state(), next.snapshot.version),
        (TodoMachine::Done, 2)
    );

    let d = Server::default().decide(&store, usize::MAX);
    deliver(&store, &d);
    let last = rx.try_iter().last().expect("the decision").expect("exists");
    assert_eq!((last.snapshot.version, last.optimistic), (2, false));

    drop(sub);
    actor.send(TodoEvent::Toggle).unwrap();
    assert!(rx.try_recv().is_err(), "unsubscribed on drop");

    // An unknown entity is `None`, not an error.
    let (none, _sub) = store.projection_channel::<Todo>(Uuid::now_v7()).unwrap();
    assert!(none.try_recv().unwrap().is_none());
}

#[test]
fn a_view_that_returns_hears_the_rollback_of_a_change_made_while_it_was_away() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    actor.send(create("Plan")).unwrap();
    let mut server = Server::default();
    let d = server.decide(&store, usize::MAX);
    deliver(&store, &d);

    // A view watches the decided entity, then goes away.
    let (_, away) = store.projection_channel::<Todo>(actor.entity_id()).unwrap();
    drop(away);
    // Meanwhile an estimate the server will refuse is shown optimistically...
    actor
        .send(TodoEvent::Estimate { hours: Some(99.0) })
        .unwrap();
    let (view, _sub) = store.projection_channel::<Todo>(actor.entity_id()).unwrap();
    let shown = view.try_recv().unwrap().unwrap();
    assert_eq!((shown.snapshot.version, shown.optimistic), (2, true));
    // ...and rolled back when the refusal arrives: the returning view is told.
    let d = server.decide(&store, usize::MAX);
    deliver(&store, &d);
    let back = view.try_iter().last().expect("the rollback").unwrap();
    assert_eq!((back.snapshot.version, back.optimistic), (1, false));
}

#[test]
fn subscribers_hear_each_change_once() {
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let sub = actor
        .subscribe(move |p| {
            sink.lock()
                .unwrap()
                .push(p.map(|p| (p.snapshot.version, p.optimistic)))
        })
        .unwrap();
    actor.send(create("Milk")).unwrap();
    actor.reconcile().unwrap();
    store.reconcile_all().unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![Some((1, true))]);

    let mut server = Server::default();
    let d = server.decide(&store, usize::MAX);
    deliver(&store, &d);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Some((1, true)), Some((1, false))]
    );

    // Server data for an entity with nothing pending still reaches its subscribers.
    let more = server.apply_foreign(Intent::new(
        actor.entity_id(),
        "tablet",
        "alice",
        1,
        TodoEvent::Toggle,
        0,
    ));
    deliver(&store, &[more]);
    assert_eq!(seen.lock().unwrap().last(), Some(&Some((2, false))));

    drop(sub);
    actor.send(TodoEvent::Toggle).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 3, "unsubscribed on drop");
}

#[test]
fn another_connections_writes_are_never_hidden_by_the_decoded_log_cache() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let first = open(&path);
    let second = open(&path);
    let a = EventSourcedActor::<Todo>::create(&first, alice()).unwrap();
    a.send(create("Milk")).unwrap();
    a.send(label("a")).unwrap();
    a.reconcile().unwrap(); // the first store now holds the decoded log

    // The second store (its own connection) appends to the same entity's log...
    let b = EventSourcedActor::<Todo>::open(&second, alice(), a.entity_id()).unwrap();
    b.send(label("b")).unwrap();
    // ...and settles the first intent.
    let mut server = Server::default();
    let d = server.decide(&second, 1);
    deliver(&second, &d);

    // The first store reconciles through its cache and must see both changes.
    let r = a.reconcile().unwrap();
    assert_eq!(
        r.pending.iter().map(|p| p.intent.seq).collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert_eq!(
        r.projection.unwrap().context().labels,
        ["a", "b"],
        "the other connection's intent is replayed"
    );
    let d = server.decide(&first, usize::MAX);
    deliver(&first, &d);
    assert_eq!(logged(&first), 0);
    assert_eq!(
        a.projection().unwrap().unwrap().context().labels,
        ["a", "b"]
    );
}

/// Issue #10, item 6: the server rejected this device's intent and accepted another
/// device's change to the same entity; the three synced rows (projection, acknowledgement,
/// rejection) arrive one at a time, in every order. Until the rejection row is there the
/// intent stays in the log: the projection's `decided` column says it was rejected, so the
/// other device's change is not taken for its effect.
#[test]
fn an_intent_stays_until_its_own_decision_arrives_whatever_the_order_of_the_tables() {
    let orders: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let mut wrong = Vec::new();
    for order in orders {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("c.db"));
        let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
        actor.send(create("Plan")).unwrap();
        let mut server = Server::default();
        deliver(&store, &server.decide(&store, usize::MAX));
        // Over the server's 40-hour cap: rejected.
        actor
            .send(TodoEvent::Estimate { hours: Some(80.0) })
            .unwrap();
        let ours = server.decide(&store, usize::MAX);
        let Decision::Rejected { intent, rejection } = ours[0].clone() else {
            panic!("{ours:?}")
        };
        let theirs = server.apply_foreign(sai::Intent::new(
            actor.entity_id(),
            "laptop",
            "alice",
            1,
            TodoEvent::Rename {
                title: "Plan it".into(),
            },
            0,
        ));
        let Decision::Processed {
            intent: foreign,
            snapshot,
            owner,
            decided,
        } = theirs
        else {
            panic!("{theirs:?}")
        };
        let mut rejection_arrived = false;
        for table in order {
            store
                .apply_server_data(|tx| match table {
                    0 => write_projection(tx, foreign.entity_id, &snapshot, &owner, &decided),
                    1 => write_ack(tx, &intent.client_id, intent.seq),
                    _ => write_rejection(tx, &intent, &rejection),
                })
                .unwrap();
            rejection_arrived |= table == 2;
            if !rejection_arrived && logged(&store) != 1 {
                wrong.push(order);
            }
        }
        assert_eq!(logged(&store), 0, "{order:?}");
        assert_eq!(actor.rejections().unwrap().len(), 1, "{order:?}");
    }
    assert!(
        wrong.is_empty(),
        "left the log before its rejection: {wrong:?}"
    );
}

/// Issue #10, item 6: another device's change moves the projection after this device's
/// intent was rejected; the projection and the acknowledgement arrive, the rejection row
/// last. The intent stays in the log, shown as rejected and not applied (the projection says
/// the server rejected it); it leaves the log, surfaced once, when its row arrives.
#[test]
fn a_rejected_intent_is_not_replayed_while_its_rejection_row_is_on_its_way() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    actor.send(create("Plan")).unwrap();
    let mut server = Server::default();
    deliver(&store, &server.decide(&store, usize::MAX));
    // Over the server's 40-hour cap: the server rejects it, the client machine does not.
    actor
        .send(TodoEvent::Estimate { hours: Some(80.0) })
        .unwrap();
    let ours = server.decide(&store, usize::MAX);
    let Decision::Rejected { intent, rejection } = ours[0].clone() else {
        panic!("{ours:?}")
    };
    let theirs = server.apply_foreign(Intent::new(
        actor.entity_id(),
        "laptop",
        "alice",
        1,
        TodoEvent::Rename {
            title: "Plan it".into(),
        },
        0,
    ));
    store
        .apply_server_data(|tx| {
            write_decision(tx, &theirs)?;
            write_ack(tx, &intent.client_id, intent.seq)
        })
        .unwrap();
    let pending = actor.pending_intents().unwrap();
    assert_eq!(pending.len(), 1, "left the log before its rejection row");
    assert_eq!(pending[0].intent.id, intent.id);
    assert_eq!(pending[0].status, PendingStatus::Rejected);
    let shown = actor.projection().unwrap().unwrap();
    assert_eq!(shown.context().title, "Plan it");
    assert_eq!(
        shown.context().estimate,
        None,
        "the rejected estimate is replayed"
    );
    store
        .apply_server_data(|tx| write_rejection(tx, &intent, &rejection))
        .unwrap();
    assert_eq!(logged(&store), 0);
    assert_eq!(actor.rejections().unwrap().len(), 1);
    assert_eq!(
        actor.projection().unwrap().unwrap().context().estimate,
        None
    );
}

#[test]
fn interleaved_clients_on_one_entity_each_keep_their_own_acknowledgement() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let phone = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    phone.send(create("Milk")).unwrap();
    let tablet = EventSourcedActor::<Todo>::open(
        &store,
        sai::client::ClientIdentity::new("tablet", "alice"),
        phone.entity_id(),
    )
    .unwrap();
    // The log reads in (seq, client) order: phone, tablet, phone, tablet, phone, tablet.
    for l in ["a", "b"] {
        tablet.send(label(l)).unwrap();
        phone.send(label(l)).unwrap();
    }
    tablet.send(label("c")).unwrap();
    // Only the phone's decisions are acknowledged, their effect not yet visible.
    store
        .apply_server_data(|tx| write_ack(tx, &alice().client_id, 3))
        .unwrap();

    let r = phone.reconcile().unwrap();
    let statuses: Vec<(String, u64, PendingStatus)> = r
        .pending
        .iter()
        .map(|p| (p.intent.client_id.clone(), p.intent.seq, p.status.clone()))
        .collect();
    let phone_id = alice().client_id;
    assert_eq!(
        statuses,
        vec![
            (phone_id.clone(), 1, PendingStatus::Acknowledged),
            ("tablet".into(), 1, PendingStatus::Pending),
            (phone_id.clone(), 2, PendingStatus::Acknowledged),
            ("tablet".into(), 2, PendingStatus::Pending),
            (phone_id, 3, PendingStatus::Acknowledged),
            ("tablet".into(), 3, PendingStatus::Pending),
        ]
    );
}

/// A send steps on what the previous send left only while nothing else was written: server
/// data that moved the entity on (here: deleted by another device) is what the next send
/// steps on.
#[test]
fn a_send_after_server_data_steps_on_the_server_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    actor.send(create("Milk")).unwrap();
    let decisions = Server::default().decide(&store, usize::MAX);
    let Decision::Processed {
        intent,
        mut snapshot,
        owner,
        ..
    } = decisions[0].clone()
    else {
        panic!("{decisions:?}")
    };
    actor.send(TodoEvent::Toggle).unwrap(); // Done, optimistically
    // Another device deleted it after the creation was decided.
    snapshot.state = sai_suite::StrictTodoMachine::Deleted;
    snapshot.version += 1;
    store
        .apply_server_data(|tx| {
            write_projection(tx, intent.entity_id, &snapshot, &owner, "{}")?;
            write_ack(tx, &alice().client_id, 1)
        })
        .unwrap();
    let refused = actor.send(TodoEvent::Toggle);
    assert!(
        matches!(refused, Err(SendError::Rejected(_))),
        "a deleted todo cannot be reopened: {:?}",
        refused.map(|s| s.projection().state())
    );
}

/// Another connection's sends on the same entity (another store on the file) are what the
/// next send here steps on, and its sequence numbers are not given twice.
#[test]
fn a_send_after_another_connections_send_steps_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let first = open(&path);
    let second = open(&path);
    let a = EventSourcedActor::<Todo>::create(&first, alice()).unwrap();
    a.send(create("Milk")).unwrap();
    a.send(label("a")).unwrap();
    let b = EventSourcedActor::<Todo>::open(&second, alice(), a.entity_id()).unwrap();
    let by_b = b.send(label("b")).unwrap();
    let sent = a.send(label("c")).unwrap();
    assert_eq!((by_b.seq(), sent.seq()), (3, 4));
    assert_eq!(sent.projection().context().labels, ["a", "b", "c"]);
    assert_eq!(logged(&first), 4);
}
