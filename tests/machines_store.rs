//! The machine structure through both server stores: compound states stored by path, an
//! `always` transition, entry/exit actions, a guard list with `not(..)` and a server-only
//! guard, decided by the `EventProcessor` on a SQLite file and on PostgreSQL
//! (`SAI_TEST_POSTGRES_URL`; skipped when unset).

use sai::server::{EventProcessor, PostgresStore, ServerStore, SqliteStore, ingest};
use sai::{Domain, Event, Intent, IntentMeta, RawIntent, Uuid, machine};
use serde::{Deserialize, Serialize};

#[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[domain(name = "deck", machine = DeckMachine)]
struct Deck {
    position: i64,
    trace: String,
}

#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
enum DeckEvent {
    Load { broken: bool },
    Play,
    Tick { seconds: i64 },
    Eject,
}

fn mark(d: &mut Deck, what: &str) {
    d.trace.push_str(what);
    d.trace.push(' ');
}
fn spin_up(d: &mut Deck, _: &DeckEvent, _: &IntentMeta) {
    mark(d, "spin-up");
}
fn spin_down(d: &mut Deck, _: &DeckEvent, _: &IntentMeta) {
    mark(d, "spin-down");
}
fn rewind(d: &mut Deck, _: &DeckEvent, _: &IntentMeta) {
    d.position = 0;
    mark(d, "rewind");
}
fn tick(d: &mut Deck, e: &DeckEvent, _: &IntentMeta) {
    if let DeckEvent::Tick { seconds } = e {
        d.position += seconds;
    }
}
fn broken(_: &Deck, e: &DeckEvent, _: &IntentMeta) -> bool {
    matches!(e, DeckEvent::Load { broken: true })
}
fn forward(_: &Deck, e: &DeckEvent, _: &IntentMeta) -> bool {
    matches!(e, DeckEvent::Tick { seconds } if *seconds > 0)
}
fn short(_: &Deck, e: &DeckEvent, _: &IntentMeta) -> bool {
    matches!(e, DeckEvent::Tick { seconds } if *seconds <= 100)
}
fn at_end(d: &Deck, _: &DeckEvent, _: &IntentMeta) -> bool {
    d.position >= 180
}

#[machine(domain = Deck, event = DeckEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DeckMachine {
    #[initial]
    #[on(Load => Loaded, guard = not(broken), reason = "the tape is broken")]
    Empty,
    #[entry(spin_up)]
    #[exit(spin_down)]
    #[on(Eject => Empty, assign = rewind)]
    Loaded,
    #[parent(Loaded)]
    #[initial]
    #[on(Play => Playing)]
    Paused,
    #[parent(Loaded)]
    #[on(Tick, guard = forward, server_guard = short, reason = "a tick is at most 100 s", assign = tick)]
    #[always(Paused, guard = at_end, assign = rewind)]
    Playing,
}

fn intents(entity: Uuid) -> Vec<RawIntent> {
    let events = [
        DeckEvent::Load { broken: true },
        DeckEvent::Load { broken: false },
        DeckEvent::Play,
        DeckEvent::Tick { seconds: 120 },
        DeckEvent::Tick { seconds: 90 },
        DeckEvent::Tick { seconds: 95 },
        DeckEvent::Play,
    ];
    (1..)
        .zip(events)
        .map(|(seq, event)| {
            Intent::new(entity, "c1", "alice", seq, event, 1_700_000_000_000)
                .to_raw()
                .expect("encode")
        })
        .collect()
}

async fn decide_on<S: ServerStore<Domain = Deck>>(mut store: S) {
    store.migrate().await.expect("migrate");
    let entity = Uuid::now_v7();
    ingest(&mut store, "alice", &intents(entity))
        .await
        .expect("ingest");
    let mut p = EventProcessor::new(store);
    let tally = p.process_pending().await;
    // A broken tape (not(broken)) and a 120 s tick (the server-only guard) are rejected.
    assert_eq!((tally.accepted, tally.rejected, tally.errors), (5, 2, 0));
    let projection = p
        .store_mut()
        .projection(entity)
        .await
        .expect("read")
        .expect("projected");
    let deck = Deck::from_row(projection.fields).expect("decode");
    // 90 + 95 reached the end: `always` rewound to Paused inside Loaded, which was not
    // exited; the last Play entered Playing again. The state is stored by its path.
    assert_eq!(
        (projection.state.as_str(), projection.version),
        ("Loaded.Playing", 5)
    );
    assert_eq!((deck.position, deck.trace.as_str()), (0, "spin-up rewind "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_decides_nested_always_and_server_guards() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::<Deck>::open(dir.path().join("server.db")).expect("open");
    decide_on(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_decides_nested_always_and_server_guards() {
    let Some(url) = sai_suite::postgres::url() else {
        return;
    };
    let (_admin, schema) = sai_suite::postgres::fresh_schema(&url, "machines_store").await;
    let store = PostgresStore::<Deck>::connect_in_schema(&url, &schema)
        .await
        .expect("connect");
    decide_on(store).await;
}
