use sai::{Domain, Event, machine};
use serde::{Deserialize, Serialize};

include!("shared/door.rs");

// `Debug` and `Eq` are missing: still one error, not one per missing trait.
#[machine(domain = Door, event = DoorEvent)]
#[derive(Clone, Copy, PartialEq)]
enum DoorMachine {
    #[initial]
    #[on(Open => Opened)]
    Closed,
    #[on(Close => Closed)]
    Opened,
}

fn main() {}
