//! Load over HTTP, loopback only and bounded: 50 device tasks × 200 intents uploaded to 2
//! backend processes (each with one worker, so 2 workers) on PostgreSQL. Asserts that every
//! intent was decided exactly once; reports the throughput (intents uploaded and decided per
//! second) and the p50/p99 latency of one upload request (20 intents).
//!
//!     SAI_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo bench -p sai-http --bench http_load
//!
//! The floor, measured in the same run: the same uploads (50 tasks, 10 × 20 intents each)
//! handed to `sai::server::ingest` directly on as many PostgreSQL connections as the two
//! backends hold (8), with no HTTP, JSON, JWT or device store in between.
//!
//! A one-shot harness rather than criterion's sampling: the run is the measurement (10,000
//! intents through the whole system), and repeating it would measure a growing database.
//! The backends are this binary again, started with `SAI_HTTP_BENCH_CHILD=backend`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sai::client::{ClientIdentity, ClientStore, EventSourcedActor};
use sai::prelude::*;
use sai::server::{EventProcessor, PostgresStore, ProcessorConfig, shutdown, wakeup};
use sai_http::{HttpDevice, JwtVerifier, SyncBackend, serve};
use sai_suite::{StrictTodoMachine, Todo, TodoEvent, create};

const DEVICES: usize = 50;
const INTENTS_PER_DEVICE: usize = 200;
/// Intents written between two uploads: 10 uploads per device.
const PER_UPLOAD: usize = 20;
const SECRET: &[u8] = b"bench-secret";
const AUDIENCE: &str = "sai-bench";

fn main() {
    if std::env::var("SAI_HTTP_BENCH_CHILD").is_ok() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(backend());
        return;
    }
    // `cargo test --benches` runs benches with `--test`: only check that it starts.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let Some(url) = sai_suite::postgres::url() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = runtime.block_on(load(url.clone()));
    let floor = runtime.block_on(floor(url));
    println!(
        "  floor (ingest directly, 8 connections): {:.0} intents/s, p99 {:.1} ms per 20; HTTP path reaches {:.0}% of it",
        floor.0,
        floor.1.as_secs_f64() * 1e3,
        100.0 * http / floor.0
    );
}

