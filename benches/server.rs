//! Intents decided per second by the server runtime, on SQLite and on PostgreSQL, beside the
//! floor: the same writes done set-based by hand, with no machine, no claiming and no
//! decoding. The same writes include the change-log stamps (downloads find rows by them).
//!
//! `cargo bench --bench server`. The PostgreSQL part runs when `SAI_TEST_POSTGRES_URL` is
//! set and is skipped otherwise. Each sample decides a freshly queued workload (clients of
//! 100 intents over 4 entities each); only the deciding is timed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use sai::server::{
    EventProcessor, PostgresStore, ProcessorConfig, ServerStore, SqliteStore, ingest,
};
use sai::{Intent, RawIntent, Uuid};
use sai_suite::{Todo, TodoEvent};
use tokio::runtime::Runtime;

const USER: &str = "bench";
const PER_CLIENT: usize = 100;
const ENTITIES_PER_CLIENT: usize = 4;

/// `n` intents: each client creates its entities, then toggles, labels, renames and estimates.
fn workload(n: usize) -> Vec<RawIntent> {
    let mut out = Vec::with_capacity(n);
    for c in 0..n.div_ceil(PER_CLIENT) {
        let client = format!("bench-client-{c}");
        let entities: Vec<Uuid> = (0..ENTITIES_PER_CLIENT).map(|_| Uuid::now_v7()).collect();
        for i in 0..PER_CLIENT.min(n - out.len()) {
            let event = if i < ENTITIES_PER_CLIENT {
                TodoEvent::Create {
                    title: format!("todo {i}"),
                }
            } else {
                match i % 4 {
                    0 => TodoEvent::Toggle,
                    1 => TodoEvent::Label {
                        label: format!("l{i}"),
                    },
                    2 => TodoEvent::Rename {
                        title: format!("renamed {i}"),
                    },
                    _ => TodoEvent::Estimate { hours: Some(2.5) },
                }
            };
            let entity = entities[i % ENTITIES_PER_CLIENT];
            let intent = Intent::new(entity, client.clone(), USER, i as u64 + 1, event, 0);
            out.push(intent.to_raw().expect("encode"));
        }
    }
    out
}

fn config(batch: usize) -> ProcessorConfig {
    ProcessorConfig::default().with_batch_size(batch)
}

fn sqlite(c: &mut Criterion, rt: &Runtime) {
    let mut group = c.benchmark_group("server/sqlite");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    for (batch, n) in [(1, 200), (100, 20_000), (1_000, 20_000)] {
        let intents = workload(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("decide", format!("batch={batch}")), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().expect("temp dir");
                    timed += rt.block_on(async {
                        let mut store =
                            SqliteStore::<Todo>::open(dir.path().join("s.db")).expect("open");
                        store.migrate().await.expect("migrate");
                        ingest(&mut store, USER, &intents).await.expect("ingest");
                        let mut p = EventProcessor::new(store).with_config(config(batch));
                        let start = Instant::now();
                        let tally = p.process_pending().await;
                        let elapsed = start.elapsed();
                        assert_eq!(tally.decided(), n, "{:?}", tally.failures.first());
                        elapsed
                    });
                }
                timed
            });
        });
    }
    // The floor: the same rows moved set-based in one transaction per 1,000 intents.
    let n = 20_000;
    let intents = workload(n);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(BenchmarkId::new("floor", "batch=1000"), |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("s.db");
                rt.block_on(async {
                    let mut store = SqliteStore::<Todo>::open(&path).expect("open");
                    store.migrate().await.expect("migrate");
                    ingest(&mut store, USER, &intents).await.expect("ingest");
                });
                let mut conn = rusqlite::Connection::open(&path).expect("open");
                conn.execute_batch(SQLITE_FLOOR_SETUP).expect("setup");
                let start = Instant::now();
                let mut moved = 0;
                loop {
                    let tx = conn.transaction().expect("begin");
                    tx.execute_batch(SQLITE_FLOOR_BATCH).expect("floor batch");
                    let k: i64 = tx
                        .query_row("SELECT COUNT(*) FROM batch", [], |r| r.get(0))
                        .expect("count");
                    tx.commit().expect("commit");
                    if k == 0 {
                        break;
                    }
                    moved += k as usize;
                }
                timed += start.elapsed();
                assert_eq!(moved, n);
            }
            timed
        });
    });
    group.finish();
}

