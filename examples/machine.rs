//! Prints what sai derives from the todo domain: the transition table, a Mermaid diagram,
//! a replayed trace with one rejection, and the generated SQLite and PostgreSQL DDL.
//!
//! Run it with `cargo run --example machine`.

use sai::prelude::*;
use sai::schema::{Dialect, Schema, Side};

// The todo domain: its entity, events and machines.
mod todo_domain;
use todo_domain::{Todo, TodoEvent, TodoMachine};

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
}
