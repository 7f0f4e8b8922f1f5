//! Client runtime benchmark: `send` latency and throughput in both durability modes against
//! the floor of a bare rusqlite insert of the same row, reconcile time by number of pending
//! intents, and open/restore time with 20,000 pending intents.
//!
//! Run with `cargo bench --bench client`. Besides criterion's estimates it prints p50/p99
//! latencies and throughput from its own timed loop (criterion reports means and medians).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rusqlite::{Connection, params};
use sai::client::{
    ClientIdentity, ClientStore, Durability, EventSourcedActor, IntentWriter, StoreOptions,
    prepare_connection,
};
use sai::{Event as _, Intent, Uuid};
use sai_suite::{Todo, TodoEvent};

/// `SAI_BENCH=send,reconcile,restore` (comma-separated) runs only those parts.
fn enabled(part: &str) -> bool {
    std::env::var("SAI_BENCH").map_or(true, |v| v.split(',').any(|p| p == part))
}

fn identity() -> ClientIdentity {
    ClientIdentity::new("bench-client", "bench-user")
}

fn store(path: &Path, durability: Durability) -> ClientStore {
    ClientStore::builder()
        .domain::<Todo>()
        .durability(durability)
        .open(path)
        .expect("open store")
}

/// The floor: the same durable writes as a send, by bare rusqlite, each send's in its own
/// transaction, on a connection with the same pragmas: the intent row inserted into the log
/// and the entity's optimistic row rewritten (a send keeps both in one transaction, so the
/// UI never reads a projection its log does not explain). `log_only` leaves the second write
/// out: the floor of an append to the log alone, printed beside it.
struct Floor {
    conn: Connection,
    entity: Uuid,
    seq: i64,
    log_only: bool,
}

impl Floor {
    fn new(path: &Path, durability: Durability, log_only: bool) -> Self {
        // Same table layout as the store's log, created by the store, then used bare.
        drop(store(path, durability));
        let conn = Connection::open(path).unwrap();
        prepare_connection(&conn, &StoreOptions::default().with_durability(durability)).unwrap();
        let entity = Uuid::now_v7();
        conn.execute(
            "INSERT INTO todo_projection_local (id, state, version, owner_id, updated_at, title, \
             completed, estimate, labels, priority_level) \
             VALUES (?1, 'Active', 1, 'bench-user', 0, 'bench', 0, NULL, '[]', 0)",
            [entity.to_string()],
        )
        .unwrap();
        Floor {
            conn,
            entity,
            seq: 0,
            log_only,
        }
    }

    fn insert(&mut self) {
        self.seq += 1;
        let intent = Intent::new(
            self.entity,
            "bench-client",
            "bench-user",
            self.seq as u64,
            TodoEvent::Toggle,
            0,
        );
        let payload = serde_json::to_string(&intent.event).unwrap();
        let tx = self.conn.transaction().unwrap();
        tx.prepare_cached(
            "INSERT INTO todo_intent_events_local (id, entity_id, client_id, user_id, seq, \
             event_type, event_version, payload, created_at, base_version) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .unwrap()
        .execute(params![
            intent.id.to_string(),
            intent.entity_id.to_string(),
            intent.client_id,
            intent.user_id,
            self.seq,
            intent.event.event_type(),
            intent.event_version,
            payload,
            intent.created_at,
            0i64,
        ])
        .unwrap();
        if !self.log_only {
            // Every column, as the send's overlay write rewrites the row.
            tx.prepare_cached(
                "UPDATE todo_projection_local SET state = 'Active', version = ?2, \
                 owner_id = 'bench-user', updated_at = ?3, title = 'bench', completed = ?4, \
                 estimate = NULL, labels = '[]', priority_level = 0 WHERE id = ?1",
            )
            .unwrap()
            .execute(params![
                intent.entity_id.to_string(),
                self.seq + 1,
                intent.created_at,
                self.seq % 2,
            ])
            .unwrap();
        }
        tx.commit().unwrap();
    }
}

fn created_actor(store: &ClientStore) -> EventSourcedActor<Todo> {
    let actor = EventSourcedActor::<Todo>::create(store, identity()).unwrap();
    actor
        .send(TodoEvent::Create {
            title: "bench".into(),
        })
        .unwrap();
    actor
}

fn label(d: Durability) -> &'static str {
    match d {
        Durability::Full => "durable",
        Durability::Normal => "normal",
    }
}