const SQLITE_FLOOR_SETUP: &str =
    "CREATE TEMP TABLE batch AS SELECT * FROM todo_intent_events WHERE 0;";

const SQLITE_FLOOR_BATCH: &str = "
DELETE FROM batch;
INSERT INTO batch SELECT * FROM todo_intent_events ORDER BY client_id, seq LIMIT 1000;
INSERT INTO todo_intent_events_processed (id, entity_id, client_id, user_id, seq, event_type,
    event_version, payload, created_at, state, version, context, processed_at)
  SELECT id, entity_id, client_id, user_id, seq, event_type, event_version, payload, created_at,
    'Active', seq, payload, 0 FROM batch;
INSERT INTO todo_projection (id, state, version, owner_id, title, completed, estimate, labels,
    priority_level, updated_at)
  SELECT entity_id, 'Active', MAX(seq), user_id, MAX(payload), 0, NULL, '[]', 0, 0 FROM batch
  WHERE true GROUP BY entity_id
  ON CONFLICT (id) DO UPDATE SET state = excluded.state, version = excluded.version,
    title = excluded.title, updated_at = excluded.updated_at;
UPDATE todo_client_acks SET last_seq = (SELECT MAX(seq) FROM batch WHERE client_id = todo_client_acks.id)
  WHERE id IN (SELECT client_id FROM batch);
INSERT INTO todo_changes (id, pos, user_id, tbl, row_id, removed)
  SELECT 'todo_projection/' || r.id, m.base + ROW_NUMBER() OVER (ORDER BY r.id), r.owner_id,
    'todo_projection', r.id, 0
  FROM todo_projection r CROSS JOIN (SELECT COALESCE(MAX(pos), 0) AS base FROM todo_changes) m
  WHERE r.id IN (SELECT entity_id FROM batch)
  ON CONFLICT (id) DO UPDATE SET pos = excluded.pos, user_id = excluded.user_id, removed = 0;
INSERT INTO todo_changes (id, pos, user_id, tbl, row_id, removed)
  SELECT 'todo_client_acks/' || r.id, m.base + ROW_NUMBER() OVER (ORDER BY r.id), r.user_id,
    'todo_client_acks', r.id, 0
  FROM todo_client_acks r CROSS JOIN (SELECT COALESCE(MAX(pos), 0) AS base FROM todo_changes) m
  WHERE r.id IN (SELECT client_id FROM batch)
  ON CONFLICT (id) DO UPDATE SET pos = excluded.pos, user_id = excluded.user_id, removed = 0;
DELETE FROM todo_intent_events WHERE id IN (SELECT id FROM batch);
";

/// The floor on PostgreSQL: one statement per 1,000 intents, rows split between workers by
/// `SKIP LOCKED` (no per-entity claim, no machine, no decoding), then the change-log stamps
/// of [`PG_FLOOR_STAMPS`] in the same transaction.
const PG_FLOOR_BATCH: &str = "
WITH d AS (
  DELETE FROM todo_intent_events WHERE id IN (
    SELECT id FROM todo_intent_events ORDER BY client_id, seq LIMIT 1000 FOR UPDATE SKIP LOCKED)
  RETURNING *),
a AS (
  INSERT INTO todo_intent_events_processed (id, entity_id, client_id, user_id, seq, event_type,
      event_version, payload, created_at, state, version, context, processed_at)
  SELECT id, entity_id, client_id, user_id, seq, event_type, event_version, payload, created_at,
      'Active', seq, payload, 0 FROM d),
p AS (
  INSERT INTO todo_projection (id, state, version, owner_id, title, completed, estimate, labels,
      priority_level, updated_at)
  SELECT DISTINCT ON (entity_id) entity_id, 'Active', seq, user_id, payload, 0, NULL, '[]', 0, 0
  FROM d ORDER BY entity_id, seq DESC
  ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, version = EXCLUDED.version,
      title = EXCLUDED.title, updated_at = EXCLUDED.updated_at),
