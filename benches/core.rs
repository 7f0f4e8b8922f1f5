//! The pure core: one step, replay of a long log, and decoding stored intents.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sai::{Intent, Phase, Snapshot, Uuid, replay};
use sai_suite::{TodoEvent, TodoMachine};

fn log(n: u64) -> Vec<Intent<TodoEvent>> {
    let entity = Uuid::now_v7();
    let mut intents = vec![Intent::new(
        entity,
        "c",
        "u",
        1,
        TodoEvent::Create { title: "t".into() },
        0,
    )];
    for seq in 2..=n {
        let event = match seq % 3 {
            0 => TodoEvent::Toggle,
            1 => TodoEvent::Rename {
                title: format!("title {seq}"),
            },
            _ => TodoEvent::Estimate {
                hours: Some(seq as f64),
            },
        };
        intents.push(Intent::new(entity, "c", "u", seq, event, seq as i64));
    }
    intents
}

fn core(c: &mut Criterion) {
    let intents = log(10_000);
    let active = Snapshot::<TodoMachine>::initial()
        .step_intent(&intents[0], Phase::Optimistic)
        .unwrap();
    let rename = &intents[3];

    let mut g = c.benchmark_group("core");
    g.throughput(Throughput::Elements(1));
    g.bench_function("apply one intent", |b| {
        b.iter_batched_ref(
            || active.clone(),
            |s| s.apply(&rename.event, &rename.meta(Phase::Optimistic)),
            BatchSize::SmallInput,
        )
    });
    let raw = rename.to_raw().unwrap();
    g.bench_function("decode one stored intent", |b| {
        b.iter(|| raw.decode::<TodoEvent>().unwrap())
    });

    g.throughput(Throughput::Elements(intents.len() as u64));
    g.bench_function("replay 10,000 intents", |b| {
        b.iter(|| {
            replay(
                Snapshot::<TodoMachine>::initial(),
                None,
                &intents,
                Phase::Authoritative,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, core);
criterion_main!(benches);
