//! One behaviour per test, generic over the backend.

use std::time::Duration;

use sai::server::{
    DecideError, EventProcessor, IngestError, ProcessError, ProcessorConfig, ServerStore,
    StoreError, Verdict, Writers, ingest, shutdown, wakeup,
};
use sai::{Machine, Phase, RawIntent, Snapshot, SqlValue, Uuid};
use sai_suite::{StrictTodoMachine, TodoEvent, TodoMachine};

use crate::harness::{Backend, scalar};
use crate::support::{ALICE, ack, create, intent, raw_event, todo, upload};

const PENDING: &str = "SELECT COUNT(*) FROM todo_intent_events";
const PROCESSED: &str = "SELECT COUNT(*) FROM todo_intent_events_processed";
const REJECTED: &str = "SELECT COUNT(*) FROM todo_intent_events_rejected";

/// A processor over a fresh store in which Alice has uploaded `intents`.
async fn queued<B: Backend>(b: &B, intents: &[RawIntent]) -> EventProcessor<B::Store> {
    let mut store = b.store().await;
    upload(&mut store, ALICE, intents).await;
    EventProcessor::new(store)
}

pub async fn accepted_intents_are_archived_and_projected<B: Backend>(b: B) {
    let mut store = b.store().await;
    let e = Uuid::now_v7();
    let intents = [
        intent(e, "c1", ALICE, 1, create("Buy milk")),
        intent(
            e,
            "c1",
            ALICE,
            2,
            TodoEvent::Label {
                label: "errand".into(),
            },
        ),
        intent(e, "c1", ALICE, 3, TodoEvent::Toggle),
    ];
    let report = upload(&mut store, ALICE, &intents).await;
    assert_eq!((report.inserted, report.duplicates), (3, 0));

    let mut p = EventProcessor::new(store);
    let tally = p.process_pending().await;
    assert_eq!((tally.accepted, tally.rejected, tally.errors), (3, 0, 0));

    let store = p.store_mut();
    let (state, version, fields) = todo(store, e).await;
    assert_eq!((state.as_str(), version), ("Done", 3));
    assert_eq!(fields.title, "Buy milk");
    assert!(fields.completed);
    assert_eq!(fields.labels, vec!["errand".to_owned()]);
    assert_eq!(fields.priority, 1);
    assert_eq!(ack(store, "c1").await, 3);
    assert_eq!(scalar(&b, PENDING).await, 0);

    // The archive holds each step's snapshot, in version order.
    let rows = b
        .query("SELECT seq, state, version, context FROM todo_intent_events_processed ORDER BY version")
        .await;
    let states: Vec<_> = rows
        .iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect();
    assert_eq!(
        states,
        vec![
            (
                SqlValue::Integer(1),
                SqlValue::Text("Active".into()),
                SqlValue::Integer(1)
            ),
            (
                SqlValue::Integer(2),
                SqlValue::Text("Active".into()),
                SqlValue::Integer(2)
            ),
            (
                SqlValue::Integer(3),
                SqlValue::Text("Done".into()),
                SqlValue::Integer(3)
            ),
        ]
    );
    let SqlValue::Text(context) = &rows[1][3] else {
        panic!("context {:?}", rows[1][3])
    };
    let context: sai_suite::Todo = serde_json::from_str(context).expect("context JSON");
    assert_eq!(context.labels, vec!["errand".to_owned()]);
    assert!(!context.completed);
    let owner = b.query("SELECT owner_id FROM todo_projection").await;
    assert_eq!(owner, vec![vec![SqlValue::Text(ALICE.into())]]);
}

pub async fn rejection_is_recorded_and_advances_the_ack<B: Backend>(b: B) {
    let e = Uuid::now_v7();
    let mut p = queued(
        &b,
        &[
            intent(e, "c1", ALICE, 1, create("a")),
            intent(e, "c1", ALICE, 2, create("again")),
            intent(e, "c1", ALICE, 3, TodoEvent::Rename { title: " ".into() }),
            intent(e, "c1", ALICE, 4, TodoEvent::Toggle),
        ],
    )
    .await;
    let tally = p.process_pending().await;
    assert_eq!((tally.accepted, tally.rejected, tally.errors), (2, 2, 0));
    // Outcomes come in decision order, accepted and rejected interleaved.
    let order: Vec<_> = tally
        .outcomes
        .iter()
        .map(|o| (o.seq, matches!(o.verdict, Verdict::Accepted { .. })))
        .collect();
    assert_eq!(order, [(1, true), (2, false), (3, false), (4, true)]);
    assert_eq!(ack(p.store_mut(), "c1").await, 4);
    let (state, version, fields) = todo(p.store_mut(), e).await;
    assert_eq!(
        (state.as_str(), version, fields.title.as_str()),
        ("Done", 2, "a")
    );

    let rows = b
        .query("SELECT seq, code, state, message, reason, event_type FROM todo_intent_events_rejected ORDER BY seq")
        .await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][1], SqlValue::Text("not_accepted".into()));
    assert_eq!(rows[0][2], SqlValue::Text("Active".into()));
    assert_eq!(rows[0][5], SqlValue::Text("CREATE".into()));
    assert_eq!(rows[1][1], SqlValue::Text("guard_failed".into()));
    let SqlValue::Text(message) = &rows[1][3] else {
        panic!()
    };
    assert!(message.contains("title must not be empty"), "{message}");
    let SqlValue::Text(reason) = &rows[1][4] else {
        panic!()
    };
    let reason: sai::Rejection = serde_json::from_str(reason).expect("reason is a Rejection");
    assert_eq!(reason.code(), "guard_failed");
}