k AS (
  UPDATE todo_client_acks c SET last_seq = m.s, updated_at = 0
  FROM (SELECT client_id, MAX(seq) AS s FROM d GROUP BY client_id) m WHERE c.id = m.client_id)
SELECT COUNT(*), array_agg(DISTINCT entity_id), array_agg(DISTINCT client_id) FROM d";

/// The floor's change-log stamps, as the runtime writes them after each batch: downloads
/// are found by position in this log, so it is part of the durable work a decision does.
/// Under the log's lock (positions in commit order); `$1` the projections', `$2` the clients'
/// acknowledgements' ids.
const PG_FLOOR_STAMPS: [&str; 3] = [
    "LOCK TABLE todo_changes IN EXCLUSIVE MODE",
    "INSERT INTO todo_changes (id, pos, user_id, tbl, row_id, removed) \
     SELECT 'todo_projection/' || r.id, m.base + ROW_NUMBER() OVER (ORDER BY r.id), \
       r.owner_id, 'todo_projection', r.id, 0 \
     FROM todo_projection r CROSS JOIN (SELECT COALESCE(MAX(pos), 0) AS base FROM todo_changes) m \
     WHERE r.id = ANY($1::text[]) \
     ON CONFLICT (id) DO UPDATE SET pos = excluded.pos, user_id = excluded.user_id, removed = 0",
    "INSERT INTO todo_changes (id, pos, user_id, tbl, row_id, removed) \
     SELECT 'todo_client_acks/' || r.id, m.base + ROW_NUMBER() OVER (ORDER BY r.id), \
       r.user_id, 'todo_client_acks', r.id, 0 \
     FROM todo_client_acks r CROSS JOIN (SELECT COALESCE(MAX(pos), 0) AS base FROM todo_changes) m \
     WHERE r.id = ANY($1::text[]) \
     ON CONFLICT (id) DO UPDATE SET pos = excluded.pos, user_id = excluded.user_id, removed = 0",
];

/// One floor transaction: the batch, then its stamps. The number of intents moved, or
/// `None` when the two writers deadlocked (rolled back, to be retried as the runtime would).
async fn pg_floor_batch(client: &tokio_postgres::Client) -> Option<usize> {
    let run = async {
        client.batch_execute("BEGIN").await?;
        let row = client.query_one(PG_FLOOR_BATCH, &[]).await?;
        let k: i64 = row.get(0);
        if k > 0 {
            let entities: Vec<String> = row.get(1);
            let clients: Vec<String> = row.get(2);
            client.batch_execute(PG_FLOOR_STAMPS[0]).await?;
            client.execute(PG_FLOOR_STAMPS[1], &[&entities]).await?;
            client.execute(PG_FLOOR_STAMPS[2], &[&clients]).await?;
        }
        client.batch_execute("COMMIT").await?;
        Ok::<_, tokio_postgres::Error>(k as usize)
    };
    match run.await {
        Ok(k) => Some(k),
        Err(_) => {
            client.batch_execute("ROLLBACK").await.expect("rollback");
            None
        }
    }
}

async fn pg_connect(url: &str, schema: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("SET search_path TO {schema}"))
        .await
        .expect("search_path");
    client
}

const TRUNCATE: &str = "TRUNCATE todo_intent_events, todo_intent_events_processed, \
    todo_intent_events_rejected, todo_projection, todo_client_acks, todo_changes";

