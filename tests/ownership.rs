//! Guards see the entity's owner in `IntentMeta::owner_id`, the same way on the client (the
//! optimistic step and the replay on server data) and on the server (`decide`).
//! The fixture: only its owner may archive a note (`sai_suite::by_owner`).

use std::collections::HashMap;

use sai::client::{ClientIdentity, ClientStore, EventSourcedActor, SendError};
use sai::server::{Claim, Writers, decide};
use sai::{Intent, Phase, Rejection, Snapshot, Uuid, replay};
use sai_suite::{Note, NoteEvent, NoteMachine};

fn write(text: &str) -> NoteEvent {
    NoteEvent::Write { text: text.into() }
}

fn note_intent(entity: Uuid, user: &str, seq: u64, event: NoteEvent) -> Intent<NoteEvent> {
    Intent::new(entity, format!("{user}-phone"), user, seq, event, 0)
}

#[test]
fn replay_hands_guards_the_owner_and_makes_the_creator_the_owner() {
    let e = Uuid::now_v7();
    let intents = [
        note_intent(e, "alice", 1, write("hers")),
        note_intent(e, "bob", 1, write("his edit")),
        note_intent(e, "bob", 2, NoteEvent::Archive),
        note_intent(e, "alice", 2, NoteEvent::Archive),
    ];
    // A new entity: the creator (alice) becomes the owner, so bob's archive fails its guard.
    let r = replay(
        Snapshot::<NoteMachine>::initial(),
        None,
        &intents,
        Phase::Optimistic,
    );
    assert_eq!(r.snapshot.state, NoteMachine::Archived);
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].0, intents[2].id);
    assert_eq!(r.rejected[0].1.code(), "guard_failed");

    // On an entity that carol owns, neither of them may archive.
    let r = replay(
        Snapshot::<NoteMachine>::initial(),
        Some("carol"),
        &intents,
        Phase::Optimistic,
    );
    assert_eq!(r.snapshot.state, NoteMachine::Written);
    assert_eq!(r.rejected.len(), 2);
}

#[test]
fn the_server_hands_guards_the_owner_when_anyone_may_write() {
    let e = Uuid::now_v7();
    let claim = || Claim {
        intents: [
            note_intent(e, "alice", 1, write("hers")),
            note_intent(e, "bob", 1, write("his edit")),
            note_intent(e, "bob", 2, NoteEvent::Archive),
        ]
        .iter()
        .map(|i| i.to_raw().expect("encode"))
        .collect(),
        acks: HashMap::from([("alice-phone".into(), 0), ("bob-phone".into(), 0)]),
        ..Claim::default()
    };
    let d = decide::<NoteMachine>(claim(), 10, Writers::Anyone);
    let accepted: Vec<_> = d
        .accepted
        .iter()
        .map(|a| a.intent.user_id.as_str())
        .collect();
    assert_eq!(accepted, ["alice", "bob"]);
    assert_eq!(d.rejected.len(), 1);
    assert_eq!(
        (d.rejected[0].intent.seq, d.rejected[0].code),
        (2, "guard_failed")
    );
    assert_eq!(d.projections[0].owner_id, "alice");

    // With the default policy bob may not even write.
    let d = decide::<NoteMachine>(claim(), 10, Writers::Owner);
    let codes: Vec<_> = d.rejected.iter().map(|r| r.code).collect();
    assert_eq!(codes, ["not_owner", "not_owner"]);
}

#[test]
fn the_client_predicts_the_owner_guard_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let store = ClientStore::builder()
        .domain::<Note>()
        .open(dir.path().join("c.db"))
        .unwrap();
    let alice =
        EventSourcedActor::<Note>::create(&store, ClientIdentity::new("a", "alice")).unwrap();
    alice.send(write("hers")).unwrap();

    // The server's projection arrives: alice owns the note. Bob's device sees it too.
    store
        .apply_server_data(|tx| {
            tx.execute(
                "INSERT INTO note_projection (id, state, version, owner_id, updated_at, text) \
                 VALUES (?1, 'Written', 1, 'alice', 0, 'hers')",
                [alice.entity_id().to_string()],
            )?;
            tx.execute(
                "INSERT INTO note_client_acks (id, user_id, last_seq, updated_at) \
                 VALUES ('a', 'alice', 1, 0)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
    let bob =
        EventSourcedActor::<Note>::open(&store, ClientIdentity::new("b", "bob"), alice.entity_id())
            .unwrap();
    bob.send(write("his edit")).unwrap();
    match bob.send(NoteEvent::Archive) {
        Err(SendError::Rejected(Rejection::GuardFailed { guards, .. })) => {
            assert_eq!(guards[0].reason, "only its owner archives a note");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        alice.send(NoteEvent::Archive).unwrap().projection().state(),
        NoteMachine::Archived
    );
}
