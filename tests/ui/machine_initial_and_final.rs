use sai::{Domain, Event, machine};
use serde::{Deserialize, Serialize};

include!("shared/door.rs");

#[machine(domain = Door, event = DoorEvent)]
enum DoorMachine {
    #[initial]
    #[final_state]
    Closed,
}
fn main() {}
