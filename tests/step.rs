//! Step semantics: candidate order, assigns, targetless and final states, every rejection kind,
//! phases, snapshots across machines, and deterministic replay.

use proptest::prelude::*;
use sai::{
    Domain, Event, Intent, IntentMeta, Machine, Phase, RawIntent, Rejection, Snapshot, Uuid,
    machine, replay,
};
use sai_suite::{StrictTodoMachine, Todo, TodoEvent, TodoMachine};
use serde::{Deserialize, Serialize};

fn intent(seq: u64, event: TodoEvent) -> Intent<TodoEvent> {
    Intent::new(
        Uuid::now_v7(),
        "client-1",
        "alice",
        seq,
        event,
        1_000 + seq as i64,
    )
}

fn step(s: &Snapshot<TodoMachine>, event: TodoEvent) -> Result<Snapshot<TodoMachine>, Rejection> {
    s.step_intent(&intent(1, event), Phase::Optimistic)
}

fn created(title: &str) -> Snapshot<TodoMachine> {
    step(
        &Snapshot::initial(),
        TodoEvent::Create {
            title: title.into(),
        },
    )
    .unwrap()
}

#[test]
fn accepted_step_moves_state_runs_assign_and_counts_version() {
    let s = created("Buy milk");
    assert_eq!(s.state, TodoMachine::Active);
    assert_eq!(s.context.title, "Buy milk");
    assert_eq!(s.version, 1);
    let done = step(&s, TodoEvent::Toggle).unwrap();
    assert_eq!(
        (done.state, done.context.completed, done.version),
        (TodoMachine::Done, true, 2)
    );
    let reopened = step(&done, TodoEvent::Toggle).unwrap();
    assert_eq!(
        (reopened.state, reopened.context.completed),
        (TodoMachine::Active, false)
    );
}

#[test]
fn targetless_transition_keeps_state_and_runs_assigns_in_written_order() {
    let s = created("a");
    let s = step(&s, TodoEvent::Label { label: "x".into() }).unwrap();
    let s = step(&s, TodoEvent::Label { label: "y".into() }).unwrap();
    assert_eq!(s.state, TodoMachine::Active);
    assert_eq!(s.context.labels, ["x", "y"]);
    // bump_priority runs after add_label, so it sees the label just added.
    assert_eq!(s.context.priority, 2);
    assert_eq!(s.version, 3);
}

#[test]
fn event_without_transition_is_rejected_not_ignored() {
    let s = Snapshot::<TodoMachine>::initial();
    let r = step(&s, TodoEvent::Toggle).unwrap_err();
    assert_eq!(
        r,
        Rejection::NotAccepted {
            state: "Idle".into(),
            event_type: "TOGGLE".into()
        }
    );
    assert_eq!(r.code(), "not_accepted");
    assert_eq!(r.state(), Some("Idle"));
}

#[test]
fn failed_guard_names_the_guard_and_its_reason() {
    let s = created("a");
    let r = step(&s, TodoEvent::Rename { title: " ".into() }).unwrap_err();
    let Rejection::GuardFailed {
        state,
        event_type,
        guards,
    } = &r
    else {
        panic!("{r:?}")
    };
    assert_eq!((state.as_str(), event_type.as_str()), ("Active", "RENAME"));
    assert_eq!(guards.len(), 1);
    assert_eq!(guards[0].guard, "title_not_empty");
    assert_eq!(guards[0].reason, "title must not be empty");
    assert_eq!(r.code(), "guard_failed");
    assert!(
        r.message().contains("title must not be empty"),
        "{}",
        r.message()
    );
}

#[test]
fn final_state_rejects_everything() {
    let s = step(&created("a"), TodoEvent::Delete).unwrap();
    assert_eq!(s.state, TodoMachine::Deleted);
    assert!(s.state.is_final());
    for event in [
        TodoEvent::Toggle,
        TodoEvent::Delete,
        TodoEvent::Create { title: "b".into() },
    ] {
        let r = step(&s, event.clone()).unwrap_err();
        assert_eq!(
            r,
            Rejection::FinalState {
                state: "Deleted".into(),
                event_type: event.event_type().into()
            }
        );
    }
}

#[test]
fn rejection_leaves_snapshot_untouched() {
    let mut s = created("keep");
    let before = s.clone();
    let meta_intent = intent(2, TodoEvent::Rename { title: "".into() });
    assert!(
        s.apply(&meta_intent.event, &meta_intent.meta(Phase::Optimistic))
            .is_err()
    );
    assert_eq!(s, before);
}

