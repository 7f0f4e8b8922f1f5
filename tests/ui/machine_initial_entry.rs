use sai::{Domain, Event, machine};
use serde::{Deserialize, Serialize};

include!("shared/door.rs");

fn greet(door: &mut Door, _: &DoorEvent, _: &sai::IntentMeta) {
    door.label = "new".into();
}

#[machine(domain = Door, event = DoorEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DoorMachine {
    #[initial]
    #[entry(greet)]
    #[on(Open => Opened)]
    Closed,
    #[on(Close => Closed)]
    Opened,
}
fn main() {}