/// Times `n` calls one by one and prints p50, p99 and throughput.
fn percentiles(name: &str, n: usize, mut f: impl FnMut()) -> (Duration, f64) {
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        f();
        samples.push(t.elapsed());
    }
    let total = start.elapsed();
    samples.sort();
    let p50 = samples[n / 2];
    let p99 = samples[(n * 99 / 100).min(n - 1)];
    let per_sec = n as f64 / total.as_secs_f64();
    println!(
        "{name:<28} n={n:<6} p50={:>8.1}µs  p99={:>8.1}µs  throughput={per_sec:>8.0}/s",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
    (p50, per_sec)
}

fn send_vs_floor(c: &mut Criterion) {
    if !enabled("send") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    println!("\n== send vs floor (own timed loop) ==");
    for (durability, n) in [(Durability::Full, 3000), (Durability::Normal, 15000)] {
        let mode = label(durability);
        let s = store(&dir.path().join(format!("send-{mode}.db")), durability);
        let actor = created_actor(&s);
        let mut floor = Floor::new(
            &dir.path().join(format!("floor-{mode}.db")),
            durability,
            false,
        );
        let mut log_only = Floor::new(
            &dir.path().join(format!("log-only-{mode}.db")),
            durability,
            true,
        );
        // Interleave short runs so all three see the same machine load.
        let (mut send_tp, mut floor_tp, mut log_only_tp) = (vec![], vec![], vec![]);
        // Many short rounds, each timing the three back to back: a shared machine's load
        // moves within seconds, so a round's ratios are taken between neighbours, and the
        // median round is reported with the spread (the noise) beside it.
        const ROUNDS: usize = 15;
        for round in 0..ROUNDS {
            let per_round = n / ROUNDS;
            let (_, t) = percentiles(&format!("floor/{mode} #{round}"), per_round, || {
                floor.insert()
            });
            floor_tp.push(t);
            let (_, t) = percentiles(&format!("log-only/{mode} #{round}"), per_round, || {
                log_only.insert()
            });
            log_only_tp.push(t);
            let (_, t) = percentiles(&format!("send/{mode} #{round}"), per_round, || {
                black_box(actor.send(TodoEvent::Toggle).unwrap());
            });
            send_tp.push(t);
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            (v[v.len() / 2], v[v.len() / 4], v[v.len() * 3 / 4])
        };
        let ratios =
            |floor: &[f64]| median(send_tp.iter().zip(floor).map(|(s, f)| s / f).collect());
        let ((to_floor, q1, q3), (to_log, l1, l3)) = (ratios(&floor_tp), ratios(&log_only_tp));
        println!(
            "send/{mode}: throughput {:.0}/s (median round); {to_floor:.2}x the floor's {:.0}/s \
             (log insert and overlay write; rounds' middle half {q1:.2}-{q3:.2}), \
             {to_log:.2}x the log insert alone's {:.0}/s ({l1:.2}-{l3:.2})",
            median(send_tp.clone()).0,
            median(floor_tp.clone()).0,
            median(log_only_tp.clone()).0,
        );

        let mut group = c.benchmark_group(format!("send_{mode}"));
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(4));
        group.bench_function("send", |b| {
            b.iter(|| black_box(actor.send(TodoEvent::Toggle).unwrap()))
        });
        group.bench_function("floor_insert", |b| b.iter(|| floor.insert()));
        group.finish();
    }
}

/// A store with one entity and `n` pending intents (written in one transaction for speed).
fn pending_store(path: &Path, n: usize) -> (ClientStore, Uuid) {
    let s = store(path, Durability::Full);
    let actor = created_actor(&s);
    let writer = IntentWriter::<Todo>::new(identity());
    s.transaction(|tx| {
        for _ in 1..n {
            writer.write(tx, actor.entity_id(), TodoEvent::Toggle)?;
        }
        Ok::<_, sai::client::SendError>(())
    })
    .unwrap();
    (s, actor.entity_id())
}

