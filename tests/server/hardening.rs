//! One user's input never halts another's work, a reused sequence number is never a silent
//! duplicate, identities are checked, and errors say why (issue #10, server side).

use std::time::Duration;

use sai::server::{
    EventProcessor, IngestError, ProcessError, ProcessorConfig, ServerStore, StoreError, ingest,
};
use sai::{RawIntent, SqlValue, Uuid};
use sai_suite::{PanickyTodoMachine, TodoEvent};

use crate::harness::{Backend, scalar};
use crate::support::{ALICE, ack, create, intent, raw_event, todo, upload};

const PENDING: &str = "SELECT COUNT(*) FROM todo_intent_events";
const PROCESSED: &str = "SELECT COUNT(*) FROM todo_intent_events_processed";
const REJECTED: &str = "SELECT COUNT(*) FROM todo_intent_events_rejected";
const CLIENTS: &str = "SELECT COUNT(*) FROM todo_client_acks";

/// The stored rejections as (client, seq, code, message), in client and seq order.
async fn rejections<B: Backend>(b: &B) -> Vec<(String, i64, String, String)> {
    b.query(
        "SELECT client_id, seq, code, message FROM todo_intent_events_rejected \
         ORDER BY client_id, seq",
    )
    .await
    .into_iter()
    .map(|r| match &r[..] {
        [
            SqlValue::Text(c),
            SqlValue::Integer(s),
            SqlValue::Text(code),
            SqlValue::Text(m),
        ] => (c.clone(), *s, code.clone(), m.clone()),
        other => panic!("{other:?}"),
    })
    .collect()
}

/// Three poison intents, each with work behind it in its client's queue, all in one batch: a
/// guard that panics, a NUL that PostgreSQL's text cannot hold, and an assign that computes
/// an infinite estimate (which SQLite would store as NULL).
fn poisoned_workload() -> (Vec<RawIntent>, [Uuid; 3]) {
    let (panics, nul, fine) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let intents = vec![
        intent(panics, "a-panic", ALICE, 1, create("PANIC")),
        intent(panics, "a-panic", ALICE, 2, create("calm")),
        intent(nul, "b-nul", ALICE, 1, create("ok")),
        intent(
            nul,
            "b-nul",
            ALICE,
            2,
            TodoEvent::Rename {
                title: "a\u{0}b".into(),
            },
        ),
        intent(nul, "b-nul", ALICE, 3, TodoEvent::Toggle),
        intent(fine, "c-fine", ALICE, 1, create("milk")),
        intent(
            fine,
            "c-fine",
            ALICE,
            2,
            TodoEvent::Estimate { hours: Some(2.0) },
        ),
        intent(fine, "c-fine", ALICE, 3, TodoEvent::Toggle),
    ];
    (intents, [panics, nul, fine])
}

/// What the poisoned workload must have left: each poison rejected with its own code, every
/// other intent decided in the same run, nothing pending.
async fn assert_poisons_isolated<B: Backend, S: ServerStore<Domain = sai_suite::Todo>>(
    b: &B,
    store: &mut S,
    [panics, nul, fine]: [Uuid; 3],
) {
    let rejected = rejections(b).await;
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    let (client, seq, code, message) = &rejected[0];
    assert_eq!(
        (client.as_str(), *seq, code.as_str()),
        ("a-panic", 1, "step_panicked")
    );
    assert!(message.contains("a guard met the title"), "{message}");
    let (client, seq, code, message) = &rejected[1];
    assert_eq!(
        (client.as_str(), *seq, code.as_str()),
        ("b-nul", 2, "unstorable_value")
    );
    assert!(
        message.contains("title") && message.contains("NUL"),
        "{message}"
    );

    assert_eq!(scalar(b, PENDING).await, 0);
    assert_eq!(scalar(b, PROCESSED).await, 5);
    for (client, seq) in [("a-panic", 2), ("b-nul", 3), ("c-fine", 3)] {
        assert_eq!(ack(store, client).await, seq, "{client}");
    }
    // The panic changed nothing: the entity was created by the next intent.
    let (state, version, fields) = todo(store, panics).await;
    assert_eq!(
        (state.as_str(), version, fields.title.as_str()),
        ("Active", 1, "calm")
    );
    // The NUL rename changed nothing; the toggle behind it was decided.
    let (state, version, fields) = todo(store, nul).await;
    assert_eq!(
        (state.as_str(), version, fields.title.as_str()),
        ("Done", 2, "ok")
    );
    let (state, version, fields) = todo(store, fine).await;
    assert_eq!(
        (state.as_str(), version, fields.estimate),
        ("Done", 2, None)
    );
}

pub async fn poison_intents_leave_every_other_client_decided<B: Backend>(b: B) {
    let (intents, entities) = poisoned_workload();
    let mut store = b.store().await;
    upload(&mut store, ALICE, &intents).await;
    let mut p = EventProcessor::new(store).with_machine::<PanickyTodoMachine>();
    let tally = p.process_pending().await;
    assert_eq!(
        (tally.accepted, tally.rejected, tally.errors),
        (5, 3, 0),
        "{:?}",
        tally.failures
    );
    assert_poisons_isolated(&b, p.store_mut(), entities).await;
}

