use sai::{Domain, Event, machine};
use serde::{Deserialize, Serialize};

include!("shared/door.rs");

fn unlocked(_: &Door, _: &DoorEvent, _: &sai::IntentMeta) -> bool {
    true
}

#[machine(domain = Door, event = DoorEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DoorMachine {
    #[initial]
    #[on(Open => Opened, guard = unlocked)]
    #[on(Open => Opened, guard = unlocked, reason = "still locked")]
    Closed,
    #[on(Close => Closed)]
    Opened,
}
fn main() {}
