//! Bad rows in the client tables: a typed error, and nothing deleted.

mod client_common;

use client_common::*;
use rusqlite::params;
use sai::client::{ClientError, ClientStore, EventSourcedActor};
use sai::{DecodeError, Uuid};
use sai_suite::{Note, NoteEvent, Todo, TodoEvent};

fn store_with_todo() -> (tempfile::TempDir, ClientStore, EventSourcedActor<Todo>) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("c.db"));
    let actor = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
    actor
        .send(TodoEvent::Create {
            title: "Milk".into(),
        })
        .unwrap();
    (dir, store, actor)
}

fn tamper(store: &ClientStore, sql: &str) {
    store.with_connection(|c| c.execute_batch(sql).unwrap());
}

#[test]
fn an_unknown_state_in_the_projection_is_a_typed_error() {
    let (_dir, store, actor) = store_with_todo();
    tamper(&store, "UPDATE todo_projection_local SET state = 'Flying'");
    let err = actor.projection().unwrap_err();
    assert!(
        matches!(&err, ClientError::CorruptRow { table, detail, .. }
            if table == "todo_projection_local" && detail.contains("Flying")),
        "{err}"
    );
    assert!(actor.send(TodoEvent::Toggle).is_err());
    assert_eq!(logged(&store), 1);
    assert_eq!(overlay_rows(&store), 1);
}

#[test]
fn a_field_of_the_wrong_type_is_a_typed_error() {
    let (_dir, store, actor) = store_with_todo();
    tamper(&store, "UPDATE todo_projection_local SET completed = 'yes'");
    let err = actor.projection().unwrap_err();
    assert!(
        matches!(&err, ClientError::CorruptRow { detail, .. } if detail.contains("completed")),
        "{err}"
    );
    assert!(store.projections::<Todo>().is_err());
}

#[test]
fn undecodable_intents_are_typed_errors_and_stay_in_the_log() {
    type Expect = fn(&DecodeError) -> bool;
    let cases: [(&str, Expect); 3] = [
        (
            "UPDATE todo_intent_events_local SET event_type = 'EXPLODE'",
            |e| matches!(e, DecodeError::UnknownEventType { event_type } if event_type == "EXPLODE"),
        ),
        (
            "UPDATE todo_intent_events_local SET event_version = 9",
            |e| matches!(e, DecodeError::UnsupportedEventVersion { found: 9, .. }),
        ),
        (
            "UPDATE todo_intent_events_local SET payload = '{\"type\":\"CREATE\"}'",
            |e| matches!(e, DecodeError::MalformedPayload { .. }),
        ),
    ];
    for (sql, expected) in cases {
        let (_dir, store, actor) = store_with_todo();
        // Another entity with a healthy log, to show one bad row does not block the rest.
        let other = EventSourcedActor::<Todo>::create(&store, alice()).unwrap();
        other
            .send(TodoEvent::Create {
                title: "Bread".into(),
            })
            .unwrap();
        let mut server = Server::default();
        let decisions = server.decide(&store, usize::MAX);
        tamper(
            &store,
            &format!("{sql} WHERE entity_id = '{}'", actor.entity_id()),
        );

        // Decided by the server, yet the unreadable intent is not deleted.
        let summary = deliver(&store, &decisions);
        let failed: Vec<_> = summary.failed().collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(*failed[0].1, actor.entity_id());
        assert!(
            matches!(failed[0].2, ClientError::UndecodableIntent { source, .. } if expected(source)),
            "{}",
            failed[0].2
        );
        assert_eq!(
            logged(&store),
            1,
            "the healthy entity's intent left, this one stayed"
        );
        let err = actor.reconcile().unwrap_err();
        assert!(
            matches!(err, ClientError::UndecodableIntent { .. }),
            "{err}"
        );
        assert!(actor.pending_intents().is_err());
        assert_eq!(logged(&store), 1);
    }
}

#[test]
fn a_foreign_row_in_the_log_is_a_typed_error() {
    let (_dir, store, actor) = store_with_todo();
    tamper(&store, "UPDATE todo_intent_events_local SET seq = 'one'");
    let err = actor.reconcile().unwrap_err();
    assert!(
        matches!(&err, ClientError::CorruptRow { table, .. } if table == "todo_intent_events_local"),
        "{err}"
    );
    tamper(
        &store,
        "UPDATE todo_intent_events_local SET seq = 1, id = 'not-a-uuid'",
    );
    assert!(matches!(
        actor.reconcile().unwrap_err(),
        ClientError::CorruptRow { .. }
    ));
    assert_eq!(logged(&store), 1);
}

#[test]
fn a_corrupt_acknowledgement_is_a_typed_error() {
    let (_dir, store, actor) = store_with_todo();
    store.with_connection(|c| {
        c.execute(
            "INSERT INTO todo_client_acks (id, user_id, last_seq, updated_at) VALUES (?1, 'alice', 'lots', 0)",
            params!["phone-1"],
        )
        .unwrap()
    });
    let err = actor.reconcile().unwrap_err();
    assert!(
        matches!(&err, ClientError::CorruptRow { table, .. } if table == "todo_client_acks"),
        "{err}"
    );
    assert_eq!(logged(&store), 1);
}

#[test]
fn an_entity_of_another_domain_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = ClientStore::builder()
        .domain::<Todo>()
        .domain::<Note>()
        .open(dir.path().join("c.db"))
        .unwrap();
    let note = EventSourcedActor::<Note>::create(&store, alice()).unwrap();
    note.send(NoteEvent::Write { text: "hi".into() }).unwrap();
    let err = EventSourcedActor::<Todo>::open(&store, alice(), note.entity_id()).unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::WrongDomain {
                expected: "todo",
                found: "note",
                ..
            }
        ),
        "{err}"
    );
    // An id nobody knows is not an entity: `create` starts one.
    let unknown = Uuid::now_v7();
    let err = EventSourcedActor::<Todo>::open(&store, alice(), unknown).unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::UnknownEntity {
                entity_id,
                domain: "todo",
            } if entity_id == unknown
        ),
        "{err}"
    );
}

#[test]
fn a_domain_the_store_does_not_hold_is_refused() {
    let store = ClientStore::builder()
        .domain::<Note>()
        .open_in_memory()
        .unwrap();
    let err = EventSourcedActor::<Todo>::create(&store, alice()).unwrap_err();
    assert!(matches!(err, ClientError::UnknownDomain("todo")), "{err}");
    assert!(matches!(
        store.projections::<Todo>().unwrap_err(),
        ClientError::UnknownDomain("todo")
    ));
}