#[test]
fn rejections_serialize_with_a_stable_code_tag() {
    let r = step(&created("a"), TodoEvent::Rename { title: "".into() }).unwrap_err();
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["code"], "guard_failed");
    assert_eq!(json["guards"][0]["guard"], "title_not_empty");
    let back: Rejection = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
    let codes: Vec<&str> = [
        Rejection::NotAccepted {
            state: "s".into(),
            event_type: "E".into(),
        },
        Rejection::FinalState {
            state: "s".into(),
            event_type: "E".into(),
        },
        Rejection::UnknownEventType {
            event_type: "E".into(),
        },
        Rejection::UnsupportedEventVersion {
            event_type: "E".into(),
            found: 2,
            supported: 1,
        },
        Rejection::MalformedPayload {
            event_type: "E".into(),
            detail: "d".into(),
        },
    ]
    .iter()
    .map(|r| {
        let v = serde_json::to_value(r).unwrap();
        assert_eq!(v["code"], r.code(), "code() and the serialized tag agree");
        r.code()
    })
    .collect();
    assert_eq!(
        codes,
        [
            "not_accepted",
            "final_state",
            "unknown_event_type",
            "unsupported_event_version",
            "malformed_payload"
        ]
    );
}

// A machine written to pin candidate order: three candidates for one event.
#[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[domain(name = "counter", machine = CounterMachine)]
struct Counter {
    n: i64,
    trail: String,
}

#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum CounterEvent {
    Add { by: i64 },
    Reset,
}

fn add(c: &mut Counter, e: &CounterEvent, _: &IntentMeta) {
    if let CounterEvent::Add { by } = e {
        c.n += by;
    }
}
fn big(_: &Counter, e: &CounterEvent, _: &IntentMeta) -> bool {
    matches!(e, CounterEvent::Add { by } if *by >= 100)
}
fn positive(_: &Counter, e: &CounterEvent, _: &IntentMeta) -> bool {
    matches!(e, CounterEvent::Add { by } if *by > 0)
}
fn mark(tag: &'static str) -> impl Fn(&mut Counter) {
    move |c| c.trail.push_str(tag)
}

#[machine(domain = Counter, event = CounterEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CounterMachine {
    #[initial]
    #[on(Add => Large, guard = big, assign = [add, |c: &mut Counter, _, _| mark("L")(c)])]
    #[on(Add, guard = positive, reason = "only positive steps", assign = [add, |c: &mut Counter, _, _| mark("S")(c)])]
    #[on(Add, guard = |c: &Counter, _, _| c.n == 0, assign = |c: &mut Counter, _, _| c.trail.push('Z'))]
    Small,
    #[on(Reset => Small, assign = |c: &mut Counter, _, _| c.n = 0)]
    Large,
}

fn counter_step(
    s: &Snapshot<CounterMachine>,
    event: CounterEvent,
) -> Result<Snapshot<CounterMachine>, Rejection> {
    let i = Intent::new(Uuid::now_v7(), "c", "u", 1, event, 0);
    s.step_intent(&i, Phase::Authoritative)
}

#[test]
fn first_candidate_whose_guard_passes_wins_in_written_order() {
    let s0 = Snapshot::<CounterMachine>::initial();
    // Both `big` and `positive` pass: the first written wins.
    let s = counter_step(&s0, CounterEvent::Add { by: 150 }).unwrap();
    assert_eq!(
        (s.state, s.context.n, s.context.trail.as_str()),
        (CounterMachine::Large, 150, "L")
    );
    // Only `positive` passes.
    let s = counter_step(&s0, CounterEvent::Add { by: 5 }).unwrap();
    assert_eq!(
        (s.state, s.context.n, s.context.trail.as_str()),
        (CounterMachine::Small, 5, "S")
    );
    // Only the inline closure guard passes (n == 0).
    let s = counter_step(&s0, CounterEvent::Add { by: -1 }).unwrap();
    assert_eq!(
        (s.state, s.context.n, s.context.trail.as_str()),
        (CounterMachine::Small, 0, "Z")
    );
}

#[test]
fn all_failed_guards_are_reported_in_order() {
    let s = counter_step(&Snapshot::initial(), CounterEvent::Add { by: 5 }).unwrap();
    let r = counter_step(&s, CounterEvent::Add { by: -1 }).unwrap_err();
    let Rejection::GuardFailed { guards, .. } = r else {
        panic!()
    };
    let names: Vec<_> = guards.iter().map(|g| g.guard.as_str()).collect();
    assert_eq!(names[..2], ["big", "positive"]);
    assert_eq!(guards[1].reason, "only positive steps");
    assert_eq!(guards[0].reason, "guard `big` failed");
    assert_eq!(guards.len(), 3);
}

