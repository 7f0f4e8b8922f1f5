use sai::{Domain, Event, machine};
use serde::{Deserialize, Serialize};

include!("shared/door.rs");

#[machine(domain = Door, event = DoorEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DoorMachine {
    #[on(Open => Opne)]
    Closed,
    #[on(Close => Closed)]
    #[on(Close => Opened)]
    Opened,
    #[final_state]
    #[on(Lock => Closed)]
    Locked,
}
fn main() {}
