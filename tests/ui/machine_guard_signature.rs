use sai::{Domain, Event, machine};
use serde::{Deserialize, Serialize};

include!("shared/door.rs");

fn is_closed(door: &Door) -> bool {
    door.label.is_empty()
}

#[machine(domain = Door, event = DoorEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DoorMachine {
    #[initial]
    #[on(Open => Opened, guard = is_closed)]
    Closed,
    #[on(Close => Closed)]
    Opened,
}
fn main() {}
