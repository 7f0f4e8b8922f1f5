//! Prints what sai derives from the todo domain: the transition table, a Mermaid diagram,
//! a replayed trace with one rejection, and the generated SQLite and PostgreSQL DDL; then the
//! table, diagram, XState config and a trace of a small nested machine (compound states, entry/exit actions,
//! an `always` transition).
//!
//! Run it with `cargo run --example machine`.

use sai::prelude::*;
use sai::schema::{Dialect, Schema, Side};

// The todo domain: its entity, events and machines.
mod todo_domain;
use todo_domain::{Todo, TodoEvent, TodoMachine};

/// A media player: the nested machine this example prints after the todo machine.
#[derive(Domain, Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[domain(machine = PlayerMachine)]
struct Player {
    /// Seconds played.
    position: i64,
    /// What happened, in order.
    trace: String,
}

/// What a player is told.
#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
enum PlayerEvent {
    Load,
    Play,
    Pause,
    Tick { seconds: i64 },
    Eject,
}

fn mark(p: &mut Player, what: &str) {
    p.trace.push_str(what);
    p.trace.push(' ');
}
fn tick(p: &mut Player, e: &PlayerEvent, _: &IntentMeta) {
    if let PlayerEvent::Tick { seconds } = e {
        p.position += seconds;
    }
}
fn rewind(p: &mut Player, _: &PlayerEvent, _: &IntentMeta) {
    p.position = 0;
    mark(p, "rewind");
}
fn spin_up(p: &mut Player, _: &PlayerEvent, _: &IntentMeta) {
    mark(p, "spin-up");
}
fn spin_down(p: &mut Player, _: &PlayerEvent, _: &IntentMeta) {
    mark(p, "spin-down");
}
fn at_end(p: &Player, _: &PlayerEvent, _: &IntentMeta) -> bool {
    p.position >= 180
}

/// Empty, or loaded (a compound state: paused or playing).
#[machine(domain = Player, event = PlayerEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PlayerMachine {
    #[initial]
    #[on(Load => Loaded)]
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
    #[on(Pause => Paused)]
    #[on(Tick, assign = tick)]
    #[always(Paused, guard = at_end, assign = rewind)]
    Playing,
}

fn main() {
    println!("== transition table of {} ==\n", TodoMachine::NAME);
    print!("{}", TodoMachine::transition_table());

    println!("\n== Mermaid ==\n");
    print!("{}", TodoMachine::mermaid());

    println!("\n== replay ==\n");
    let entity = Uuid::now_v7();
    let events = [
        TodoEvent::Create {
            title: "Buy milk".into(),
        },
        TodoEvent::Rename {
            title: "   ".into(),
        },
        TodoEvent::Label {
            label: "errand".into(),
        },
        TodoEvent::Estimate { hours: Some(1.5) },
        TodoEvent::Toggle,
    ];
    let mut snapshot = Snapshot::<TodoMachine>::initial();
    for (seq, event) in (1..).zip(events) {
        let intent = Intent::new(entity, "client-1", "alice", seq, event, 1_700_000_000_000);
        let before = snapshot.state.name();
        match snapshot.apply(&intent.event, &intent.meta(Phase::Optimistic)) {
            Ok(()) => println!(
                "#{seq} {:<9} {before:>6} -> {:<6} v{} {:?}",
                intent.event.event_type(),
                snapshot.state.name(),
                snapshot.version,
                snapshot.context
            ),
            Err(rejection) => println!(
                "#{seq} {:<9} rejected [{}]: {rejection}",
                intent.event.event_type(),
                rejection.code()
            ),
        }
    }
    println!(
        "accepted events in {}: {:?}",
        snapshot.state.name(),
        snapshot.state.accepted_events()
    );

    let schema = Schema::of::<Todo>();
    println!("\n== SQLite DDL (client) ==\n");
    print!("{}", schema.ddl(Dialect::Sqlite, Side::Client));
    println!("\n== SQLite DDL (server) ==\n");
    print!("{}", schema.ddl(Dialect::Sqlite, Side::Server));
    println!("\n== PostgreSQL DDL (server) ==\n");
    print!("{}", schema.ddl(Dialect::Postgres, Side::Server));

    println!("\n== a nested machine: {} ==\n", PlayerMachine::NAME);
    print!("{}", PlayerMachine::transition_table());
    println!();
    print!("{}", PlayerMachine::mermaid());
    println!("\n== its XState v5 config (import it in Stately) ==\n");
    println!("{:#}", PlayerMachine::xstate_config());
    println!();
    let mut player = Snapshot::<PlayerMachine>::initial();
    let entity = Uuid::now_v7();
    let events = [
        PlayerEvent::Load,
        PlayerEvent::Play,
        PlayerEvent::Tick { seconds: 120 },
        PlayerEvent::Tick { seconds: 90 },
        PlayerEvent::Eject,
    ];
    for (seq, event) in (1..).zip(events) {
        let intent = Intent::new(entity, "client-1", "alice", seq, event, 1_700_000_000_000);
        let before = player.state.name();
        match player.apply(&intent.event, &intent.meta(Phase::Optimistic)) {
            Ok(()) => println!(
                "#{seq} {:<6} {before:>14} -> {:<14} position {:>3}, trace: {}",
                intent.event.event_type(),
                player.state.name(),
                player.context.position,
                player.context.trace.trim_end()
            ),
            Err(rejection) => println!("#{seq} rejected: {rejection}"),
        }
    }
}
