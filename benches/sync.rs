//! The full loop: intents per second from the client's `send` to the server's decision to the
//! client's acknowledgement (its log empty again), for 1 and 10 devices, over the embedded
//! loopback and — with `--features powersync` — over the PowerSync path (real `powersync`
//! clients, the in-process fake service, a SQLite server).
//!
//! `cargo bench --bench sync` (add `--features powersync` for the PowerSync path). Each device
//! sends `PER_DEVICE` intents on its own todo; only send → everything acknowledged is timed.
//! Devices commit with `synchronous=NORMAL` so the loop, not the fsync, is measured.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use sai::client::{ClientIdentity, ClientStore, Durability, EventSourcedActor};
use sai::server::{EventProcessor, SqliteStore};
use sai::sync::Loopback;
use sai_suite::{Todo, TodoEvent};
use tokio::runtime::Runtime;

const PER_DEVICE: usize = 50;

fn events() -> impl Iterator<Item = TodoEvent> {
    std::iter::once(TodoEvent::Create {
        title: "bench".into(),
    })
    .chain((1..PER_DEVICE).map(|i| TodoEvent::Label {
        label: format!("l{i}"),
    }))
}

async fn loopback_round(devices: usize) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let server = SqliteStore::<Todo>::open(dir.path().join("server.db")).unwrap();
    let mut sync = Loopback::new(EventProcessor::new(server)).await.unwrap();
    let stores: Vec<ClientStore> = (0..devices)
        .map(|d| {
            ClientStore::builder()
                .domain::<Todo>()
                .durability(Durability::Normal)
                .open(dir.path().join(format!("device-{d}.db")))
                .unwrap()
        })
        .collect();
    let start = Instant::now();
    for (d, store) in stores.iter().enumerate() {
        let todo = EventSourcedActor::<Todo>::create(
            store,
            ClientIdentity::new(format!("device-{d}"), format!("user-{d}")),
        )
        .unwrap();
        for e in events() {
            todo.send(e).unwrap();
        }
    }
    for (d, store) in stores.iter().enumerate() {
        sync.sync(store, &format!("user-{d}")).await.unwrap();
    }
    let elapsed = start.elapsed();
    for store in &stores {
        assert!(
            store.pending_intents::<Todo>().unwrap().is_empty(),
            "every intent acknowledged"
        );
    }
    elapsed
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let mut group = c.benchmark_group("loop");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for devices in [1, 10] {
        group.throughput(Throughput::Elements((devices * PER_DEVICE) as u64));
        group.bench_with_input(BenchmarkId::new("loopback", devices), &devices, |b, &n| {
            b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(loopback_round(n))).sum())
        });
        #[cfg(feature = "powersync")]
        group.bench_with_input(BenchmarkId::new("powersync", devices), &devices, |b, &n| {
            b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(powersync::round(n))).sum())
        });
    }
    group.finish();
}

#[cfg(feature = "powersync")]
mod powersync {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use sai::client::{ClientIdentity, EventSourcedActor};
    use sai_suite::Todo;
    use sai_suite::fake_powersync::FakeService;
    use sai_suite::powersync_app::{Device, Server, eventually};
    use tokio::sync::Mutex;

    pub async fn round(devices: usize) -> Duration {
        let dir = tempfile::tempdir().unwrap();
        let server = Arc::new(Mutex::new(
            Server::sqlite(&dir.path().join("server.db")).await,
        ));
        let service = FakeService::new("sai_todo");
        let mut all = Vec::new();
        for d in 0..devices {
            let device = Device::open(
                dir.path(),
                &format!("device-{d}.db"),
                &format!("user-{d}"),
                &server,
                &service,
            )
            .await;
            device.connect().await;
            all.push(device);
        }
        let start = Instant::now();
        for (d, device) in all.iter().enumerate() {
            let todo = EventSourcedActor::<Todo>::create(
                device.store(),
                ClientIdentity::new(format!("device-{d}"), format!("user-{d}")),
            )
            .unwrap();
            for e in super::events() {
                todo.send(e).unwrap();
            }
        }
        for device in &all {
            eventually("every intent acknowledged", || {
                device
                    .store()
                    .pending_intents::<Todo>()
                    .unwrap()
                    .is_empty()
                    .then_some(())
            })
            .await;
        }
        start.elapsed()
    }
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