#[test]
fn introspection_lists_states_events_and_can() {
    assert_eq!(
        CounterMachine::STATES
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>(),
        ["Small", "Large"]
    );
    assert_eq!(CounterMachine::Small.accepted_events(), ["add"]);
    assert_eq!(CounterMachine::Large.accepted_events(), ["reset"]);
    assert_eq!(
        CounterMachine::from_name("Large"),
        Some(CounterMachine::Large)
    );
    assert_eq!(CounterMachine::from_name("large"), None);
    let s = Snapshot::<CounterMachine>::initial();
    let i = Intent::new(Uuid::now_v7(), "c", "u", 1, CounterEvent::Reset, 0);
    assert!(!s.can(&i.event, &i.meta(Phase::Optimistic)));
    let i = Intent::new(Uuid::now_v7(), "c", "u", 1, CounterEvent::Add { by: 1 }, 0);
    let before = s.clone();
    assert!(s.can(&i.event, &i.meta(Phase::Optimistic)));
    assert_eq!(s, before, "can() changes nothing");
    assert_eq!(CounterMachine::TRANSITIONS.len(), 4);
    let mermaid = CounterMachine::mermaid();
    assert!(
        mermaid.starts_with("stateDiagram-v2\n    [*] --> Small\n"),
        "{mermaid}"
    );
    assert!(
        mermaid.contains("Small --> Large : add [big] / add, "),
        "{mermaid}"
    );
    assert!(mermaid.contains("Large --> Small : reset"), "{mermaid}");
    let table = TodoMachine::transition_table();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("Active | RENAME   | title_not_empty | (stays)")),
        "{table}"
    );
}

#[test]
fn stricter_server_machine_rejects_what_the_client_accepted() {
    let estimate = TodoEvent::Estimate { hours: Some(80.0) };
    let client = step(&created("plan"), estimate.clone()).unwrap();
    assert_eq!(client.context.estimate, Some(80.0));

    let server: Snapshot<StrictTodoMachine> = created("plan").convert().unwrap();
    let i = intent(2, estimate);
    // The same guard passes optimistically and fails authoritatively: phase is an input.
    assert!(server.step_intent(&i, Phase::Optimistic).is_ok());
    let r = server.step_intent(&i, Phase::Authoritative).unwrap_err();
    assert!(
        matches!(&r, Rejection::GuardFailed { guards, .. } if guards[0].reason == "estimates above 40 hours need a split"),
        "{r:?}"
    );
}