fn postgres(c: &mut Criterion, rt: &Runtime, url: &str) {
    let (admin, schema) = rt.block_on(sai_suite::postgres::fresh_schema(url, "bench"));
    let mut stores: Vec<Option<PostgresStore<Todo>>> = rt.block_on(async {
        let mut stores = Vec::new();
        for _ in 0..4 {
            let mut s = PostgresStore::<Todo>::connect_in_schema(url, &schema)
                .await
                .expect("connect");
            s.migrate().await.expect("migrate");
            stores.push(Some(s));
        }
        stores
    });
    let mut group = c.benchmark_group("server/postgres");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    for (batch, n) in [(1, 500), (100, 10_000), (1_000, 20_000)] {
        let intents = Arc::new(workload(n));
        group.throughput(Throughput::Elements(n as u64));
        for workers in [1, 2, 4] {
            let id = BenchmarkId::new("decide", format!("batch={batch}/workers={workers}"));
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        timed += rt.block_on(pg_decide_once(
                            &admin,
                            &mut stores,
                            &intents,
                            batch,
                            workers,
                        ));
                    }
                    timed
                });
            });
        }
    }
    let n = 20_000;
    let intents = Arc::new(workload(n));
    group.throughput(Throughput::Elements(n as u64));
    let floor_clients: Vec<tokio_postgres::Client> =
        rt.block_on(async { futures_join(url, &schema).await });
    let floor_clients = Arc::new(floor_clients);
    for workers in [1, 2] {
        group.bench_function(
            BenchmarkId::new("floor", format!("batch=1000/workers={workers}")),
            |b| {
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        timed += rt.block_on(pg_floor_once(
                            &admin,
                            &mut stores,
                            &floor_clients,
                            &intents,
                            workers,
                        ));
                    }
                    timed
                });
            },
        );
    }
    group.finish();
    rt.block_on(async {
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .expect("drop bench schema");
    });
}

async fn futures_join(url: &str, schema: &str) -> Vec<tokio_postgres::Client> {
    vec![pg_connect(url, schema).await, pg_connect(url, schema).await]
}

async fn queue(
    admin: &tokio_postgres::Client,
    store: &mut PostgresStore<Todo>,
    intents: &[RawIntent],
) {
    admin.batch_execute(TRUNCATE).await.expect("truncate");
    ingest(store, USER, intents).await.expect("ingest");
}

async fn pg_decide_once(
    admin: &tokio_postgres::Client,
    stores: &mut [Option<PostgresStore<Todo>>],
    intents: &Arc<Vec<RawIntent>>,
    batch: usize,
    workers: usize,
) -> Duration {
    queue(admin, stores[0].as_mut().expect("store"), intents).await;
    let n = intents.len();
    let decided = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut running = Vec::new();
    for slot in stores.iter_mut().take(workers) {
        let mut p = EventProcessor::new(slot.take().expect("store")).with_config(config(batch));
        let decided = Arc::clone(&decided);
        running.push(tokio::spawn(async move {
            while decided.load(Ordering::Relaxed) < n {
                let tally = p.process_batch(batch).await.expect("batch");
                decided.fetch_add(tally.decided(), Ordering::Relaxed);
                if tally.decided() == 0 {
                    // Another worker holds what is left.
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
            }
            p.into_store()
        }));
    }
    for (slot, task) in stores.iter_mut().zip(running) {
        *slot = Some(task.await.expect("worker"));
    }
    let elapsed = start.elapsed();
    assert_eq!(decided.load(Ordering::Relaxed), n);
    elapsed
}

async fn pg_floor_once(
    admin: &tokio_postgres::Client,
    stores: &mut [Option<PostgresStore<Todo>>],
    clients: &Arc<Vec<tokio_postgres::Client>>,
    intents: &Arc<Vec<RawIntent>>,
    workers: usize,
) -> Duration {
    queue(admin, stores[0].as_mut().expect("store"), intents).await;
    let n = intents.len();
    let moved = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut running = Vec::new();
    for w in 0..workers {
        let (clients, moved) = (Arc::clone(clients), Arc::clone(&moved));
        running.push(tokio::spawn(async move {
            while moved.load(Ordering::Relaxed) < n {
                // A deadlock between the two writers is retried, as the runtime would.
                if let Some(k) = pg_floor_batch(&clients[w]).await {
                    moved.fetch_add(k, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in running {
        task.await.expect("floor worker");
    }
    start.elapsed()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    sqlite(&mut c, &rt);
    match sai_suite::postgres::url() {
        Some(url) => postgres(&mut c, &rt, &url),
        None => eprintln!("server/postgres skipped: set SAI_TEST_POSTGRES_URL to run it"),
    }
    c.final_summary();
}
