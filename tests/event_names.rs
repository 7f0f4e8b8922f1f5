//! `#[derive(Event)]` type names equal the tags serde writes, for every rename rule.

use sai::Event;
use serde::{Deserialize, Serialize};

macro_rules! rule_enum {
    ($name:ident, $rule:literal) => {
        #[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = $rule)]
        enum $name {
            MarkDone,
            AddHttpLabel {
                label: String,
            },
            #[serde(rename = "legacy.reset")]
            Reset,
            #[event(version = 3)]
            Move {
                to: i32,
            },
        }

        impl $name {
            fn all() -> Vec<Self> {
                vec![
                    Self::MarkDone,
                    Self::AddHttpLabel { label: "l".into() },
                    Self::Reset,
                    Self::Move { to: 1 },
                ]
            }
        }
    };
}

rule_enum!(Lower, "lowercase");
rule_enum!(Upper, "UPPERCASE");
rule_enum!(Pascal, "PascalCase");
rule_enum!(Camel, "camelCase");
rule_enum!(Snake, "snake_case");
rule_enum!(ScreamingSnake, "SCREAMING_SNAKE_CASE");
rule_enum!(Kebab, "kebab-case");
rule_enum!(ScreamingKebab, "SCREAMING-KEBAB-CASE");

fn check<E: Event + PartialEq>(all: Vec<E>) -> Vec<&'static str> {
    for e in &all {
        let json = serde_json::to_value(e).unwrap();
        assert_eq!(json["type"], e.event_type(), "{json}");
        let back: E = serde_json::from_value(json).unwrap();
        assert_eq!(&back, e);
    }
    assert_eq!(E::VARIANTS, ["MarkDone", "AddHttpLabel", "Reset", "Move"]);
    assert_eq!(E::VERSIONS, [1, 1, 1, 3]);
    E::TYPES.to_vec()
}

#[test]
fn type_names_match_serde_for_every_rule() {
    assert_eq!(check(Lower::all())[..2], ["markdone", "addhttplabel"]);
    assert_eq!(check(Upper::all())[..2], ["MARKDONE", "ADDHTTPLABEL"]);
    assert_eq!(check(Pascal::all())[..2], ["MarkDone", "AddHttpLabel"]);
    assert_eq!(check(Camel::all())[..2], ["markDone", "addHttpLabel"]);
    assert_eq!(check(Snake::all())[..2], ["mark_done", "add_http_label"]);
    assert_eq!(
        check(ScreamingSnake::all())[..2],
        ["MARK_DONE", "ADD_HTTP_LABEL"]
    );
    assert_eq!(check(Kebab::all())[..2], ["mark-done", "add-http-label"]);
    assert_eq!(
        check(ScreamingKebab::all())[..2],
        ["MARK-DONE", "ADD-HTTP-LABEL"]
    );
    assert_eq!(check(Kebab::all())[2], "legacy.reset");
}

#[test]
fn versions_and_lookup() {
    let m = Snake::Move { to: 2 };
    assert_eq!(
        (m.event_type(), m.event_version(), m.type_index()),
        ("move", 3, 3)
    );
    assert_eq!(Snake::index_of_type("add_http_label"), Some(1));
    assert_eq!(Snake::index_of_type("AddHttpLabel"), None);
}
