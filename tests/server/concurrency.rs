//! Four workers share one queue while clients keep uploading (with re-uploads and
//! out-of-order chunks): every intent is decided exactly once and every projection equals a
//! sequential replay of its archive.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use sai::server::{EventProcessor, ProcessorConfig, ServerStore, Tally, ingest, shutdown};
use sai::{Domain as _, Machine, Phase, RawIntent, Rejection, Snapshot, SqlValue, Uuid};
use sai_suite::{StrictTodoMachine, Todo, TodoEvent};

use crate::harness::{Backend, scalar};
use crate::support::{create, intent};

const CLIENTS: usize = 40;
const PER_CLIENT: u64 = 250;
const OWN: usize = 10;
const SHARED: usize = 20;
const WORKERS: usize = 4;

/// A small deterministic generator (no dependency needed for a fixed workload).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

struct Client {
    id: String,
    user: String,
    own: Vec<Uuid>,
    intents: Vec<RawIntent>,
}

fn workload() -> (Vec<Client>, Vec<Uuid>) {
    let mut rng = Lcg(0x5a1);
    let shared: Vec<Uuid> = (0..SHARED).map(|_| Uuid::now_v7()).collect();
    let clients = (0..CLIENTS)
        .map(|c| {
            let id = format!("client-{c:02}");
            let user = format!("user-{}", c % 8);
            let own: Vec<Uuid> = (0..OWN).map(|_| Uuid::now_v7()).collect();
            let mut intents = Vec::new();
            for seq in 1..=PER_CLIENT {
                let i = seq as usize - 1;
                let (entity, event) = if i < OWN {
                    let title = if c % 7 == 0 && i == OWN - 1 {
                        " ".into()
                    } else {
                        format!("{id}-{i}")
                    };
                    (own[i], create(&title))
                } else if rng.next(100) < 25 {
                    let e = shared[rng.next(SHARED as u64) as usize];
                    let event = match rng.next(4) {
                        0 => create(&format!("{id} was first")),
                        1 | 2 => TodoEvent::Toggle,
                        _ => TodoEvent::Label { label: id.clone() },
                    };
                    (e, event)
                } else {
                    let e = own[rng.next(OWN as u64) as usize];
                    let r = rng.next(100);
                    let event = match r {
                        0..30 => TodoEvent::Toggle,
                        30..45 => TodoEvent::Rename {
                            title: if r < 33 {
                                String::new()
                            } else {
                                format!("{id}-{seq}")
                            },
                        },
                        45..65 => TodoEvent::Label {
                            label: format!("l{}", rng.next(5)),
                        },
                        65..85 => TodoEvent::Estimate {
                            hours: Some(rng.next(80) as f64),
                        },
                        85..87 => TodoEvent::Delete,
                        87..89 => {
                            // A poison pill: an event type this build does not know.
                            let mut raw = intent(e, &id, &user, seq, TodoEvent::Toggle);
                            raw.event_type = "TELEPORT".into();
                            raw.payload = r#"{"type":"TELEPORT"}"#.into();
                            intents.push(raw);
                            continue;
                        }
                        _ => TodoEvent::Estimate { hours: None },
                    };
                    (e, event)
                };
                intents.push(intent(entity, &id, &user, seq, event));
            }
            Client {
                id,
                user,
                own,
                intents,
            }
        })
        .collect();
    (clients, shared)
}

async fn upload_all<S: ServerStore>(store: &mut S, clients: &[Client]) {
    let mut rng = Lcg(7);
    let mut cursor = vec![0usize; clients.len()];
    loop {
        let open: Vec<usize> = (0..clients.len())
            .filter(|&c| cursor[c] < clients[c].intents.len())
            .collect();
        if open.is_empty() {
            return;
        }
        let c = open[rng.next(open.len() as u64) as usize];
        let client = &clients[c];
        let end = (cursor[c] + 1 + rng.next(40) as usize).min(client.intents.len());
        let chunk = &client.intents[cursor[c]..end];
        let roll = rng.next(100);
        if roll < 15 && chunk.len() > 1 {
            // Second half first: the queue sees a gap until the first half arrives.
            let mid = chunk.len() / 2;
            ingest(store, &client.user, &chunk[mid..])
                .await
                .expect("upload");
            tokio::task::yield_now().await;
            ingest(store, &client.user, &chunk[..mid])
                .await
                .expect("upload");
        } else {
            ingest(store, &client.user, chunk).await.expect("upload");
        }
        if roll >= 90 {
            // The client did not see the answer and uploads again.
            let again = ingest(store, &client.user, chunk).await.expect("re-upload");
            assert_eq!(again.inserted, 0, "a re-upload stored nothing new");
        }
        cursor[c] = end;
    }
}

fn text(v: &SqlValue) -> String {
    match v {
        SqlValue::Text(s) => s.clone(),
        other => panic!("expected text, found {other:?}"),
    }
}

fn int(v: &SqlValue) -> i64 {
    match v {
        SqlValue::Integer(i) => *i,
        other => panic!("expected an integer, found {other:?}"),
    }
}

