// The derives may be written above `#[machine]` as well as below it.
use sai::{Domain, Event, Machine, machine};
use serde::{Deserialize, Serialize};

include!("../shared/door.rs");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[machine(domain = Door, event = DoorEvent)]
enum DoorMachine {
    #[initial]
    #[on(Open => Opened)]
    Closed,
    #[on(Close => Closed)]
    Opened,
}

fn main() {
    assert_eq!(DoorMachine::INITIAL, DoorMachine::Closed);
    assert_eq!(DoorMachine::Opened.name(), "Opened");
}
