//! Versions 1, 2 and 3 of one domain (`ticket`), as the `evolve` example ships them: `v2`
//! adds an optional field (a new column) and an event, and upcasts a version-1 payload; `v3`
//! renames a field's column, adds required fields with declared defaults and drops a column.
//! The test suite (`tests/evolution.rs`) includes this file too, so both use one definition.

pub mod v1 {
    use sai::{Domain, Event, IntentMeta, machine};
    use serde::{Deserialize, Serialize};

    /// Version 1 of the ticket.
    #[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
    #[domain(name = "ticket", machine = TicketMachine)]
    pub struct Ticket {
        pub title: String,
    }

    #[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum TicketEvent {
        Open { title: String },
        Rename { title: String },
    }

    pub fn set_title(t: &mut Ticket, e: &TicketEvent, _: &IntentMeta) {
        let (TicketEvent::Open { title } | TicketEvent::Rename { title }) = e;
        t.title = title.clone();
    }

    #[machine(domain = Ticket, event = TicketEvent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum TicketMachine {
        #[initial]
        #[on(Open => Opened, assign = set_title)]
        New,
        #[on(Rename, assign = set_title)]
        Opened,
    }
}

pub mod v2 {
    use sai::{Domain, Event, IntentMeta, machine};
    use serde::{Deserialize, Serialize};
    use serde_json::Value;

    /// Version 2: a new optional field and an event that sets it.
    #[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
    #[domain(name = "ticket", machine = TicketMachine)]
    pub struct Ticket {
        pub title: String,
        pub sla_hours: Option<i64>,
    }

    #[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum TicketEvent {
        /// Version 2 renamed `title` to `summary`, version 3 added `urgent`.
        #[event(version = 3, upcast = upcast_open)]
        Open {
            summary: String,
            urgent: bool,
        },
        Rename {
            title: String,
        },
        SetSla {
            hours: Option<i64>,
        },
    }

    /// One step of `Open`'s chain: the payload of version `from` as version `from + 1`.
    pub fn upcast_open(from: u32, mut payload: Value) -> Result<Value, String> {
        let fields = payload.as_object_mut().ok_or("not an object")?;
        match from {
            1 => {
                let title = fields.remove("title").ok_or("no title")?;
                fields.insert("summary".into(), title);
            }
            2 => {
                fields.insert("urgent".into(), Value::Bool(false));
            }
            _ => return Err(format!("no step from version {from}")),
        }
        Ok(payload)
    }

    pub fn apply(t: &mut Ticket, e: &TicketEvent, _: &IntentMeta) {
        match e {
            TicketEvent::Open { summary: title, .. } | TicketEvent::Rename { title } => {
                t.title = title.clone()
            }
            TicketEvent::SetSla { hours } => t.sla_hours = *hours,
        }
    }

    #[machine(domain = Ticket, event = TicketEvent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum TicketMachine {
        #[initial]
        #[on(Open => Opened, assign = apply)]
        New,
        #[on(Rename, assign = apply)]
        #[on(SetSla, assign = apply)]
        Opened,
    }
}

pub mod v3 {
    use sai::{Domain, Event, IntentMeta, machine};
    use serde::{Deserialize, Serialize};

    /// Version 3: `title` becomes `summary` (its column is renamed, with its data), required
    /// fields arrive with declared defaults, and `sla_hours` is gone, its column dropped.
    #[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
    #[domain(name = "ticket", machine = TicketMachine, dropped = ["sla_hours"])]
    pub struct Ticket {
        #[domain(was = "title")]
        pub summary: String,
        #[domain(default = 3)]
        pub priority: i64,
        #[domain(default = "triage")]
        pub queue: String,
        #[domain(default)]
        pub escalated: bool,
    }

    #[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum TicketEvent {
        #[event(version = 3, upcast = super::v2::upcast_open)]
        Open {
            summary: String,
            urgent: bool,
        },
        Rename {
            title: String,
        },
        Prioritize {
            priority: i64,
        },
    }

    pub fn apply(t: &mut Ticket, e: &TicketEvent, _: &IntentMeta) {
        match e {
            TicketEvent::Open { summary, urgent } => {
                t.summary = summary.clone();
                t.escalated = *urgent;
            }
            TicketEvent::Rename { title } => t.summary = title.clone(),
            TicketEvent::Prioritize { priority } => t.priority = *priority,
        }
    }

    #[machine(domain = Ticket, event = TicketEvent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum TicketMachine {
        #[initial]
        #[on(Open => Opened, assign = apply)]
        New,
        #[on(Rename, assign = apply)]
        #[on(Prioritize, assign = apply)]
        Opened,
    }
}