pub async fn duplicate_upload_is_stored_once<B: Backend>(b: B) {
    let mut store = b.store().await;
    let e = Uuid::now_v7();
    let intents = [
        intent(e, "c1", ALICE, 1, create("a")),
        intent(e, "c1", ALICE, 2, TodoEvent::Toggle),
    ];
    upload(&mut store, ALICE, &intents).await;
    let again = upload(&mut store, ALICE, &intents).await;
    assert_eq!((again.inserted, again.duplicates), (0, 2));
    assert_eq!(scalar(&b, PENDING).await, 2);

    let mut p = EventProcessor::new(store);
    assert_eq!(p.process_pending().await.decided(), 2);

    // Re-uploaded after the decision (the client missed the ack): still a no-op.
    let late = upload(p.store_mut(), ALICE, &intents).await;
    assert_eq!((late.inserted, late.duplicates), (0, 2));
    assert_eq!(scalar(&b, PENDING).await, 0);
    assert_eq!(p.process_pending().await.decided(), 0);
    assert_eq!(scalar(&b, PROCESSED).await, 2);
    let (_, version, _) = todo(p.store_mut(), e).await;
    assert_eq!(version, 2);

    // The same intent twice in one upload is stored once too.
    let third = intent(e, "c1", ALICE, 3, TodoEvent::Toggle);
    let report = upload(p.store_mut(), ALICE, &[third.clone(), third]).await;
    assert_eq!((report.inserted, report.duplicates), (1, 1));
}

pub async fn gap_in_sequence_waits<B: Backend>(b: B) {
    let e = Uuid::now_v7();
    let mut p = queued(
        &b,
        &[
            intent(e, "c1", ALICE, 1, create("a")),
            intent(e, "c1", ALICE, 2, TodoEvent::Rename { title: "b".into() }),
            intent(e, "c1", ALICE, 4, TodoEvent::Rename { title: "d".into() }),
        ],
    )
    .await;
    assert_eq!(p.process_pending().await.decided(), 2);
    assert_eq!(ack(p.store_mut(), "c1").await, 2);
    assert_eq!(scalar(&b, PENDING).await, 1);
    assert_eq!(todo(p.store_mut(), e).await.2.title, "b");

    upload(
        p.store_mut(),
        ALICE,
        &[intent(
            e,
            "c1",
            ALICE,
            3,
            TodoEvent::Rename { title: "c".into() },
        )],
    )
    .await;
    assert_eq!(p.process_pending().await.decided(), 2);
    assert_eq!(ack(p.store_mut(), "c1").await, 4);
    let (_, version, fields) = todo(p.store_mut(), e).await;
    assert_eq!((version, fields.title.as_str()), (4, "d"));
    let order = b
        .query("SELECT seq FROM todo_intent_events_processed ORDER BY version")
        .await;
    let seqs: Vec<_> = order.into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(seqs, (1..=4).map(SqlValue::Integer).collect::<Vec<_>>());
}

pub async fn client_order_holds_across_entities<B: Backend>(b: B) {
    let mut store = b.store().await;
    let (e1, e2) = (Uuid::now_v7(), Uuid::now_v7());
    let all = [
        intent(e1, "c1", ALICE, 1, create("one")),
        intent(e2, "c1", ALICE, 2, create("two")),
        intent(e1, "c1", ALICE, 3, TodoEvent::Toggle),
        intent(e2, "c1", ALICE, 4, TodoEvent::Delete),
    ];
    upload(&mut store, ALICE, &all[1..]).await;
    let mut p = EventProcessor::new(store);
    // Seq 2..4 must wait for seq 1, although seq 2 and 4 are on another entity.
    assert_eq!(p.process_pending().await.decided(), 0);
    assert_eq!(ack(p.store_mut(), "c1").await, 0);
    assert!(p.store_mut().projection(e2).await.expect("read").is_none());

    upload(p.store_mut(), ALICE, &all[..1]).await;
    let tally = p.process_pending().await;
    assert_eq!((tally.accepted, tally.rejected), (4, 0));
    assert_eq!(ack(p.store_mut(), "c1").await, 4);
    assert_eq!(todo(p.store_mut(), e1).await.0, "Done");
    assert_eq!(todo(p.store_mut(), e2).await.0, "Deleted");
}

