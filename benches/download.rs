//! A download round as a user's rows grow: 1,000, 10,000 and 100,000 projections on a
//! SQLite server, with a fixed number of changes per round (`CHANGES` todos relabelled by
//! another device of the same user).
//!
//! - `incremental`: `Loopback::download` — the changes after the device's cursor, paged,
//!   written with the new cursor, then a reconcile. Should stay flat as the rows grow.
//! - `full` (the contrast, what a download did before the change cursor): every row of the
//!   user read from the server and the device's synced tables replaced with them.
//!
//! Only the download is timed; making the changes (upload, decide) is not.
//! `cargo bench --bench download`.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode};
use sai::client::{ClientIdentity, ClientStore, Durability, EventSourcedActor};
use sai::schema::{Schema, TableRole};
use sai::server::{EventProcessor, SqliteStore};
use sai::sync::{Loopback, replace_synced_rows, sqlite_rows_for_user};
use sai_suite::{Todo, TodoEvent, create};
use tokio::runtime::Runtime;

/// Changes made between two downloads.
const CHANGES: usize = 10;

struct Setup {
    _dir: tempfile::TempDir,
    sync: Loopback<Todo>,
    server: rusqlite::Connection,
    writer: ClientStore,
    todos: Vec<EventSourcedActor<Todo>>,
    incremental: ClientStore,
    full: ClientStore,
    round: usize,
}

fn device(dir: &std::path::Path, name: &str) -> ClientStore {
    ClientStore::builder()
        .domain::<Todo>()
        .durability(Durability::Normal)
        .open(dir.join(name))
        .unwrap()
}

/// A server holding `rows` projections of alice, and two devices that downloaded them.
async fn setup(rows: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let writer = device(dir.path(), "writer.db");
    let todos: Vec<_> = (0..CHANGES)
        .map(|_| {
            let todo =
                EventSourcedActor::<Todo>::create(&writer, ClientIdentity::new("writer", "alice"))
                    .unwrap();
            todo.send(create("changing")).unwrap();
            todo
        })
        .collect();
    {
        let store = SqliteStore::<Todo>::open(&path).unwrap();
        let mut sync = Loopback::new(EventProcessor::new(store)).await.unwrap();
        sync.sync(&writer, "alice").await.unwrap();
    }
    // The other rows: copies of a decided projection under new ids, then a fresh change log
    // (the migration fills it from the rows, as for a database from before the log: the
    // schema record must say so, or the migration's fast path skips the refill).
    let server = rusqlite::Connection::open(&path).unwrap();
    let projection = Schema::of::<Todo>()
        .tables()
        .iter()
        .find(|t| t.role == TableRole::Projection)
        .unwrap()
        .clone();
    let others: Vec<String> = projection.columns[1..]
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect();
    server
        .execute_batch(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {extra}) \
             INSERT INTO todo_projection (\"id\", {cols}) \
             SELECT printf('00000000-0000-7000-8000-%012d', i), {cols} FROM n, \
               (SELECT * FROM todo_projection LIMIT 1); \
             DELETE FROM todo_changes; \
             UPDATE sai_schema SET fingerprint = 'before the change log';",
            extra = rows - CHANGES,
            cols = others.join(", "),
        ))
        .unwrap();
    let store = SqliteStore::<Todo>::open(&path).unwrap();
    let mut sync = Loopback::new(EventProcessor::new(store)).await.unwrap();
    let (incremental, full) = (device(dir.path(), "inc.db"), device(dir.path(), "full.db"));
    sync.download(&incremental, "alice").await.unwrap();
    let schema = Schema::of::<Todo>();
    let all = sqlite_rows_for_user(&server, &schema, "alice").unwrap();
    assert!(all.len() > rows, "{} rows", all.len());
    full.apply_server_data(|tx| replace_synced_rows(tx, &schema, &all))
        .unwrap();
    // Both devices start from every row of the user, so a round differs only in the download.
    assert_eq!(
        incremental.projections::<Todo>().unwrap().len(),
        full.projections::<Todo>().unwrap().len(),
        "the incremental device holds all the user's rows"
    );
    Setup {
        _dir: dir,
        sync,
        server,
        writer,
        todos,
        incremental,
        full,
        round: 0,
    }
}

impl Setup {
    /// `CHANGES` todos relabelled, uploaded and decided (untimed).
    async fn change(&mut self) {
        self.round += 1;
        for todo in &self.todos {
            todo.send(TodoEvent::Label {
                label: format!("r{}", self.round),
            })
            .unwrap();
        }
        let report = self.sync.sync(&self.writer, "alice").await.unwrap();
        assert_eq!(report.decided.accepted, CHANGES);
    }

    async fn incremental_round(&mut self) -> Duration {
        self.change().await;
        let start = Instant::now();
        self.sync
            .download(&self.incremental, "alice")
            .await
            .unwrap();
        start.elapsed()
    }

    async fn full_round(&mut self) -> Duration {
        self.change().await;
        let schema = Schema::of::<Todo>();
        let start = Instant::now();
        let rows = sqlite_rows_for_user(&self.server, &schema, "alice").unwrap();
        self.full
            .apply_server_data(|tx| replace_synced_rows(tx, &schema, &rows))
            .unwrap();
        start.elapsed()
    }
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let mut group = c.benchmark_group("download_round");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for rows in [1_000, 10_000, 100_000] {
        let mut s = rt.block_on(setup(rows));
        group.bench_with_input(BenchmarkId::new("incremental", rows), &rows, |b, _| {
            b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(s.incremental_round())).sum())
        });
        group.bench_with_input(BenchmarkId::new("full", rows), &rows, |b, _| {
            b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(s.full_round())).sum())
        });
    }
    group.finish();
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
