use sai::{Domain, Event, machine};
use serde::{Deserialize, Serialize};

include!("shared/door.rs");

fn labelled(door: &Door, _: &DoorEvent, _: &sai::IntentMeta) -> bool {
    !door.label.is_empty()
}

#[machine(domain = Door, event = DoorEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DoorMachine {
    #[initial]
    #[on(Open => Opening)]
    Closed,
    #[always(Opened, guard = labelled, reason = "needs a label")]
    Opening,
    #[on(Close => Closed)]
    Opened,
}
fn main() {}
