use sai::{Domain, Event, machine};
use serde::{Deserialize, Serialize};

include!("shared/door.rs");

// No derives at all: one error on the enum's name, naming the line to add.
#[machine(domain = Door, event = DoorEvent)]
enum DoorMachine {
    #[initial]
    #[on(Open => Opened)]
    Closed,
    #[on(Close => Closed)]
    #[entry(remember)]
    Opened,
}

fn remember(door: &mut Door, _: &DoorEvent, _: &sai::IntentMeta<'_>) {
    door.label = "opened".into();
}

fn main() {}