pub async fn a_killed_connection_mid_batch_with_poison_is_retried_not_rejected<B: Backend>(b: B) {
    let (intents, entities) = poisoned_workload();
    let mut store = b.store().await;
    upload(&mut store, ALICE, &intents).await;
    let fault = b.inject_transient_fault(&mut store).await;
    let config = ProcessorConfig::default().with_retry_backoff(Duration::from_millis(20));
    let mut p = EventProcessor::new(store)
        .with_machine::<PanickyTodoMachine>()
        .with_config(config);
    let tally = p.process_pending().await;
    assert!(
        fault.await.expect("fault task"),
        "the fault never hit the batch"
    );
    assert_eq!(
        (tally.accepted, tally.rejected, tally.errors),
        (5, 3, 0),
        "{:?}",
        tally.failures
    );
    assert_poisons_isolated(&b, p.store_mut(), entities).await;
}

pub async fn a_taken_sequence_number_is_refused_not_dropped<B: Backend>(b: B) {
    let e = Uuid::now_v7();
    let mut store = b.store().await;
    let accepted = intent(e, "c1", ALICE, 1, create("a"));
    let rejected = intent(e, "c1", ALICE, 2, TodoEvent::Rename { title: " ".into() });
    upload(&mut store, ALICE, &[accepted.clone(), rejected.clone()]).await;
    let mut p = EventProcessor::new(store);
    let tally = p.process_pending().await;
    assert_eq!((tally.accepted, tally.rejected), (1, 1));

    // A restored device sends new edits under seqs the server decided (one accepted, one
    // rejected): refused with both ids named, nothing stored.
    for holder in [&accepted, &rejected] {
        let edit = intent(e, "c1", ALICE, holder.seq, TodoEvent::Toggle);
        match ingest(p.store_mut(), ALICE, std::slice::from_ref(&edit)).await {
            Err(IngestError::SequenceTaken {
                client_id,
                seq,
                intent_id,
                stored_intent_id,
            }) => {
                assert_eq!((client_id.as_str(), seq), ("c1", holder.seq));
                assert_eq!((intent_id, stored_intent_id), (edit.id, holder.id));
            }
            other => panic!("{other:?}"),
        }
    }
    // A clone uploads seq 3 after the first device queued it: refused too.
    let queued = intent(e, "c1", ALICE, 3, TodoEvent::Toggle);
    upload(p.store_mut(), ALICE, std::slice::from_ref(&queued)).await;
    let clone = intent(e, "c1", ALICE, 3, TodoEvent::Delete);
    match ingest(p.store_mut(), ALICE, std::slice::from_ref(&clone)).await {
        Err(IngestError::SequenceTaken {
            stored_intent_id, ..
        }) => assert_eq!(stored_intent_id, queued.id),
        other => panic!("{other:?}"),
    }
    // The honest re-uploads are still duplicates.
    let again = upload(p.store_mut(), ALICE, &[accepted, rejected, queued]).await;
    assert_eq!((again.inserted, again.duplicates), (0, 3));
    assert_eq!(scalar(&b, PENDING).await, 1);
    assert_eq!(p.process_pending().await.accepted, 1);
    assert_eq!(todo(p.store_mut(), e).await.0, "Done");
}

pub async fn an_invalid_identity_is_refused_and_nothing_stored<B: Backend>(b: B) {
    let mut store = b.store().await;
    let e = Uuid::now_v7();
    let long = "x".repeat(201);
    for user in ["", long.as_str(), "al\u{0}ice"] {
        let refused = ingest(&mut store, user, &[intent(e, "c1", user, 1, create("a"))]).await;
        assert!(
            matches!(
                refused,
                Err(IngestError::InvalidIdentity {
                    field: "user_id",
                    ..
                })
            ),
            "{user:?}: {refused:?}"
        );
    }
    for client in ["", long.as_str(), "c\u{0}1"] {
        let refused = ingest(
            &mut store,
            ALICE,
            &[intent(e, client, ALICE, 1, create("a"))],
        )
        .await;
        assert!(
            matches!(
                refused,
                Err(IngestError::InvalidIdentity {
                    field: "client_id",
                    ..
                })
            ),
            "{client:?}: {refused:?}"
        );
    }
    // A raw NUL in the payload (never valid JSON): refused, not left to fail the store.
    let nul = raw_event(
        e,
        "c1",
        1,
        "CREATE",
        1,
        "{\"type\":\"CREATE\",\"title\":\"a\u{0}\"}",
    );
    let refused = ingest(&mut store, ALICE, &[nul]).await;
    assert!(
        matches!(refused, Err(IngestError::Malformed { .. })),
        "{refused:?}"
    );
    assert_eq!(scalar(&b, PENDING).await, 0);
    assert_eq!(scalar(&b, CLIENTS).await, 0);
    assert_eq!(scalar(&b, REJECTED).await, 0);
}