pub async fn poison_intents_are_rejected_without_blocking<B: Backend>(b: B) {
    let e = Uuid::now_v7();
    let mut p = queued(
        &b,
        &[
            intent(e, "c1", ALICE, 1, create("a")),
            raw_event(e, "c1", 2, "EXPLODE", 1, r#"{"type":"EXPLODE"}"#),
            raw_event(e, "c1", 3, "TOGGLE", 99, r#"{"type":"TOGGLE"}"#),
            raw_event(e, "c1", 4, "RENAME", 1, r#"{"type":"RENAME"}"#),
            raw_event(e, "c1", 5, "RENAME", 1, "not json at all"),
            intent(e, "c1", ALICE, 6, TodoEvent::Toggle),
        ],
    )
    .await;
    let tally = p.process_pending().await;
    assert_eq!((tally.accepted, tally.rejected, tally.errors), (2, 4, 0));
    assert_eq!(ack(p.store_mut(), "c1").await, 6);
    assert_eq!(todo(p.store_mut(), e).await.0, "Done");
    let codes: Vec<_> = b
        .query("SELECT code FROM todo_intent_events_rejected ORDER BY seq")
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let expected = [
        "unknown_event_type",
        "unsupported_event_version",
        "malformed_payload",
        "malformed_payload",
    ];
    assert_eq!(codes, expected.map(|c| SqlValue::Text(c.into())).to_vec());
}

pub async fn stricter_server_machine_decides<B: Backend>(b: B) {
    let mut store = b.store().await;
    let (e1, e2) = (Uuid::now_v7(), Uuid::now_v7());
    let big = TodoEvent::Estimate { hours: Some(80.0) };
    let batch = |e, client: &str| {
        vec![
            intent(e, client, ALICE, 1, create("plan")),
            intent(e, client, ALICE, 2, big.clone()),
            intent(
                e,
                client,
                ALICE,
                3,
                TodoEvent::Estimate { hours: Some(8.0) },
            ),
        ]
    };
    upload(&mut store, ALICE, &batch(e1, "c1")).await;

    // The client's machine accepts the big estimate optimistically...
    let created = batch(e1, "c1")[0].decode::<TodoEvent>().expect("decode");
    let snap = Snapshot::<TodoMachine>::initial()
        .step_intent(&created, Phase::Optimistic)
        .expect("create");
    let estimate = batch(e1, "c1")[1].decode::<TodoEvent>().expect("decode");
    assert!(snap.step_intent(&estimate, Phase::Authoritative).is_ok());

    // ...the server's stricter machine does not.
    let mut strict = EventProcessor::new(store).with_machine::<StrictTodoMachine>();
    let tally = strict.process_pending().await;
    assert_eq!((tally.accepted, tally.rejected), (2, 1));
    let (state, version, fields) = todo(strict.store_mut(), e1).await;
    assert_eq!(
        (state.as_str(), version, fields.estimate),
        ("Active", 2, Some(8.0))
    );
    let rows = b
        .query("SELECT code, message FROM todo_intent_events_rejected")
        .await;
    assert_eq!(rows[0][0], SqlValue::Text("guard_failed".into()));
    assert_eq!(
        rows[0][1],
        SqlValue::Text(
            "ESTIMATE rejected in state Active: estimates above 40 hours need a split".into()
        )
    );

    // The domain's own machine, on another entity, accepts it; both read the same snapshots.
    let mut lenient = strict.with_machine::<TodoMachine>();
    upload(lenient.store_mut(), ALICE, &batch(e2, "c2")).await;
    let tally = lenient.process_pending().await;
    assert_eq!((tally.accepted, tally.rejected), (3, 0));
    assert_eq!(
        StrictTodoMachine::from_name(&todo(lenient.store_mut(), e2).await.0),
        Some(StrictTodoMachine::Active)
    );
}

pub async fn unauthorised_client_is_refused<B: Backend>(b: B) {
    let mut store = b.store().await;
    let e = Uuid::now_v7();
    upload(
        &mut store,
        ALICE,
        &[intent(e, "alice-phone", ALICE, 1, create("mine"))],
    )
    .await;

    // Bob uploads with Alice's client: refused, whole upload, nothing stored.
    let bobs = [
        intent(Uuid::now_v7(), "bob-phone", "bob", 1, create("his")),
        intent(e, "alice-phone", "bob", 2, TodoEvent::Delete),
    ];
    match ingest(&mut store, "bob", &bobs).await {
        Err(IngestError::Unauthorized { client_id, user_id }) => {
            assert_eq!(
                (client_id.as_str(), user_id.as_str()),
                ("alice-phone", "bob")
            );
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert_eq!(scalar(&b, PENDING).await, 1);
    assert!(store.client_ack("bob-phone").await.expect("read").is_none());

    // An intent naming another user than the authenticated one.
    let spoofed = [intent(e, "alice-phone", ALICE, 2, TodoEvent::Delete)];
    assert!(matches!(
        ingest(&mut store, "bob", &spoofed).await,
        Err(IngestError::WrongUser { .. })
    ));
    // A malformed envelope.
    let mut zero = intent(e, "alice-phone", ALICE, 2, TodoEvent::Toggle);
    zero.seq = 0;
    assert!(matches!(
        ingest(&mut store, ALICE, &[zero]).await,
        Err(IngestError::Malformed { .. })
    ));
    assert_eq!(scalar(&b, PENDING).await, 1);
    assert_eq!(
        store.client_ack("alice-phone").await.expect("read"),
        Some((ALICE.into(), 0))
    );

    // Bob's own client works.
    upload(&mut store, "bob", &bobs[..1]).await;
    assert_eq!(
        EventProcessor::new(store).process_pending().await.decided(),
        2
    );
}

pub async fn crash_mid_batch_writes_nothing<B: Backend>(b: B) {
    let (ok, crash) = (Uuid::now_v7(), Uuid::now_v7());
    let mut p = queued(
        &b,
        &[
            intent(ok, "c1", ALICE, 1, create("fine")),
            intent(ok, "c1", ALICE, 2, TodoEvent::Toggle),
            intent(crash, "c2", ALICE, 1, create("CRASH")),
        ],
    )
    .await;
    b.execute(b.crash_trigger()).await;
    let tally = p.process_pending().await;
    assert_eq!((tally.accepted, tally.rejected, tally.errors), (0, 0, 1));
    assert!(
        matches!(
            &tally.failures[0],
            ProcessError::Store {
                source: StoreError::Database(_),
                attempts: 1
            }
        ),
        "{:?}",
        tally.failures
    );
    // The acknowledgement update, the delete and the archive insert ran before the failing
    // projection write: all rolled back.
    assert_eq!(scalar(&b, PENDING).await, 3);
    assert_eq!(scalar(&b, PROCESSED).await, 0);
    assert_eq!(scalar(&b, REJECTED).await, 0);
    assert_eq!(scalar(&b, "SELECT COUNT(*) FROM todo_projection").await, 0);
    assert_eq!(ack(p.store_mut(), "c1").await, 0);

    b.execute(b.drop_crash_trigger()).await;
    let tally = p.process_pending().await;
    assert_eq!((tally.accepted, tally.rejected, tally.errors), (3, 0, 0));
    assert_eq!(scalar(&b, PROCESSED).await, 3);
    assert_eq!(todo(p.store_mut(), ok).await.1, 2);
}

pub async fn worker_dying_mid_batch_leaves_nothing_behind<B: Backend>(b: B) {
    let mut store = b.store().await;
    let e = Uuid::now_v7();
    upload(
        &mut store,
        ALICE,
        &[
            intent(e, "c1", ALICE, 1, create("a")),
            intent(e, "c1", ALICE, 2, TodoEvent::Toggle),
        ],
    )
    .await;
    // A worker that dies while it holds the batch: its task panics, its connection is
    // dropped with the transaction open.
    let mut doomed = b.store().await;
    let died = tokio::spawn(async move {
        doomed
            .decide_batch(100, 0, |claim| {
                assert_eq!(claim.intents.len(), 2, "the worker did claim the batch");
                panic!("worker crashed");
            })
            .await
    })
    .await;
    assert!(died.expect_err("the worker died").is_panic());
    assert_eq!(scalar(&b, PENDING).await, 2);
    assert_eq!(scalar(&b, PROCESSED).await, 0);
    assert_eq!(ack(&mut store, "c1").await, 0);

    // Its entity is free again once the server has seen the connection close (PostgreSQL
    // releases the dead worker's locks asynchronously): another worker decides everything,
    // once.
    let mut p = EventProcessor::new(store);
    let mut tally = p.process_pending().await;
    for _ in 0..100 {
        if tally.accepted > 0 || tally.errors > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        tally = p.process_pending().await;
    }
    assert_eq!((tally.accepted, tally.errors), (2, 0));
    assert_eq!(scalar(&b, PROCESSED).await, 2);
}

pub async fn transient_error_is_retried_not_rejected<B: Backend>(b: B) {
    let mut store = b.store().await;
    let e = Uuid::now_v7();
    upload(
        &mut store,
        ALICE,
        &[
            intent(e, "c1", ALICE, 1, create("a")),
            intent(e, "c1", ALICE, 2, TodoEvent::Toggle),
        ],
    )
    .await;
    let fault = b.inject_transient_fault(&mut store).await;
    let config = ProcessorConfig::default().with_retry_backoff(Duration::from_millis(20));
    let mut p = EventProcessor::new(store).with_config(config);
    let tally = p.process_pending().await;
    assert!(
        fault.await.expect("fault task"),
        "the fault never hit the batch"
    );
    assert_eq!(
        (tally.accepted, tally.rejected, tally.errors),
        (2, 0, 0),
        "{:?}",
        tally.failures
    );
    assert_eq!(scalar(&b, REJECTED).await, 0);
    assert_eq!(scalar(&b, PROCESSED).await, 2);
    assert_eq!(ack(p.store_mut(), "c1").await, 2);
}

pub async fn corrupt_rows_are_reported_and_kept<B: Backend>(b: B) {
    let (e1, e2) = (Uuid::now_v7(), Uuid::now_v7());
    let mut p = queued(&b, &[intent(e1, "c1", ALICE, 1, create("a"))]).await;
    assert_eq!(p.process_pending().await.accepted, 1);

    // A projection row in a state the machine does not have, and a pending row that is not
    // an intent (written behind the library's back).
    b.execute(&format!(
        "UPDATE todo_projection SET state = 'Bogus' WHERE id = '{e1}'"
    ))
    .await;
    upload(
        p.store_mut(),
        ALICE,
        &[intent(e1, "c1", ALICE, 2, TodoEvent::Toggle)],
    )
    .await;
    upload(
        p.store_mut(),
        ALICE,
        &[intent(e2, "c2", ALICE, 2, create("after the bad row"))],
    )
    .await;
    b.execute(
        "INSERT INTO todo_intent_events (id, entity_id, client_id, user_id, seq, event_type, \
         event_version, payload, created_at, received_at) \
         VALUES ('not-a-uuid', 'nor-this', 'c2', 'alice', 1, 'CREATE', 1, '{}', 0, 0)",
    )
    .await;
    let e3 = Uuid::now_v7();
    upload(
        p.store_mut(),
        ALICE,
        &[intent(e3, "c3", ALICE, 1, create("unrelated"))],
    )
    .await;

    let tally = p.process_pending().await;
    assert_eq!(
        (tally.accepted, tally.rejected),
        (1, 0),
        "{:?}",
        tally.failures
    );
    assert!(tally.failures.iter().any(|f| matches!(f, ProcessError::Decide(DecideError::UnknownState { entity, .. }) if *entity == e1)), "{:?}", tally.failures);
    assert!(tally.failures.iter().any(|f| matches!(f, ProcessError::Decide(DecideError::MalformedRow(r)) if r.id == "not-a-uuid")), "{:?}", tally.failures);
    assert_eq!(
        scalar(&b, REJECTED).await,
        0,
        "server-side faults are not rejections"
    );
    assert_eq!(scalar(&b, PENDING).await, 3, "nothing was lost");
    assert_eq!(
        (
            ack(p.store_mut(), "c1").await,
            ack(p.store_mut(), "c2").await
        ),
        (1, 0)
    );

    // Repaired, the waiting intents are decided.
    b.execute(&format!(
        "UPDATE todo_projection SET state = 'Active' WHERE id = '{e1}'"
    ))
    .await;
    b.execute("DELETE FROM todo_intent_events WHERE id = 'not-a-uuid'")
        .await;
    upload(
        p.store_mut(),
        ALICE,
        &[intent(e2, "c2", ALICE, 1, create("first"))],
    )
    .await;
    let tally = p.process_pending().await;
    assert_eq!((tally.accepted, tally.rejected, tally.errors), (2, 1, 0));
    assert_eq!(todo(p.store_mut(), e1).await.0, "Done");
}

pub async fn process_intent_decides_one<B: Backend>(b: B) {
    let e = Uuid::now_v7();
    let mut p = queued(
        &b,
        &[
            intent(e, "c1", ALICE, 1, create("a")),
            intent(e, "c1", ALICE, 2, TodoEvent::Toggle),
            intent(e, "c1", ALICE, 3, TodoEvent::Toggle),
        ],
    )
    .await;
    let one = p.process_intent().await.expect("batch");
    assert_eq!((one.accepted, one.rejected), (1, 0));
    let first = &one.outcomes[..];
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].entity_id, first[0].seq), (e, 1));
    assert_eq!(
        first[0].verdict,
        Verdict::Accepted {
            state: "Active",
            version: 1
        }
    );
    assert_eq!(ack(p.store_mut(), "c1").await, 1);
    assert_eq!(scalar(&b, PENDING).await, 2);
    let batch = p.process_batch(10).await.expect("batch");
    assert_eq!(batch.decided(), 2);
    assert_eq!(todo(p.store_mut(), e).await.0, "Active");
}

pub async fn worker_loop_stops_cleanly<B: Backend>(b: B) {
    let (stop, signal) = shutdown();
    let config = ProcessorConfig::default()
        .with_batch_size(7)
        .with_idle_wait(Duration::from_millis(10));
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = heard.clone();
    let mut worker = EventProcessor::new(b.store().await)
        .with_config(config)
        .on_decided(move |o| sink.lock().unwrap().push(o.seq));
    let running = tokio::spawn(async move { worker.run(signal).await });

    let mut store = b.store().await;
    let mut uploaded = 0;
    for round in 0..5u64 {
        let e = Uuid::now_v7();
        let mut batch = vec![intent(e, "c1", ALICE, round * 10 + 1, create("t"))];
        for seq in round * 10 + 2..=round * 10 + 10 {
            batch.push(intent(e, "c1", ALICE, seq, TodoEvent::Toggle));
        }
        uploaded += upload(&mut store, ALICE, &batch).await.inserted;
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    for _ in 0..1000 {
        if ack(&mut store, "c1").await == 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.stop();
    let tally = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the worker stops")
        .expect("the worker did not panic");
    assert_eq!(tally.decided(), uploaded);
    assert_eq!((tally.accepted, tally.errors), (50, 0));
    assert_eq!(scalar(&b, PENDING).await, 0);
    // Every outcome went to the observer, in order; the loop's own tally keeps counts only.
    assert_eq!(*heard.lock().unwrap(), (1..=50).collect::<Vec<u64>>());
    assert!(tally.outcomes.is_empty());
}

pub async fn reversed_upload_is_decided_in_order<B: Backend>(b: B) {
    // A client's chain over several entities, queued newest first: the queue's physical order
    // starts with intents that must wait, yet every small batch still finds the head.
    let mut store = b.store().await;
    let entities: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    let mut chain = Vec::new();
    for seq in 1..=40u64 {
        let e = entities[(seq as usize - 1) % 4];
        let event = if seq <= 4 {
            create("t")
        } else {
            TodoEvent::Toggle
        };
        chain.push(intent(e, "c1", ALICE, seq, event));
    }
    for one in chain.iter().rev() {
        upload(&mut store, ALICE, std::slice::from_ref(one)).await;
    }
    let config = ProcessorConfig::default().with_batch_size(1);
    let mut p = EventProcessor::new(store).with_config(config);
    let tally = p.process_pending().await;
    assert_eq!((tally.accepted, tally.errors), (40, 0));
    // Decided in sequence order: on each entity, seq k + 4n was its version n + 1.
    let archived = b
        .query("SELECT seq, version FROM todo_intent_events_processed ORDER BY seq")
        .await;
    let expected: Vec<Vec<SqlValue>> = (1..=40i64)
        .map(|seq| vec![SqlValue::Integer(seq), SqlValue::Integer((seq - 1) / 4 + 1)])
        .collect();
    assert_eq!(archived, expected);
    for e in &entities {
        assert_eq!(todo(p.store_mut(), *e).await.1, 10);
    }
}

pub async fn already_decided_leftovers_are_cleared_not_redecided<B: Backend>(b: B) {
    let (e1, e2) = (Uuid::now_v7(), Uuid::now_v7());
    let mut p = queued(
        &b,
        &[
            intent(e1, "c1", ALICE, 1, create("a")),
            intent(e1, "c1", ALICE, 2, TodoEvent::Toggle),
            intent(e2, "c2", ALICE, 1, create("b")),
        ],
    )
    .await;
    assert_eq!(p.process_pending().await.decided(), 3);

    // Copies of decided intents that reached the queue anyway (as a re-upload racing the
    // decision can on a database without one writer): one behind a new intent of its
    // client, one alone.
    for (client, seq, entity) in [("c1", 2, e1), ("c2", 1, e2)] {
        b.execute(&format!(
            "INSERT INTO todo_intent_events (id, entity_id, client_id, user_id, seq, event_type, \
             event_version, payload, created_at, received_at) \
             VALUES ('{}', '{entity}', '{client}', 'alice', {seq}, 'TOGGLE', 1, \
             '{{\"type\":\"TOGGLE\"}}', 0, 0)",
            Uuid::now_v7()
        ))
        .await;
    }
    upload(
        p.store_mut(),
        ALICE,
        &[intent(e1, "c1", ALICE, 3, TodoEvent::Toggle)],
    )
    .await;

    let tally = p.process_pending().await;
    assert_eq!(
        (tally.accepted, tally.rejected, tally.stale, tally.errors),
        (1, 0, 2, 0),
        "{:?}",
        tally.failures
    );
    assert_eq!(scalar(&b, PENDING).await, 0);
    assert_eq!(scalar(&b, PROCESSED).await, 4);
    assert_eq!(
        (
            ack(p.store_mut(), "c1").await,
            ack(p.store_mut(), "c2").await
        ),
        (3, 1)
    );
    // Toggled by seq 2 and seq 3 only: the leftover copy of seq 2 was not applied again.
    let (state, version, _) = todo(p.store_mut(), e1).await;
    assert_eq!((state.as_str(), version), ("Active", 3));
    assert_eq!(todo(p.store_mut(), e2).await.1, 1);
}

pub async fn only_the_owner_changes_an_entity<B: Backend>(b: B) {
    let (alices, shared) = (Uuid::now_v7(), Uuid::now_v7());
    let mut p = queued(
        &b,
        &[
            intent(alices, "alice-phone", ALICE, 1, create("hers")),
            intent(shared, "alice-phone", ALICE, 2, create("shared")),
        ],
    )
    .await;
    assert_eq!(p.process_pending().await.accepted, 2);

    // Bob, from his own client, on Alice's entity: refused by the default policy, and the
    // refusal is recorded for him like any rejection (so his client stops waiting).
    upload(
        p.store_mut(),
        "bob",
        &[intent(alices, "bob-phone", "bob", 1, TodoEvent::Toggle)],
    )
    .await;
    let tally = p.process_pending().await;
    assert_eq!(
        (tally.accepted, tally.rejected),
        (0, 1),
        "{:?}",
        tally.failures
    );
    assert_eq!(
        tally.outcomes[0].verdict,
        Verdict::Rejected { code: "not_owner" }
    );
    assert_eq!(ack(p.store_mut(), "bob-phone").await, 1);
    let (state, version, _) = todo(p.store_mut(), alices).await;
    assert_eq!((state.as_str(), version), ("Active", 1));
    let rows = b
        .query("SELECT code, user_id, state, reason FROM todo_intent_events_rejected")
        .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], SqlValue::Text("not_owner".into()));
    assert_eq!(rows[0][1], SqlValue::Text("bob".into()));
    assert_eq!(rows[0][2], SqlValue::Text("Active".into()));
    let SqlValue::Text(reason) = &rows[0][3] else {
        panic!("{:?}", rows[0])
    };
    let reason: sai::Rejection = serde_json::from_str(reason).expect("reason is a Rejection");
    assert_eq!(reason.code(), "not_owner");

    // A processor that lets anyone write accepts the same kind of intent; the owner stays.
    let store = p.into_store();
    let anyone = ProcessorConfig::default().with_writers(Writers::Anyone);
    let mut p = EventProcessor::new(store).with_config(anyone);
    upload(
        p.store_mut(),
        "bob",
        &[intent(shared, "bob-phone", "bob", 2, TodoEvent::Toggle)],
    )
    .await;
    assert_eq!(p.process_pending().await.accepted, 1);
    let stored = p
        .store_mut()
        .projection(shared)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        (stored.state.as_str(), stored.owner_id.as_str()),
        ("Done", ALICE)
    );
}

pub async fn projections_are_rebuilt_from_the_archive<B: Backend>(b: B) {
    let (e1, e2, e3) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut p = queued(
        &b,
        &[
            intent(e1, "c1", ALICE, 1, create("one")),
            intent(e1, "c1", ALICE, 2, TodoEvent::Toggle),
            intent(e1, "c1", ALICE, 3, TodoEvent::Rename { title: " ".into() }),
            intent(e2, "c1", ALICE, 4, create("two")),
            intent(e2, "c1", ALICE, 5, TodoEvent::Label { label: "x".into() }),
            intent(e3, "c1", ALICE, 6, create("three")),
        ],
    )
    .await;
    assert_eq!(p.process_pending().await.decided(), 6);
    const ROWS: &str = "SELECT id, state, version, owner_id, title, completed, estimate, labels, \
                        priority_level FROM todo_projection ORDER BY id";
    let decided = b.query(ROWS).await;
    assert_eq!(decided.len(), 3);

    // The cache goes wrong: a row lost, one tampered with, one the archive never saw.
    b.execute(&format!("DELETE FROM todo_projection WHERE id = '{e3}'"))
        .await;
    b.execute(&format!(
        "UPDATE todo_projection SET title = 'tampered', version = 99, owner_id = 'mallory' \
         WHERE id = '{e1}'"
    ))
    .await;
    b.execute(&format!(
        "INSERT INTO todo_projection (id, state, version, owner_id, title, completed, estimate, \
         labels, priority_level, updated_at) \
         VALUES ('{}', 'Active', 1, 'alice', 'ghost', 0, NULL, '[]', 0, 0)",
        Uuid::now_v7()
    ))
    .await;
    assert_ne!(b.query(ROWS).await, decided);

    assert_eq!(p.rebuild_projections().await.expect("rebuild"), 3);
    assert_eq!(b.query(ROWS).await, decided);

    // A snapshot that no longer reads fails the rebuild and changes nothing.
    b.execute(&format!(
        "UPDATE todo_intent_events_processed SET context = 'not json' \
         WHERE entity_id = '{e2}' AND version = 2"
    ))
    .await;
    b.execute(&format!("DELETE FROM todo_projection WHERE id = '{e1}'"))
        .await;
    let before = b.query(ROWS).await;
    let err = p.rebuild_projections().await.expect_err("undecodable");
    assert!(
        matches!(&err, StoreError::Malformed(m) if m.contains(&e2.to_string())),
        "{err}"
    );
    assert_eq!(b.query(ROWS).await, before);

    // Deciding carries on from the rebuilt projections.
    b.execute(&format!(
        "UPDATE todo_intent_events_processed SET context = \
         (SELECT context FROM todo_intent_events_processed WHERE entity_id = '{e3}') \
         WHERE entity_id = '{e2}' AND version = 2"
    ))
    .await;
    assert_eq!(p.rebuild_projections().await.expect("rebuild"), 3);
    upload(
        p.store_mut(),
        ALICE,
        &[intent(e1, "c1", ALICE, 7, TodoEvent::Toggle)],
    )
    .await;
    assert_eq!(p.process_pending().await.accepted, 1);
    let (state, version, fields) = todo(p.store_mut(), e1).await;
    assert_eq!(
        (state.as_str(), version, fields.title.as_str()),
        ("Active", 3, "one")
    );
}

pub async fn a_wakeup_ends_the_idle_wait<B: Backend>(b: B) {
    let (stop, signal) = shutdown();
    let (wake, waiter) = wakeup();
    // Idle for an hour unless woken: only the wake-up can get these intents decided.
    let config = ProcessorConfig::default().with_idle_wait(Duration::from_secs(3600));
    let mut worker = EventProcessor::new(b.store().await)
        .with_config(config)
        .with_wakeup(waiter);
    let running = tokio::spawn(async move { worker.run(signal).await });
    let mut store = b.store().await;
    let e = Uuid::now_v7();
    for round in 1..=2u64 {
        // Let the worker find the queue empty and go idle.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let event = match round {
            1 => create("a"),
            _ => TodoEvent::Toggle,
        };
        upload(&mut store, ALICE, &[intent(e, "c1", ALICE, round, event)]).await;
        wake.wake();
        let mut acked = 0;
        for _ in 0..500 {
            acked = ack(&mut store, "c1").await;
            if acked == round {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(acked, round, "the woken worker decided the upload");
    }
    stop.stop();
    let tally = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the worker stops")
        .expect("the worker did not panic");
    assert_eq!((tally.accepted, tally.errors), (2, 0));
}

pub async fn a_dropped_stop_handle_stops_the_worker<B: Backend>(b: B) {
    let (stop, signal) = shutdown();
    drop(stop);
    let mut worker = EventProcessor::new(b.store().await);
    let tally = tokio::time::timeout(Duration::from_secs(10), worker.run(signal))
        .await
        .expect("no stop can come any more: the worker returns instead of spinning");
    assert_eq!((tally.decided(), tally.errors), (0, 0));
}

pub async fn a_reused_id_or_sequence_number_is_refused<B: Backend>(b: B) {
    let e = Uuid::now_v7();
    let first = intent(e, "c1", ALICE, 1, create("a"));
    let mut p = queued(&b, std::slice::from_ref(&first)).await;
    assert_eq!(p.process_pending().await.accepted, 1);
    let clash = |r: Result<_, IngestError>, culprit: Uuid| match r {
        Err(IngestError::IdConflict { intent_id, .. }) => assert_eq!(intent_id, culprit),
        other => panic!("{other:?}"),
    };

    // A decided intent's id under a new sequence number would be decided again (and could
    // not be archived twice): refused.
    let mut reused = intent(e, "c1", ALICE, 2, TodoEvent::Toggle);
    reused.id = first.id;
    clash(ingest(p.store_mut(), ALICE, &[reused]).await, first.id);

    let second = intent(e, "c1", ALICE, 2, TodoEvent::Toggle);
    upload(p.store_mut(), ALICE, std::slice::from_ref(&second)).await;
    // Another id for a queued (client, seq), and a queued id under another seq: refused.
    let other = intent(e, "c1", ALICE, 2, TodoEvent::Toggle);
    match ingest(p.store_mut(), ALICE, std::slice::from_ref(&other)).await {
        Err(IngestError::SequenceTaken {
            intent_id,
            stored_intent_id,
            ..
        }) => assert_eq!((intent_id, stored_intent_id), (other.id, second.id)),
        other => panic!("{other:?}"),
    }
    let mut moved = intent(e, "c1", ALICE, 3, TodoEvent::Toggle);
    moved.id = second.id;
    clash(ingest(p.store_mut(), ALICE, &[moved]).await, second.id);
    // Within one upload as well.
    let (x, y) = (
        intent(e, "c1", ALICE, 3, TodoEvent::Toggle),
        intent(e, "c1", ALICE, 3, TodoEvent::Toggle),
    );
    clash(ingest(p.store_mut(), ALICE, &[x, y.clone()]).await, y.id);

    // The honest re-upload is still a duplicate, and nothing of the above was stored.
    let again = upload(p.store_mut(), ALICE, std::slice::from_ref(&second)).await;
    assert_eq!((again.inserted, again.duplicates), (0, 1));
    assert_eq!(scalar(&b, PENDING).await, 1);
    let tally = p.process_pending().await;
    assert_eq!(
        (tally.accepted, tally.errors),
        (1, 0),
        "{:?}",
        tally.failures
    );
    assert_eq!(todo(p.store_mut(), e).await.1, 2);
}

pub async fn a_client_that_cannot_progress_does_not_starve_the_others<B: Backend>(b: B) {
    // "a-stuck" sorts first and has more pending intents than a batch holds, all on an entity
    // whose projection is in a state the machine does not know; "b-ok" comes after it.
    let stuck = Uuid::now_v7();
    let mut p = queued(&b, &[intent(stuck, "a-stuck", ALICE, 1, create("s"))])
        .await
        .with_config(ProcessorConfig::default().with_batch_size(3));
    assert_eq!(p.process_pending().await.accepted, 1);
    b.execute(&format!(
        "UPDATE todo_projection SET state = 'Bogus' WHERE id = '{stuck}'"
    ))
    .await;
    let toggles: Vec<_> = (2..=7)
        .map(|seq| intent(stuck, "a-stuck", ALICE, seq, TodoEvent::Toggle))
        .collect();
    upload(p.store_mut(), ALICE, &toggles).await;
    let fine = Uuid::now_v7();
    upload(
        p.store_mut(),
        ALICE,
        &[
            intent(fine, "b-ok", ALICE, 1, create("f")),
            intent(fine, "b-ok", ALICE, 2, TodoEvent::Toggle),
        ],
    )
    .await;

    let tally = p.process_pending().await;
    assert_eq!(tally.accepted, 2, "{:?}", tally.failures);
    assert!(
        tally
            .failures
            .iter()
            .any(|f| matches!(f, ProcessError::Decide(DecideError::UnknownState { entity, .. }) if *entity == stuck)),
        "{:?}",
        tally.failures
    );
    assert_eq!(ack(p.store_mut(), "b-ok").await, 2);
    assert_eq!(
        scalar(&b, PENDING).await,
        6,
        "the stuck client's intents wait, kept"
    );
    // And the run ends: nothing decidable is left.
    assert_eq!(p.process_pending().await.decided(), 0);
}

pub async fn an_unreadable_projection_stops_its_entity_not_the_batch<B: Backend>(b: B) {
    let (e1, e2) = (Uuid::now_v7(), Uuid::now_v7());
    let mut p = queued(
        &b,
        &[
            intent(e1, "c1", ALICE, 1, create("a")),
            intent(e2, "c2", ALICE, 1, create("b")),
        ],
    )
    .await;
    assert_eq!(p.process_pending().await.accepted, 2);
    // A projection row the library never writes: a negative version.
    b.execute(&format!(
        "UPDATE todo_projection SET version = -1 WHERE id = '{e1}'"
    ))
    .await;
    upload(
        p.store_mut(),
        ALICE,
        &[
            intent(e1, "c1", ALICE, 2, TodoEvent::Toggle),
            intent(e2, "c2", ALICE, 2, TodoEvent::Toggle),
        ],
    )
    .await;
    let tally = p.process_pending().await;
    assert_eq!(tally.accepted, 1, "{:?}", tally.failures);
    assert!(
        tally.failures.iter().any(|f| matches!(
            f,
            ProcessError::Decide(DecideError::UnreadableProjection { entity, .. }) if *entity == e1
        )),
        "{:?}",
        tally.failures
    );
    assert_eq!(
        (
            ack(p.store_mut(), "c1").await,
            ack(p.store_mut(), "c2").await
        ),
        (1, 2)
    );
    assert_eq!(scalar(&b, PENDING).await, 1, "kept");
}

/// A restored or cloned device reuses a decided sequence number for a new intent: refused
/// as taken (never counted as a duplicate and dropped), and nothing of the upload is stored.
pub async fn another_intent_under_a_decided_sequence_number_is_refused_as_taken<B: Backend>(b: B) {
    let e = Uuid::now_v7();
    let first = intent(e, "c1", ALICE, 1, create("a"));
    // Created once, so creating again is rejected: one archived, one rejected.
    let second = intent(e, "c1", ALICE, 2, create("again"));
    let mut p = queued(&b, &[first.clone(), second.clone()]).await;
    let tally = p.process_pending().await;
    assert_eq!(
        (tally.accepted, tally.rejected),
        (1, 1),
        "{:?}",
        tally.failures
    );
    for decided in [&first, &second] {
        let reused = intent(e, "c1", ALICE, decided.seq, TodoEvent::Toggle);
        match ingest(p.store_mut(), ALICE, std::slice::from_ref(&reused)).await {
            Err(IngestError::SequenceTaken {
                client_id,
                seq,
                intent_id,
                stored_intent_id,
            }) => assert_eq!(
                (client_id.as_str(), seq, intent_id, stored_intent_id),
                ("c1", decided.seq, reused.id, decided.id)
            ),
            other => panic!("{other:?}"),
        }
    }
    // The same intents again are still duplicates; nothing was queued.
    let again = upload(p.store_mut(), ALICE, &[first, second]).await;
    assert_eq!((again.inserted, again.duplicates), (0, 2));
    assert_eq!(scalar(&b, PENDING).await, 0);
}

/// The `decided` column of an entity's projection row in the server's database, as JSON.
async fn decided_of<B: Backend>(b: &B, entity: Uuid) -> Option<serde_json::Value> {
    let rows = b
        .query(&format!(
            "SELECT decided FROM todo_projection WHERE id = '{entity}'"
        ))
        .await;
    rows.into_iter().next().map(|row| match &row[0] {
        SqlValue::Text(text) => serde_json::from_str(text).expect("decided is JSON"),
        other => panic!("decided reads as {other:?}"),
    })
}

/// Issue #10 item 6: a projection row records every decision on its entity (accepted and
/// rejected, by client) in the decision's transaction; a rejected creation writes no row;
/// `rebuild_projections` recomputes the column from the archived and rejected intents.
pub async fn projection_rows_record_their_decisions_and_a_rebuild_keeps_them<B: Backend>(b: B) {
    let (e1, e2) = (Uuid::now_v7(), Uuid::now_v7());
    let mut p = queued(
        &b,
        &[
            intent(e1, "c1", ALICE, 1, create("one")),
            // Created already: rejected, on an entity with a row.
            intent(e1, "c1", ALICE, 2, create("again")),
            // Not created: a rejected creation, no row.
            intent(e2, "c1", ALICE, 3, TodoEvent::Toggle),
        ],
    )
    .await;
    let first = p.process_pending().await;
    assert_eq!((first.accepted, first.rejected), (1, 2));
    let expected = serde_json::json!({"c1": {"through": 2, "rejected": [2]}});
    assert_eq!(decided_of(&b, e1).await, Some(expected));
    assert_eq!(decided_of(&b, e2).await, None);

    // Another client's acceptance keeps the first client's decisions.
    upload(
        p.store_mut(),
        ALICE,
        &[intent(e1, "c2", ALICE, 1, TodoEvent::Toggle)],
    )
    .await;
    assert_eq!(p.process_pending().await.accepted, 1);
    let expected = serde_json::json!({
        "c1": {"through": 2, "rejected": [2]},
        "c2": {"through": 1, "rejected": []},
    });
    assert_eq!(decided_of(&b, e1).await, Some(expected.clone()));

    // A rejection alone rewrites the row: same state and version, one more decision.
    const HEAD: &str = "SELECT state, version, owner_id FROM todo_projection";
    let head = b.query(HEAD).await;
    upload(
        p.store_mut(),
        ALICE,
        &[intent(e1, "c2", ALICE, 2, create("again"))],
    )
    .await;
    assert_eq!(p.process_pending().await.rejected, 1);
    assert_eq!(b.query(HEAD).await, head);
    let expected = serde_json::json!({
        "c1": {"through": 2, "rejected": [2]},
        "c2": {"through": 2, "rejected": [2]},
    });
    assert_eq!(decided_of(&b, e1).await, Some(expected.clone()));

    // Lost (or written before the column existed): the rebuild recomputes it.
    b.execute("UPDATE todo_projection SET decided = '{}'").await;
    assert_eq!(p.rebuild_projections().await.expect("rebuild"), 1);
    assert_eq!(decided_of(&b, e1).await, Some(expected));
    assert_eq!(decided_of(&b, e2).await, None);
}
