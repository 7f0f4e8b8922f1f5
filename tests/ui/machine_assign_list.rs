use sai::{Domain, Event, machine};
use serde::{Deserialize, Serialize};

include!("shared/door.rs");

fn label(door: &mut Door, _: &DoorEvent, _: &sai::IntentMeta) {
    door.label = "open".into();
}

fn relabel(door: &mut Door, _: &DoorEvent, _: &sai::IntentMeta) {
    door.label.push('!');
}

#[machine(domain = Door, event = DoorEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DoorMachine {
    #[initial]
    #[on(Open => Opened, assign = label, relabel)]
    Closed,
    #[on(Close => Closed)]
    Opened,
}
fn main() {}