#[test]
fn snapshots_round_trip_through_json_by_state_name() {
    let s = step(&created("x"), TodoEvent::Toggle).unwrap();
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains(r#""state":"Done""#), "{json}");
    let back: Snapshot<TodoMachine> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    let other: Snapshot<StrictTodoMachine> = serde_json::from_str(&json).unwrap();
    assert_eq!(other.state, StrictTodoMachine::Done);
    let bad = json.replace("Done", "Gone");
    let err = serde_json::from_str::<Snapshot<TodoMachine>>(&bad).unwrap_err();
    assert!(err.to_string().contains("no state `Gone`"), "{err}");
}

#[test]
fn events_use_the_xstate_wire_form() {
    let e = TodoEvent::Create { title: "t".into() };
    assert_eq!(
        serde_json::to_string(&e).unwrap(),
        r#"{"type":"CREATE","title":"t"}"#
    );
    assert_eq!(
        serde_json::to_string(&TodoEvent::Toggle).unwrap(),
        r#"{"type":"TOGGLE"}"#
    );
    // The derive's type names agree with what serde writes, for every variant.
    let all = [
        TodoEvent::Create { title: "t".into() },
        TodoEvent::Toggle,
        TodoEvent::Rename { title: "t".into() },
        TodoEvent::Estimate { hours: None },
        TodoEvent::Label { label: "l".into() },
        TodoEvent::Delete,
    ];
    for e in &all {
        let v = serde_json::to_value(e).unwrap();
        assert_eq!(v["type"], e.event_type());
    }
    assert_eq!(TodoEvent::TYPES.len(), all.len());
    assert_eq!(CounterEvent::TYPES, ["add", "reset"]);
}

#[test]
fn raw_intents_decode_and_report_bad_input() {
    let i = intent(3, TodoEvent::Rename { title: "r".into() });
    let raw = i.to_raw().unwrap();
    assert_eq!(raw.event_type, "RENAME");
    assert_eq!(raw.decode::<TodoEvent>().unwrap(), i);

    let with = |f: &dyn Fn(&mut RawIntent)| {
        let mut r = raw.clone();
        f(&mut r);
        Rejection::from(r.decode::<TodoEvent>().unwrap_err())
    };
    assert_eq!(
        with(&|r| r.event_type = "ARCHIVE".into()).code(),
        "unknown_event_type"
    );
    let v = with(&|r| r.event_version = 2);
    assert_eq!(
        v,
        Rejection::UnsupportedEventVersion {
            event_type: "RENAME".into(),
            found: 2,
            supported: 1
        }
    );
    assert_eq!(
        with(&|r| r.payload = "{not json".into()).code(),
        "malformed_payload"
    );
    assert_eq!(
        with(&|r| r.payload = r#"{"type":"RENAME"}"#.into()).code(),
        "malformed_payload"
    );
    let mismatch = with(&|r| r.payload = r#"{"type":"TOGGLE"}"#.into());
    assert!(mismatch.message().contains("tagged `TOGGLE`"), "{mismatch}");
}

#[test]
fn intent_ids_are_time_ordered_v7() {
    let a = intent(1, TodoEvent::Toggle);
    let b = intent(2, TodoEvent::Toggle);
    assert_eq!(a.id.get_version_num(), 7);
    assert!(a.id < b.id);
    assert_eq!(a.event_version, 1);
}

#[test]
fn replay_skips_and_records_rejected_intents() {
    let entity = Uuid::now_v7();
    let events = [
        TodoEvent::Toggle,
        TodoEvent::Create { title: "a".into() },
        TodoEvent::Rename { title: "".into() },
        TodoEvent::Toggle,
    ];
    let intents: Vec<_> = (1..)
        .zip(events)
        .map(|(seq, e)| Intent::new(entity, "c", "u", seq, e, 0))
        .collect();
    let r = replay(
        Snapshot::<TodoMachine>::initial(),
        None,
        &intents,
        Phase::Optimistic,
    );
    assert_eq!(r.snapshot.state, TodoMachine::Done);
    assert_eq!(r.snapshot.version, 2);
    let rejected: Vec<_> = r.rejected.iter().map(|(id, r)| (*id, r.code())).collect();
    assert_eq!(
        rejected,
        [
            (intents[0].id, "not_accepted"),
            (intents[2].id, "guard_failed")
        ]
    );
}

fn arb_event() -> impl Strategy<Value = TodoEvent> {
    prop_oneof![
        "[a-z ]{0,6}".prop_map(|title| TodoEvent::Create { title }),
        Just(TodoEvent::Toggle),
        "[a-z ]{0,6}".prop_map(|title| TodoEvent::Rename { title }),
        proptest::option::of(0.0f64..100.0).prop_map(|hours| TodoEvent::Estimate { hours }),
        "[a-z]{1,3}".prop_map(|label| TodoEvent::Label { label }),
        Just(TodoEvent::Delete),
    ]
}

proptest! {
    /// Replay is a pure function of the intents: twice gives the same result, it equals
    /// stepping one by one, and it survives a JSON round trip of the log.
    #[test]
    fn replay_is_deterministic(events in proptest::collection::vec(arb_event(), 0..40)) {
        let entity = Uuid::now_v7();
        let intents: Vec<_> = (1..)
            .zip(events)
            .map(|(seq, e)| Intent::new(entity, "c", "u", seq, e, seq as i64))
            .collect();
        let a = replay(Snapshot::<StrictTodoMachine>::initial(), None, &intents, Phase::Authoritative);
        let b = replay(Snapshot::<StrictTodoMachine>::initial(), None, &intents, Phase::Authoritative);
        prop_assert_eq!(&a.snapshot, &b.snapshot);
        prop_assert_eq!(&a.rejected, &b.rejected);

        let mut stepped = Snapshot::<StrictTodoMachine>::initial();
        let mut rejected = 0;
        for i in &intents {
            match stepped.step_intent(i, Phase::Authoritative) {
                Ok(next) => stepped = next,
                Err(_) => rejected += 1,
            }
        }
        prop_assert_eq!(&stepped, &a.snapshot);
        prop_assert_eq!(rejected, a.rejected.len());
        prop_assert_eq!(a.snapshot.version as usize + rejected, intents.len());

        let decoded: Vec<_> = intents
            .iter()
            .map(|i| i.to_raw().unwrap().decode::<TodoEvent>().unwrap())
            .collect();
        let c = replay(Snapshot::<StrictTodoMachine>::initial(), None, &decoded, Phase::Authoritative);
        prop_assert_eq!(&c.snapshot, &a.snapshot);
    }
}

#[test]
fn domain_metadata_is_generated() {
    assert_eq!(Todo::NAME, "todo");
    let cols: Vec<_> = Todo::COLUMNS
        .iter()
        .map(|c| (c.name, c.ty.sqlite(), c.nullable, c.json))
        .collect();
    assert_eq!(
        cols,
        [
            ("title", "TEXT", false, false),
            ("completed", "INTEGER", false, false),
            ("estimate", "REAL", true, false),
            ("labels", "TEXT", false, true),
            ("priority_level", "INTEGER", false, false),
        ]
    );
    assert_eq!(Todo::COLUMNS[4].field, "priority");
    // The typed aliases name the intent and projection types of the domain.
    let i: sai_suite::TodoIntent = intent(1, TodoEvent::Toggle);
    let p: sai_suite::TodoProjection = Snapshot::initial();
    assert_eq!(
        (p.state, i.event.event_type()),
        (TodoMachine::Idle, "TOGGLE")
    );
    assert_eq!(Counter::NAME, "counter");
}

// Guard lists and `not(…)`: every guard of a candidate must pass, and a rejection names each
// one that failed with its own reason.
#[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[domain(name = "vault", machine = VaultMachine)]
struct Vault {
    code: String,
    jammed: bool,
}

#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum VaultEvent {
    Open { code: String },
    Force,
    Jam,
}

fn right_code(v: &Vault, e: &VaultEvent, _: &IntentMeta) -> bool {
    matches!(e, VaultEvent::Open { code } if *code == v.code)
}
fn jammed(v: &Vault, _: &VaultEvent, _: &IntentMeta) -> bool {
    v.jammed
}
fn jam(v: &mut Vault, _: &VaultEvent, _: &IntentMeta) {
    v.jammed = true;
}

#[machine(domain = Vault, event = VaultEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VaultMachine {
    #[initial]
    #[on(Open => Opened, guard = right_code, reason = "wrong code", guard = not(jammed), reason = "the lock is jammed")]
    #[on(Force => Opened, guard = [jammed, not(right_code)])]
    #[on(Jam, assign = jam)]
    Closed,
    #[on(Jam => Closed, assign = jam)]
    Opened,
}

fn vault_step(
    s: &Snapshot<VaultMachine>,
    event: VaultEvent,
) -> Result<Snapshot<VaultMachine>, Rejection> {
    let i = Intent::new(Uuid::now_v7(), "c", "u", 1, event, 0);
    s.step_intent(&i, Phase::Authoritative)
}

fn failed_guards(r: Rejection) -> Vec<(String, String)> {
    let Rejection::GuardFailed { guards, .. } = r else {
        panic!("{r:?}")
    };
    guards.into_iter().map(|g| (g.guard, g.reason)).collect()
}

fn vault(code: &str, jammed: bool) -> Snapshot<VaultMachine> {
    Snapshot {
        state: VaultMachine::Closed,
        context: Vault {
            code: code.into(),
            jammed,
        },
        version: 0,
    }
}

fn open(code: &str) -> VaultEvent {
    VaultEvent::Open { code: code.into() }
}

#[test]
fn a_guard_list_passes_only_when_every_guard_passes() {
    let s = vault_step(&vault("1234", false), open("1234")).unwrap();
    assert_eq!(s.state, VaultMachine::Opened);
    // Right code, but jammed: the negated guard fails alone.
    let r = vault_step(&vault("1234", true), open("1234")).unwrap_err();
    assert_eq!(
        failed_guards(r),
        [("not(jammed)".into(), "the lock is jammed".into())]
    );
}

#[test]
fn every_failed_guard_of_a_list_is_reported_with_its_own_reason_in_order() {
    let r = vault_step(&vault("1234", true), open("0000")).unwrap_err();
    assert_eq!(
        failed_guards(r),
        [
            ("right_code".into(), "wrong code".into()),
            ("not(jammed)".into(), "the lock is jammed".into())
        ]
    );
}

#[test]
fn not_inverts_a_guard_in_a_bracketed_list_with_generated_reasons() {
    assert_eq!(
        vault_step(&vault("", true), VaultEvent::Force)
            .unwrap()
            .state,
        VaultMachine::Opened
    );
    let r = vault_step(&vault("", false), VaultEvent::Force).unwrap_err();
    assert_eq!(
        failed_guards(r),
        [("jammed".into(), "guard `jammed` failed".into())]
    );
    // `not(right_code)` passes: a `Force` event carries no code.
    let s = vault_step(&vault("", false), VaultEvent::Jam).unwrap();
    assert!(s.context.jammed);
    assert_eq!(
        vault_step(&s, VaultEvent::Force).unwrap().state,
        VaultMachine::Opened
    );
}

#[test]
fn guard_lists_show_in_the_table_and_the_diagram() {
    let table = VaultMachine::transition_table();
    assert!(table.contains("right_code, not(jammed)"), "{table}");
    assert!(table.contains("jammed, not(right_code)"), "{table}");
    assert!(
        VaultMachine::mermaid().contains("Closed --> Opened : open [right_code, not(jammed)]"),
        "{}",
        VaultMachine::mermaid()
    );
}

// Entry and exit actions, and eventless `always` transitions: XState's order (exit, the
// transition's assigns, entry), and `always` tried after every step until none applies.
#[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[domain(name = "kettle", machine = KettleMachine)]
struct Kettle {
    temp: i64,
    log: String,
}

#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum KettleEvent {
    Heat { by: i64 },
    Pour,
    Spin,
}

