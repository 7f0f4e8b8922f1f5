use sai::{Domain, Event, machine};
use serde::{Deserialize, Serialize};

include!("shared/door.rs");

fn unlocked(_: &Door, _: &DoorEvent, _: &sai::IntentMeta) -> bool {
    true
}

fn labelled(door: &Door, _: &DoorEvent, _: &sai::IntentMeta) -> bool {
    !door.label.is_empty()
}

#[machine(domain = Door, event = DoorEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DoorMachine {
    #[initial]
    #[on(Open => Opened, guard = [unlocked, not(labelled)], reason = "locked")]
    Closed,
    #[on(Close => Closed)]
    Opened,
}
fn main() {}
