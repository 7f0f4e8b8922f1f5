use sai::{Domain, Event, machine};
use serde::{Deserialize, Serialize};

include!("shared/door.rs");

#[machine(domain = Door, event = DoorEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DoorMachine {
    #[initial]
    #[on(Lock => Locked)]
    Closed,
    #[final_state]
    #[on(Open => Closed)]
    Locked,
}
fn main() {}