pub async fn a_store_error_says_what_the_database_said<B: Backend>(b: B) {
    let e = Uuid::now_v7();
    let mut p = EventProcessor::new(b.store().await);
    upload(
        p.store_mut(),
        ALICE,
        &[intent(e, "c1", ALICE, 1, create("CRASH"))],
    )
    .await;
    b.execute(b.crash_trigger()).await;
    let err = p
        .process_batch(10)
        .await
        .expect_err("the trigger refuses the write");
    let ProcessError::Store { source, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(matches!(source, StoreError::Database(_)), "{source:?}");
    let text = err.to_string();
    assert!(text.contains("simulated crash"), "{text}");
    let code = source.code().expect("the database's code");
    assert!(text.contains(code), "{text} lacks {code}");
    b.execute(b.drop_crash_trigger()).await;
    assert_eq!(p.process_pending().await.accepted, 1);
}

/// Store errors met before any table exists: each store's own words reach `Display`.
mod store_specific {
    use sai::server::{PostgresStore, ServerStore, SqliteStore};
    use sai_suite::Todo;

    #[tokio::test]
    async fn a_refused_postgres_connection_says_why() {
        // Nothing listens on port 1: the I/O cause must be in the text, not only "error
        // connecting to server".
        let err = PostgresStore::<Todo>::connect("postgres://postgres@127.0.0.1:1/test")
            .await
            .expect_err("nothing listens there");
        let text = err.to_string();
        assert!(text.to_lowercase().contains("refused"), "{text}");
        assert!(
            err.is_transient(),
            "a refused connection may pass later: {err:?}"
        );
    }

    #[tokio::test]
    async fn a_postgres_refusal_carries_message_and_sqlstate() {
        let Some(url) = sai_suite::postgres::url() else {
            return;
        };
        // A schema that does not exist: PostgreSQL has nowhere to create the tables.
        let mut store =
            PostgresStore::<Todo>::connect_in_schema(&url, "sai_no_such_schema_hardening")
                .await
                .expect("connect");
        let err = store.migrate().await.expect_err("no schema to create in");
        let text = err.to_string();
        assert!(
            text.contains("no schema has been selected to create in"),
            "{text}"
        );
        assert!(text.contains("3F000"), "{text}");
        assert_eq!(err.code(), Some("3F000"));
    }

    #[tokio::test]
    async fn a_sqlite_refusal_carries_message_and_code() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("server.db");
        let mut store = SqliteStore::<Todo>::open(&path).expect("open");
        store.migrate().await.expect("migrate");
        // The store's table is replaced by a view: every write is refused by SQLite.
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(
            "DROP TABLE todo_client_acks; CREATE VIEW todo_client_acks AS \
             SELECT '' AS id, '' AS user_id, 0 AS last_seq, 0 AS updated_at;",
        )
        .expect("replace the table");
        let upload = [crate::support::intent(
            sai::Uuid::now_v7(),
            "c1",
            crate::support::ALICE,
            1,
            sai_suite::create("a"),
        )];
        let err = sai::server::ingest(&mut store, crate::support::ALICE, &upload)
            .await
            .expect_err("a view cannot be written");
        let text = err.to_string();
        assert!(text.contains("todo_client_acks"), "{text}");
        assert!(text.contains("SQLite"), "{text}");
    }
}

pub async fn a_value_the_database_refuses_is_found_and_rejected<B: Backend>(b: B) {
    let (long, fine) = (Uuid::now_v7(), Uuid::now_v7());
    let label = |c: &str| TodoEvent::Label {
        label: c.repeat(600),
    };
    let mut store = b.store().await;
    upload(
        &mut store,
        ALICE,
        &[
            intent(long, "a-long", ALICE, 1, create("a")),
            intent(long, "a-long", ALICE, 2, label("x")),
            intent(long, "a-long", ALICE, 3, label("y")),
            intent(long, "a-long", ALICE, 4, TodoEvent::Toggle),
            intent(fine, "b-fine", ALICE, 1, create("b")),
            intent(fine, "b-fine", ALICE, 2, TodoEvent::Toggle),
        ],
    )
    .await;
    b.refuse_long_labels(&mut store).await;
    let mut p = EventProcessor::new(store);
    let tally = p.process_pending().await;
    assert_eq!(
        (tally.accepted, tally.rejected, tally.errors),
        (5, 1, 0),
        "{:?}",
        tally.failures
    );
    let rejected = rejections(&b).await;
    let [(client, seq, code, message)] = &rejected[..] else {
        panic!("{rejected:?}");
    };
    assert_eq!(
        (client.as_str(), *seq, code.as_str()),
        ("a-long", 3, "unstorable_value")
    );
    // The database's own words, kept for the operator.
    assert!(
        message.contains("too long") || message.contains("too big"),
        "{message}"
    );
    assert_eq!(
        (
            ack(p.store_mut(), "a-long").await,
            ack(p.store_mut(), "b-fine").await
        ),
        (4, 2)
    );
    let (state, version, fields) = todo(p.store_mut(), long).await;
    assert_eq!(
        (state.as_str(), version, fields.labels.len()),
        ("Done", 3, 1)
    );
    assert_eq!(todo(p.store_mut(), fine).await.0, "Done");
    assert_eq!(scalar(&b, PENDING).await, 0);
}