fn note(k: &mut Kettle, what: &str) {
    if !k.log.is_empty() {
        k.log.push(',');
    }
    k.log.push_str(what);
}
fn heat(k: &mut Kettle, e: &KettleEvent, _: &IntentMeta) {
    if let KettleEvent::Heat { by } = e {
        k.temp += by;
    }
    note(k, "heat");
}
fn pour(k: &mut Kettle, _: &KettleEvent, _: &IntentMeta) {
    k.temp = 0;
    note(k, "pour");
}
fn enter_heating(k: &mut Kettle, _: &KettleEvent, _: &IntentMeta) {
    note(k, "+heating");
}
fn leave_heating(k: &mut Kettle, _: &KettleEvent, _: &IntentMeta) {
    note(k, "-heating");
}
fn enter_boiling(k: &mut Kettle, _: &KettleEvent, _: &IntentMeta) {
    note(k, "+boiling");
}
fn hot(k: &Kettle, _: &KettleEvent, _: &IntentMeta) -> bool {
    k.temp >= 100
}
fn warm(k: &Kettle, _: &KettleEvent, _: &IntentMeta) -> bool {
    k.temp > 0
}

#[machine(domain = Kettle, event = KettleEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KettleMachine {
    #[initial]
    #[on(Heat => Heating, assign = heat)]
    Cold,
    #[entry(enter_heating)]
    #[exit(leave_heating)]
    #[always(Boiling, guard = hot)]
    #[always(Cold, guard = not(warm))]
    #[on(Heat, assign = heat)]
    Heating,
    #[entry(enter_boiling)]
    #[on(Pour => Cold, assign = pour)]
    #[on(Spin => Spinning)]
    Boiling,
    // A loop through guarded `always` transitions: only the run-time bound stops it.
    #[always(Whirling, guard = warm)]
    Spinning,
    #[always(Spinning, guard = warm)]
    Whirling,
}