/// The floor: the same uploads straight into `ingest`; (intents/s, p99 per upload).
async fn floor(url: String) -> (f64, Duration) {
    use sai::server::ingest;
    use std::sync::Arc;
    let (_admin, schema) = sai_suite::postgres::fresh_schema(&url, "http_floor").await;
    let mut stores = Vec::new();
    for _ in 0..8 {
        stores.push(tokio::sync::Mutex::new(
            PostgresStore::<Todo>::connect_in_schema(&url, &schema)
                .await
                .unwrap(),
        ));
    }
    stores[0].lock().await.migrate().await.unwrap();
    let stores = Arc::new(stores);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for d in 0..DEVICES {
        let stores = Arc::clone(&stores);
        tasks.push(tokio::spawn(async move {
            let user = format!("user-{d}");
            let client = format!("device-{d}");
            let mut seq = 0;
            let mut latencies = Vec::new();
            for _ in 0..INTENTS_PER_DEVICE / PER_UPLOAD {
                let batch: Vec<_> = (0..PER_UPLOAD)
                    .map(|_| {
                        seq += 1;
                        Intent::new(Uuid::now_v7(), &client, &user, seq, create("load"), 0)
                            .to_raw()
                            .unwrap()
                    })
                    .collect();
                let t = Instant::now();
                let mut store = stores[d % stores.len()].lock().await;
                let report = ingest(&mut *store, &user, &batch).await.unwrap();
                drop(store);
                latencies.push(t.elapsed());
                assert_eq!(report.inserted, PER_UPLOAD);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    latencies.sort();
    let p99 = latencies[(latencies.len() * 99).div_ceil(100) - 1];
    (
        (DEVICES * INTENTS_PER_DEVICE) as f64 / elapsed.as_secs_f64(),
        p99,
    )
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

async fn backend() {
    let (url, schema) = (var("PG_URL"), var("PG_SCHEMA"));
    let connect = || PostgresStore::<Todo>::connect_in_schema(&url, &schema);
    let (wake, waiter) = wakeup();
    let (_stop, signal) = shutdown();
    let mut worker = EventProcessor::new(connect().await.unwrap())
        .with_machine::<StrictTodoMachine>()
        .with_config(ProcessorConfig::default().with_idle_wait(Duration::from_millis(20)))
        .with_wakeup(waiter);
    tokio::spawn(async move { worker.run(signal).await });
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(connect().await.unwrap());
    }
    let backend = SyncBackend::new(
        stores,
        JwtVerifier::hs256(SECRET, AUDIENCE).expect("secret"),
    )
    .with_wakeup(wake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("listening on {}", listener.local_addr().unwrap());
    serve(listener, backend.router(), std::future::pending())
        .await
        .unwrap();
}

fn token(user: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({ "sub": user, "aud": AUDIENCE, "exp": exp }),
        &jsonwebtoken::EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap()
}

struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

/// The HTTP run; returns its upload throughput (intents/s).
async fn load(url: String) -> f64 {
    let (admin, schema) = sai_suite::postgres::fresh_schema(&url, "http_load").await;
    PostgresStore::<Todo>::connect_in_schema(&url, &schema)
        .await
        .unwrap()
        .migrate()
        .await
        .unwrap();
    let mut children = Children(Vec::new());
    let mut servers = Vec::new();
    for _ in 0..2 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env("SAI_HTTP_BENCH_CHILD", "backend")
            .env("PG_URL", &url)
            .env("PG_SCHEMA", &schema)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("backend ended").unwrap();
            if let Some(a) = line.strip_prefix("listening on ") {
                break a.to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        servers.push(format!("http://{addr}"));
        children.0.push(child);
    }

    let start = Instant::now();
    let mut tasks = Vec::new();
    for d in 0..DEVICES {
        let server = servers[d % servers.len()].clone();
        tasks.push(tokio::spawn(async move {
            let user = format!("user-{d}");
            let identity = ClientIdentity::new(format!("device-{d}"), &user);
            let store = ClientStore::builder()
                .domain::<Todo>()
                .open_in_memory()
                .unwrap();
            let device = HttpDevice::<Todo>::new(server, identity.clone(), token(&user));
            let mut latencies = Vec::new();
            for _ in 0..INTENTS_PER_DEVICE / PER_UPLOAD {
                for _ in 0..PER_UPLOAD / 2 {
                    let todo = EventSourcedActor::<Todo>::create(&store, identity.clone()).unwrap();
                    todo.send(create("load")).unwrap();
                    todo.send(TodoEvent::Toggle).unwrap();
                }
                let t = Instant::now();
                let summary = device.upload(&store).await.unwrap();
                latencies.push(t.elapsed());
                assert!(summary.completed.is_empty());
                // Bring the decisions down so the next upload sends only new intents.
                device.download(&store).await.unwrap();
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let uploaded_in = start.elapsed();
    let total = (DEVICES * INTENTS_PER_DEVICE) as i64;
    // Every intent decided: bounded wait for the workers to finish the queue.
    let decided_sql = "SELECT (SELECT count(*) FROM todo_intent_events_processed) \
                       + (SELECT count(*) FROM todo_intent_events_rejected)";
    for _ in 0..6000 {
        if count(&admin, decided_sql).await >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let decided_in = start.elapsed();
    let decided = count(&admin, decided_sql).await;
    let distinct = count(
        &admin,
        "SELECT count(DISTINCT id) FROM (SELECT id FROM todo_intent_events_processed \
         UNION ALL SELECT id FROM todo_intent_events_rejected) d",
    )
    .await;
    let queued = count(&admin, "SELECT count(*) FROM todo_intent_events").await;
    assert_eq!(
        (decided, distinct, queued),
        (total, total, 0),
        "every intent decided exactly once"
    );
    drop(children);

    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    println!(
        "http_load: {DEVICES} devices × {INTENTS_PER_DEVICE} intents = {total} over HTTP to 2 \
         backend processes with 1 worker each, PostgreSQL"
    );
    println!(
        "  uploaded in {:.2} s ({:.0} intents/s); all decided in {:.2} s ({:.0} intents/s), each exactly once",
        uploaded_in.as_secs_f64(),
        total as f64 / uploaded_in.as_secs_f64(),
        decided_in.as_secs_f64(),
        total as f64 / decided_in.as_secs_f64()
    );
    println!(
        "  upload request ({PER_UPLOAD} intents): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} requests)",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
        latencies.len()
    );
    total as f64 / uploaded_in.as_secs_f64()
}
