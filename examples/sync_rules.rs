//! Prints the PowerSync sync rules for the todo domain; with `--schema`, the source schema the
//! validator checks them against. `.ci/run` validates both with `@powersync/service-sync-rules`.

use sai::powersync::{SyncRules, source_schema};
use sai::schema::Schema;

// The todo domain: its entity, events and machines.
mod todo_domain;
use todo_domain::Todo;

fn main() {
    let schema = Schema::of::<Todo>();
    if std::env::args().any(|a| a == "--schema") {
        println!("{:#}", source_schema(&schema, "public"));
    } else {
        print!("{}", SyncRules::new(&schema).to_yaml());
    }
}