fn kettle_step(
    s: &Snapshot<KettleMachine>,
    event: KettleEvent,
) -> Result<Snapshot<KettleMachine>, Rejection> {
    let i = Intent::new(Uuid::now_v7(), "c", "u", 1, event, 0);
    s.step_intent(&i, Phase::Optimistic)
}

#[test]
fn entering_a_state_runs_the_transition_assigns_then_its_entry_actions() {
    let s = kettle_step(&Snapshot::initial(), KettleEvent::Heat { by: 50 }).unwrap();
    assert_eq!(
        (s.state, s.context.log.as_str(), s.version),
        (KettleMachine::Heating, "heat,+heating", 1)
    );
}

#[test]
fn always_runs_after_a_targetless_step_with_exit_before_entry() {
    let s = kettle_step(&Snapshot::initial(), KettleEvent::Heat { by: 50 }).unwrap();
    // Targetless: no exit or entry of its own; then `always` (hot) leaves for Boiling.
    let s = kettle_step(&s, KettleEvent::Heat { by: 60 }).unwrap();
    assert_eq!(
        (s.state, s.context.log.as_str(), s.version),
        (
            KettleMachine::Boiling,
            "heat,+heating,heat,-heating,+boiling",
            2
        )
    );
    let s = kettle_step(&s, KettleEvent::Pour).unwrap();
    assert_eq!((s.state, s.context.temp), (KettleMachine::Cold, 0));
}

#[test]
fn always_candidates_are_tried_in_written_order_and_may_lead_back() {
    // Not hot, not warm: the second `always` takes the kettle straight back to Cold.
    let s = kettle_step(&Snapshot::initial(), KettleEvent::Heat { by: -5 }).unwrap();
    assert_eq!(
        (s.state, s.context.log.as_str(), s.version),
        (KettleMachine::Cold, "heat,+heating,-heating", 1)
    );
}

#[test]
fn a_guarded_always_loop_is_a_rejection_that_changes_nothing() {
    let s = kettle_step(&Snapshot::initial(), KettleEvent::Heat { by: 150 }).unwrap();
    assert_eq!(s.state, KettleMachine::Boiling);
    let r = kettle_step(&s, KettleEvent::Spin).unwrap_err();
    assert_eq!(
        r,
        Rejection::AlwaysLoop {
            state: "Boiling".into(),
            event_type: "spin".into(),
            steps: sai::MAX_ALWAYS_STEPS,
        }
    );
    assert_eq!((r.code(), r.state()), ("always_loop", Some("Boiling")));
    let mut same = s.clone();
    let spin = Intent::new(Uuid::now_v7(), "c", "u", 2, KettleEvent::Spin, 0);
    assert!(
        same.apply(&spin.event, &spin.meta(Phase::Optimistic))
            .is_err()
    );
    assert_eq!(same, s);
}

#[test]
fn entry_exit_and_always_show_in_the_table_and_the_diagram() {
    let mermaid = KettleMachine::mermaid();
    for line in [
        "Heating : entry / enter_heating",
        "Heating : exit / leave_heating",
        "Heating --> Boiling : always [hot]",
        "Heating --> Cold : always [not(warm)]",
    ] {
        assert!(mermaid.contains(line), "{line} in\n{mermaid}");
    }
    assert!(
        KettleMachine::transition_table().contains("(always)"),
        "{}",
        KettleMachine::transition_table()
    );
    assert_eq!(KettleMachine::Heating.accepted_events(), ["heat"]);
}