/// How the server data of a reconcile bench round arrives.
#[derive(Clone, Copy, PartialEq)]
enum Arrival {
    /// Through the store's sync entry point, which keeps the decoded logs.
    Store,
    /// Through the store's raw access, which drops them.
    Raw,
    /// Committed by another connection to the file, as PowerSync's downloads are: the
    /// decoded logs and SQLite's page cache of the store's connection are both dropped.
    Foreign,
}

/// Bumps the synced server projection, so that the next reconcile has new data to replay on.
fn server_moves(s: &ClientStore, path: &Path, entity: Uuid, version: i64, arrival: Arrival) {
    let write = |c: &Connection| {
        c.execute(
            "INSERT OR REPLACE INTO todo_projection (id, state, version, owner_id, updated_at, \
             title, completed, estimate, labels, priority_level) \
             VALUES (?1, 'Active', ?2, 'bench-user', 0, 'server', 0, NULL, '[]', 0)",
            params![entity.to_string(), version],
        )
        .map(drop)
    };
    match arrival {
        Arrival::Store => s.write_server_data(|tx| write(tx)).unwrap(),
        Arrival::Raw => s.with_connection(|c| write(c)).unwrap(),
        Arrival::Foreign => write(&Connection::open(path).unwrap()).unwrap(),
    }
}

fn reconcile(c: &mut Criterion) {
    if !enabled("reconcile") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("reconcile");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    println!("\n== reconcile (own timed loop: server projection moved, N pending replayed) ==");
    for n in [10usize, 100, 1_000, 10_000] {
        let path = dir.path().join(format!("reconcile-{n}.db"));
        let (s, entity) = pending_store(&path, n);
        let actor = EventSourcedActor::<Todo>::open(&s, identity(), entity).unwrap();
        let mut version = 0;
        // warm: one entity, its decoded log cached; cold: the same with the log re-read
        // (the store's raw access dropped it); download: what runs after a download that
        // another connection committed (PowerSync's): every entity of the store, the log
        // re-read through a page cache SQLite dropped, nothing returned but a summary.
        for (kind, arrival) in [
            ("warm", Arrival::Store),
            ("cold", Arrival::Raw),
            ("download", Arrival::Foreign),
        ] {
            let mut timed = |iters: u64| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    version += 1;
                    server_moves(&s, &path, entity, version, arrival);
                    let t = Instant::now();
                    if arrival == Arrival::Foreign {
                        let summary = s.reconcile_all().unwrap();
                        total += t.elapsed();
                        assert_eq!(summary.domains[0].1.entities, 1);
                    } else {
                        let r = actor.reconcile().unwrap();
                        total += t.elapsed();
                        assert_eq!(r.pending.len(), n);
                    }
                }
                total
            };
            let total = timed(20);
            println!(
                "reconcile/{kind}/{n:<6} mean={:>8.2}ms",
                total.as_secs_f64() * 1e3 / 20.0
            );
            group.bench_with_input(BenchmarkId::new(kind, n), &n, |b, _| {
                b.iter_custom(&mut timed)
            });
        }
    }
    group.finish();
}

fn restore(c: &mut Criterion) {
    if !enabled("restore") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("restore.db");
    let (s, entity) = pending_store(&path, 20_000);
    drop(s);
    let open_and_restore = || {
        let s = store(&path, Durability::Full);
        let actor = EventSourcedActor::<Todo>::open(&s, identity(), entity).unwrap();
        black_box(actor.projection().unwrap());
    };
    println!("\n== open + restore with 20,000 pending (own timed loop) ==");
    percentiles("restore/20000", 10, open_and_restore);
    let mut group = c.benchmark_group("restore");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("open_20000_pending", |b| b.iter(open_and_restore));
    group.finish();
}

criterion_group!(benches, send_vs_floor, reconcile, restore);
criterion_main!(benches);
