//! The pure decision step isolates an intent whose result does not encode: its rejection,
//! not the batch's failure (which would halt every client in the batch on every run).

use std::collections::HashMap;

use sai::RawIntent;
use sai::prelude::*;
use sai::server::{Claim, Writers, decide};
use serde::{Deserialize, Serialize};

/// A domain with a bug: a JSON column keyed by bytes, which JSON cannot encode once the map
/// holds a key.
#[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[domain(name = "ledger", machine = LedgerMachine)]
pub struct Ledger {
    pub name: String,
    #[domain(json)]
    pub entries: HashMap<Vec<u8>, i64>,
}

#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LedgerEvent {
    Open { name: String },
    Put { key: Vec<u8> },
}

pub fn open(ledger: &mut Ledger, event: &LedgerEvent, _: &IntentMeta) {
    if let LedgerEvent::Open { name } = event {
        ledger.name = name.clone();
    }
}

pub fn put(ledger: &mut Ledger, event: &LedgerEvent, _: &IntentMeta) {
    if let LedgerEvent::Put { key } = event {
        ledger.entries.insert(key.clone(), 1);
    }
}

#[machine(domain = Ledger, event = LedgerEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerMachine {
    #[initial]
    #[on(Open => Opened, assign = open)]
    Empty,
    #[on(Put, assign = put)]
    #[on(Open, assign = open)]
    Opened,
}

fn raw(entity: Uuid, client: &str, seq: u64, event: LedgerEvent) -> RawIntent {
    Intent::new(entity, client, "alice", seq, event, 0)
        .to_raw()
        .expect("encode")
}

#[test]
fn a_context_that_does_not_encode_is_its_intents_rejection() {
    let (bad, good) = (Uuid::now_v7(), Uuid::now_v7());
    let open = |name: &str| LedgerEvent::Open { name: name.into() };
    let claim = Claim {
        intents: vec![
            raw(bad, "a", 1, open("bytes")),
            raw(bad, "a", 2, LedgerEvent::Put { key: vec![1, 2] }),
            raw(bad, "a", 3, open("renamed")),
            raw(good, "b", 1, open("fine")),
        ],
        acks: HashMap::from([("a".into(), 0), ("b".into(), 0)]),
        ..Claim::default()
    };
    let d = decide::<LedgerMachine>(claim, 10, Writers::Owner);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let accepted: Vec<(&str, u64)> = d
        .accepted
        .iter()
        .map(|a| (a.intent.client_id.as_str(), a.intent.seq))
        .collect();
    assert_eq!(accepted, [("a", 1), ("a", 3), ("b", 1)]);
    let [rejected] = &d.rejected[..] else {
        panic!("{:?}", d.rejected);
    };
    assert_eq!(
        (rejected.intent.seq, rejected.code),
        (2, "unstorable_value")
    );
    assert!(rejected.message.contains("encode"), "{}", rejected.message);
    // The rejected step changed nothing: the entity is as after seqs 1 and 3.
    let bad_row = d
        .projections
        .iter()
        .find(|p| p.id == bad)
        .expect("projected");
    assert_eq!((bad_row.version, bad_row.state), (2, "Opened"));
    assert_eq!(d.acks.len(), 2);
}