// Compound states: `#[parent(P)]` nests a state in `P`; an event is tried on the deepest state
// first, then on its ancestors; entering a parent enters its initial child; the stored name is
// the path.
#[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[domain(name = "page", machine = PageMachine)]
struct Page {
    text: String,
    keys: i64,
    locked: bool,
    log: String,
}

#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PageEvent {
    Open,
    Edit,
    Type { text: String },
    Lock,
    Save,
    Close,
}

fn page_log(p: &mut Page, what: &str) {
    if !p.log.is_empty() {
        p.log.push(',');
    }
    p.log.push_str(what);
}
fn enter_active(p: &mut Page, _: &PageEvent, _: &IntentMeta) {
    page_log(p, "+active");
}
fn leave_active(p: &mut Page, _: &PageEvent, _: &IntentMeta) {
    page_log(p, "-active");
}
fn enter_viewing(p: &mut Page, _: &PageEvent, _: &IntentMeta) {
    page_log(p, "+viewing");
}
fn leave_viewing(p: &mut Page, _: &PageEvent, _: &IntentMeta) {
    page_log(p, "-viewing");
}
fn enter_editing(p: &mut Page, _: &PageEvent, _: &IntentMeta) {
    page_log(p, "+editing");
}
fn leave_editing(p: &mut Page, _: &PageEvent, _: &IntentMeta) {
    page_log(p, "-editing");
}
fn type_text(p: &mut Page, e: &PageEvent, _: &IntentMeta) {
    if let PageEvent::Type { text } = e {
        p.text.push_str(text);
    }
    page_log(p, "type");
}
fn count_key(p: &mut Page, _: &PageEvent, _: &IntentMeta) {
    p.keys += 1;
    page_log(p, "count");
}
fn lock(p: &mut Page, _: &PageEvent, _: &IntentMeta) {
    p.locked = true;
}
fn locked(p: &Page, _: &PageEvent, _: &IntentMeta) -> bool {
    p.locked
}

#[machine(domain = Page, event = PageEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PageMachine {
    #[initial]
    #[on(Open => Active)]
    Closed,
    #[entry(enter_active)]
    #[exit(leave_active)]
    #[on(Close => Closed)]
    #[on(Type, assign = count_key)]
    #[on(Lock, assign = lock)]
    #[on(Save => Active)]
    Active,
    #[parent(Active)]
    #[initial]
    #[entry(enter_viewing)]
    #[exit(leave_viewing)]
    #[on(Edit => Editing)]
    Viewing,
    #[parent(Active)]
    #[entry(enter_editing)]
    #[exit(leave_editing)]
    #[on(Type, guard = not(locked), assign = type_text)]
    #[on(Save => Active)]
    Editing,
}

fn page_step(s: &Snapshot<PageMachine>, event: PageEvent) -> Snapshot<PageMachine> {
    let i = Intent::new(Uuid::now_v7(), "c", "u", 1, event, 0);
    s.step_intent(&i, Phase::Optimistic).unwrap()
}

fn page_in(state: PageMachine) -> Snapshot<PageMachine> {
    Snapshot {
        state,
        context: Page::default(),
        version: 0,
    }
}

#[test]
fn entering_a_compound_state_enters_its_initial_child_outermost_first() {
    let s = page_step(&Snapshot::initial(), PageEvent::Open);
    assert_eq!(
        (s.state, s.state.name(), s.context.log.as_str()),
        (PageMachine::Viewing, "Active.Viewing", "+active,+viewing")
    );
    // Between siblings only the children are exited and entered; the parent stays.
    let s = page_step(&s, PageEvent::Edit);
    assert_eq!(
        (s.state, s.context.log.as_str()),
        (PageMachine::Editing, "+active,+viewing,-viewing,+editing")
    );
}

#[test]
fn an_event_is_tried_on_the_deepest_state_first_then_on_its_ancestors() {
    let typed = |s: &Snapshot<PageMachine>| page_step(s, PageEvent::Type { text: "hi".into() });
    // Editing handles `type` itself.
    let s = typed(&page_in(PageMachine::Editing));
    assert_eq!((s.context.text.as_str(), s.context.keys), ("hi", 0));
    // Its guard fails once locked: the parent's `type` applies instead.
    let s = typed(&page_step(&page_in(PageMachine::Editing), PageEvent::Lock));
    assert_eq!((s.context.text.as_str(), s.context.keys), ("", 1));
    // Viewing has no `type`: the parent's applies, and the state stays.
    let s = typed(&page_in(PageMachine::Viewing));
    assert_eq!((s.state, s.context.keys), (PageMachine::Viewing, 1));
}

#[test]
fn a_parent_transition_applies_in_every_child_and_exits_innermost_first() {
    for (child, exits) in [
        (PageMachine::Viewing, "-viewing,-active"),
        (PageMachine::Editing, "-editing,-active"),
    ] {
        let s = page_step(&page_in(child), PageEvent::Close);
        assert_eq!(
            (s.state, s.context.log.as_str()),
            (PageMachine::Closed, exits)
        );
    }
}