pub async fn four_workers_decide_each_intent_exactly_once<B: Backend>(b: B) {
    let (clients, shared) = workload();
    let total = clients.len() * PER_CLIENT as usize;
    assert!(total >= 10_000);

    let (stop, signal) = shutdown();
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let config = ProcessorConfig::default()
            .with_batch_size(64)
            .with_idle_wait(Duration::from_millis(5));
        let mut worker = EventProcessor::new(b.store().await)
            .with_machine::<StrictTodoMachine>()
            .with_config(config);
        let signal = signal.clone();
        workers.push(tokio::spawn(async move { worker.run(signal).await }));
    }

    let mut uploader = b.store().await;
    upload_all(&mut uploader, &clients).await;
    let decided_sql = "SELECT (SELECT COUNT(*) FROM todo_intent_events_processed) + \
                       (SELECT COUNT(*) FROM todo_intent_events_rejected)";
    for _ in 0..1200 {
        if scalar(&b, decided_sql).await as usize >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.stop();
    let mut tally = Tally::default();
    for w in workers {
        tally.merge(w.await.expect("worker"));
    }

    // Exactly once: every intent decided, none twice, nothing left pending.
    assert_eq!(
        tally.errors,
        0,
        "first failures: {:?}",
        &tally.failures[..tally.failures.len().min(3)]
    );
    assert_eq!(tally.decided(), total, "the workers' own counts");
    assert_eq!(scalar(&b, decided_sql).await as usize, total);
    let distinct = "SELECT COUNT(*) FROM (SELECT id FROM todo_intent_events_processed \
                    UNION SELECT id FROM todo_intent_events_rejected) AS t";
    assert_eq!(scalar(&b, distinct).await as usize, total);
    assert_eq!(
        scalar(&b, "SELECT COUNT(*) FROM todo_intent_events").await,
        0
    );
    let acks = b.query("SELECT id, last_seq FROM todo_client_acks").await;
    assert_eq!(acks.len(), CLIENTS);
    for row in &acks {
        assert_eq!(int(&row[1]), PER_CLIENT as i64, "ack of {}", text(&row[0]));
    }

    // Every entity's archive replays, step by step, to its snapshots and its projection:
    // no two workers ever decided one entity at once.
    let rows = b
        .query(
            "SELECT entity_id, version, id, client_id, user_id, seq, event_type, event_version, \
             payload, created_at, state, context FROM todo_intent_events_processed \
             ORDER BY entity_id, version",
        )
        .await;
    let mut archive: BTreeMap<Uuid, Vec<RawIntent>> = BTreeMap::new();
    let mut replayed: HashMap<Uuid, Snapshot<StrictTodoMachine>> = HashMap::new();
    for row in &rows {
        let entity = Uuid::parse_str(&text(&row[0])).expect("entity id");
        let raw = RawIntent {
            id: Uuid::parse_str(&text(&row[2])).expect("id"),
            entity_id: entity,
            client_id: text(&row[3]),
            user_id: text(&row[4]),
            seq: int(&row[5]) as u64,
            event_type: text(&row[6]),
            event_version: int(&row[7]) as u32,
            payload: text(&row[8]),
            created_at: int(&row[9]),
        };
        let snapshot = replayed.entry(entity).or_default();
        assert_eq!(
            int(&row[1]) as u64,
            snapshot.version + 1,
            "versions of {entity} have a gap or a repeat"
        );
        let decoded = raw.decode::<TodoEvent>().expect("archived intents decode");
        snapshot
            .apply(&decoded.event, &decoded.meta(Phase::Authoritative))
            .unwrap_or_else(|r| panic!("archived intent {} does not replay: {r}", raw.id));
        assert_eq!(text(&row[10]), snapshot.state.name());
        let context: Todo = serde_json::from_str(&text(&row[11])).expect("context");
        assert_eq!(context, snapshot.context);
        archive.entry(entity).or_default().push(raw);
    }
    let mut store = b.store().await;
    for (entity, snapshot) in &replayed {
        let p = store
            .projection(*entity)
            .await
            .expect("read")
            .expect("projection exists");
        assert_eq!(
            (p.state.as_str(), p.version),
            (snapshot.state.name(), snapshot.version)
        );
        assert_eq!(Todo::from_row(p.fields).expect("fields"), snapshot.context);
    }
    assert_eq!(
        scalar(&b, "SELECT COUNT(*) FROM todo_projection").await as usize,
        replayed.len()
    );

    // Entities written by one client only: the decisions are exactly those of a sequential
    // replay of that client's intents in sequence order.
    let rejected: HashMap<Uuid, String> = b
        .query("SELECT id, code FROM todo_intent_events_rejected")
        .await
        .iter()
        .map(|r| (Uuid::parse_str(&text(&r[0])).expect("id"), text(&r[1])))
        .collect();
    let shared: HashSet<Uuid> = shared.into_iter().collect();
    for client in &clients {
        let mut expected: HashMap<Uuid, (Snapshot<StrictTodoMachine>, Vec<Uuid>)> = HashMap::new();
        for raw in client
            .intents
            .iter()
            .filter(|i| !shared.contains(&i.entity_id))
        {
            let (snapshot, accepted) = expected.entry(raw.entity_id).or_default();
            let step = raw
                .decode::<TodoEvent>()
                .map_err(Rejection::from)
                .and_then(|i| snapshot.apply(&i.event, &i.meta(Phase::Authoritative)));
            match step {
                Ok(()) => accepted.push(raw.id),
                Err(r) => assert_eq!(
                    rejected.get(&raw.id).map(String::as_str),
                    Some(r.code()),
                    "intent {}",
                    raw.id
                ),
            }
        }
        for entity in &client.own {
            let (snapshot, accepted) = expected.remove(entity).unwrap_or_default();
            let archived: Vec<Uuid> = archive
                .get(entity)
                .map_or_else(Vec::new, |a| a.iter().map(|i| i.id).collect());
            assert_eq!(archived, accepted, "entity {entity} of {}", client.id);
            if snapshot.version > 0 {
                assert_eq!(replayed[entity], snapshot);
            }
        }
    }
}
