//! Rejections: the structured "no" of a step, stable enough to store, sync and show.

use serde::{Deserialize, Serialize};

use crate::intent::DecodeError;

/// A guard that failed while its event was being stepped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedGuard {
    /// The guard's name.
    pub guard: String,
    /// The reason the domain gives for it.
    pub reason: String,
}

/// Why an intent was not applied. Serialized with a stable `code` tag:
/// `{"code":"guard_failed","state":"Active",…}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rejection {
    /// No transition for this event leaves this state.
    #[error("{event_type} is not accepted in state {state}")]
    NotAccepted {
        /// The state the entity was in.
        state: String,
        /// The event's type name.
        event_type: String,
    },
    /// Transitions exist, but every candidate's guard failed.
    #[error("{event_type} rejected in state {state}: {}", first_reason(.guards))]
    GuardFailed {
        /// The state the entity was in.
        state: String,
        /// The event's type name.
        event_type: String,
        /// Every candidate's failed guard, in the order tried.
        guards: Vec<FailedGuard>,
    },
    /// The entity reached a final state; it accepts no more events.
    #[error("{event_type} rejected: the entity is in final state {state}")]
    FinalState {
        /// The final state.
        state: String,
        /// The event's type name.
        event_type: String,
    },
    /// The intent names an event type this domain does not have.
    #[error("unknown event type {event_type}")]
    UnknownEventType {
        /// The type name found.
        event_type: String,
    },
    /// The intent's payload version is not the one this build understands.
    #[error("{event_type} version {found} is not supported (this build understands {supported})")]
    UnsupportedEventVersion {
        /// The type name.
        event_type: String,
        /// The version found.
        found: u32,
        /// The version understood.
        supported: u32,
    },
    /// The intent's payload does not decode.
    #[error("malformed {event_type} payload: {detail}")]
    MalformedPayload {
        /// The type name.
        event_type: String,
        /// What was wrong.
        detail: String,
    },
    /// The machine's eventless (`always`) transitions kept firing past
    /// [`MAX_ALWAYS_STEPS`](crate::MAX_ALWAYS_STEPS) after the event: a cycle through guarded
    /// `always` transitions that the compiler could not see. The step changed nothing.
    #[error(
        "{event_type} rejected: `always` transitions from state {state} did not settle after {steps} steps"
    )]
    AlwaysLoop {
        /// The state the entity was in before the event.
        state: String,
        /// The event's type name.
        event_type: String,
        /// How many `always` transitions were taken before giving up.
        steps: usize,
    },
    /// The entity belongs to another user, and the server lets only its owner change it.
    #[error("{event_type} rejected: the entity belongs to another user than {user_id}")]
    NotOwner {
        /// The event's type name.
        event_type: String,
        /// The acting user.
        user_id: String,
    },
    /// The entity is shared and the acting user is not one of its members who joined (never
    /// invited, removed, or invited without having joined yet).
    #[error("{event_type} rejected: {user_id} is not a member of this entity's group")]
    NotMember {
        /// The event's type name.
        event_type: String,
        /// The acting user.
        user_id: String,
    },
    /// The acting user is a member whose role only reads (a viewer).
    #[error("{event_type} rejected: {user_id} is a {role} and may only read")]
    ReadOnly {
        /// The event's type name.
        event_type: String,
        /// The acting user.
        user_id: String,
        /// The user's role.
        role: crate::membership::Role,
    },
    /// A membership event the group's rules refuse ([`Members::apply`](crate::membership::Members::apply)).
    #[error("{event_type} rejected: {refusal}")]
    MembershipRefused {
        /// The event's type name.
        event_type: String,
        /// The acting user.
        user_id: String,
        /// Why.
        refusal: crate::membership::MembershipRefusal,
    },
    /// A guard, an assign or the event's decoding panicked on this intent (a bug in domain
    /// code, met with an input nobody foresaw). The entity is left as it was.
    #[error("{event_type} could not be decided: domain code panicked: {message}")]
    StepPanicked {
        /// The event's type name.
        event_type: String,
        /// The panic's message.
        message: String,
    },
    /// The step produced a value that a store cannot hold (a NUL character in text, a
    /// non-finite real). Checked the same way for every store, so every store rejects the
    /// same intents.
    #[error("{event_type} rejected: column `{column}` cannot be stored: {problem}")]
    UnstorableValue {
        /// The event's type name.
        event_type: String,
        /// The projection column holding the value.
        column: String,
        /// What is wrong with it (or the database's own message).
        problem: String,
    },
}

fn first_reason(guards: &[FailedGuard]) -> &str {
    guards.first().map_or("guard failed", |g| g.reason.as_str())
}

impl Rejection {
    /// The stable machine-readable code, equal to the serialized `code` tag.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::NotAccepted { .. } => "not_accepted",
            Rejection::GuardFailed { .. } => "guard_failed",
            Rejection::FinalState { .. } => "final_state",
            Rejection::UnknownEventType { .. } => "unknown_event_type",
            Rejection::UnsupportedEventVersion { .. } => "unsupported_event_version",
            Rejection::MalformedPayload { .. } => "malformed_payload",
            Rejection::NotOwner { .. } => "not_owner",
            Rejection::NotMember { .. } => "not_member",
            Rejection::ReadOnly { .. } => "read_only",
            Rejection::MembershipRefused { .. } => "membership_refused",
            Rejection::StepPanicked { .. } => "step_panicked",
            Rejection::UnstorableValue { .. } => "unstorable_value",
            Rejection::AlwaysLoop { .. } => "always_loop",
        }
    }

    /// A human-readable message (the `Display` text).
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The state the entity was in, where the step got that far.
    pub fn state(&self) -> Option<&str> {
        match self {
            Rejection::NotAccepted { state, .. }
            | Rejection::GuardFailed { state, .. }
            | Rejection::FinalState { state, .. }
            | Rejection::AlwaysLoop { state, .. } => Some(state),
            _ => None,
        }
    }
}

impl From<DecodeError> for Rejection {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::UnknownEventType { event_type } => {
                Rejection::UnknownEventType { event_type }
            }
            DecodeError::UnsupportedEventVersion {
                event_type,
                found,
                supported,
            } => Rejection::UnsupportedEventVersion {
                event_type,
                found,
                supported,
            },
            DecodeError::MalformedPayload { event_type, detail } => {
                Rejection::MalformedPayload { event_type, detail }
            }
        }
    }
}