#[test]
fn a_child_targeting_its_parent_reenters_it_but_a_parent_targeting_itself_does_not() {
    // Editing's own `save`: the parent is outside the source, so it is exited and re-entered
    // (XState: the domain is the root).
    let s = page_step(&page_in(PageMachine::Editing), PageEvent::Save);
    assert_eq!(
        (s.state, s.context.log.as_str()),
        (PageMachine::Viewing, "-editing,-active,+active,+viewing")
    );
    // Active's own `save` (taken from Viewing): the target is the source, `reenter: false`,
    // so only the child is exited and the initial child entered.
    let s = page_step(&page_in(PageMachine::Viewing), PageEvent::Save);
    assert_eq!(
        (s.state, s.context.log.as_str()),
        (PageMachine::Viewing, "-viewing,+viewing")
    );
}

#[test]
fn nested_states_are_stored_and_read_back_by_path() {
    assert_eq!(
        PageMachine::STATES
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>(),
        ["Closed", "Active.Viewing", "Active.Editing"]
    );
    assert_eq!(
        PageMachine::parse_state("Active.Editing"),
        Ok(PageMachine::Editing)
    );
    assert!(PageMachine::parse_state("Active").is_err());
    let json = serde_json::to_string(&page_in(PageMachine::Editing)).unwrap();
    assert!(json.contains(r#""state":"Active.Editing""#), "{json}");
    let back: Snapshot<PageMachine> = serde_json::from_str(&json).unwrap();
    assert_eq!(back.state, PageMachine::Editing);
    let mut events = PageMachine::Editing.accepted_events();
    events.sort_unstable();
    assert_eq!(events, ["close", "lock", "save", "type"]);
    assert!(page_in(PageMachine::Viewing).can(
        &PageEvent::Close,
        &Intent::new(Uuid::now_v7(), "c", "u", 1, PageEvent::Close, 0).meta(Phase::Optimistic)
    ));
}

#[test]
fn compound_states_render_as_composite_states() {
    let mermaid = PageMachine::mermaid();
    for line in [
        "    [*] --> Closed",
        "    state Active {\n        [*] --> Viewing\n        Viewing\n        Editing\n    }",
        "    Active --> Closed : close",
        "    Editing --> Active : save",
    ] {
        assert!(mermaid.contains(line), "{line} in\n{mermaid}");
    }
    assert!(PageMachine::transition_table().contains("Active.Editing | save"));
}

// A stricter server without a second machine: `server_guard = …` is checked in the
// authoritative phase only; the client's optimistic step takes it as passed.
#[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[domain(name = "ticket", machine = TicketMachine)]
struct Ticket {
    seats: i64,
}

#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TicketEvent {
    Book { seats: i64 },
}

fn some_seats(_: &Ticket, e: &TicketEvent, _: &IntentMeta) -> bool {
    matches!(e, TicketEvent::Book { seats } if *seats > 0)
}
fn within_stock(_: &Ticket, e: &TicketEvent, _: &IntentMeta) -> bool {
    matches!(e, TicketEvent::Book { seats } if *seats <= 4)
}
fn book(t: &mut Ticket, e: &TicketEvent, _: &IntentMeta) {
    let TicketEvent::Book { seats } = e;
    t.seats = *seats;
}

#[machine(domain = Ticket, event = TicketEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TicketMachine {
    #[initial]
    #[on(Book => Booked, guard = some_seats, server_guard = within_stock, reason = "sold out", assign = book)]
    Open,
    Booked,
}

#[test]
fn a_server_guard_is_checked_by_the_server_only() {
    let book_six = Intent::new(
        Uuid::now_v7(),
        "c",
        "u",
        1,
        TicketEvent::Book { seats: 6 },
        0,
    );
    let s = Snapshot::<TicketMachine>::initial();
    // The client predicts success: it cannot know the stock.
    let predicted = s.step_intent(&book_six, Phase::Optimistic).unwrap();
    assert_eq!(predicted.state, TicketMachine::Booked);
    // The server decides with the same machine and rejects, naming the server guard.
    let r = s.step_intent(&book_six, Phase::Authoritative).unwrap_err();
    assert_eq!(
        failed_guards(r),
        [("within_stock".to_owned(), "sold out".to_owned())]
    );
    // Ordinary guards still run on both sides.
    let none = Intent::new(
        Uuid::now_v7(),
        "c",
        "u",
        2,
        TicketEvent::Book { seats: 0 },
        0,
    );
    assert!(s.step_intent(&none, Phase::Optimistic).is_err());
    let two = Intent::new(
        Uuid::now_v7(),
        "c",
        "u",
        3,
        TicketEvent::Book { seats: 2 },
        0,
    );
    assert_eq!(
        s.step_intent(&two, Phase::Authoritative)
            .unwrap()
            .context
            .seats,
        2
    );
}
