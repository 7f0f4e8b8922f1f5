//! The intent envelope: one user action, as it is logged, uploaded and decided.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::Event;

pub(crate) mod row;

/// Milliseconds since the Unix epoch.
pub type Timestamp = i64;

/// The wall clock as a [`Timestamp`], for bookkeeping columns (`updated_at`, `processed_at`,
/// …). Domain logic never reads it: guards see the intent's own `created_at`.
pub(crate) fn now_millis() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| {
            Timestamp::try_from(d.as_millis()).unwrap_or(Timestamp::MAX)
        })
}

/// Which side runs a step. Guards may be stricter on the authoritative side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The client's optimistic step, before the server has decided.
    Optimistic,
    /// The server's authoritative step.
    Authoritative,
}

/// One user action on one entity, with the metadata guards and assigns may read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "E: Event")]
pub struct Intent<E> {
    /// Time-ordered (v7) id of the intent.
    pub id: Uuid,
    /// The entity the intent acts on.
    pub entity_id: Uuid,
    /// The client (device / installation) that produced it.
    pub client_id: String,
    /// The user on whose behalf it was produced.
    pub user_id: String,
    /// Per-client, per-domain sequence number, starting at 1 with no gaps.
    pub seq: u64,
    /// The payload version of `event`.
    pub event_version: u32,
    /// The event itself.
    pub event: E,
    /// When the client created the intent.
    pub created_at: Timestamp,
}

impl<E: Event> Intent<E> {
    /// A new intent with a fresh v7 id and the event's current version.
    pub fn new(
        entity_id: Uuid,
        client_id: impl Into<String>,
        user_id: impl Into<String>,
        seq: u64,
        event: E,
        created_at: Timestamp,
    ) -> Self {
        Intent {
            id: Uuid::now_v7(),
            entity_id,
            client_id: client_id.into(),
            user_id: user_id.into(),
            seq,
            event_version: event.event_version(),
            event,
            created_at,
        }
    }

    /// The metadata a guard or assign sees when this intent is stepped in `phase`.
    pub fn meta(&self, phase: Phase) -> IntentMeta<'_> {
        IntentMeta {
            intent_id: self.id,
            entity_id: self.entity_id,
            client_id: &self.client_id,
            user_id: &self.user_id,
            seq: self.seq,
            created_at: self.created_at,
            phase,
            owner_id: None,
            member_role: None,
        }
    }

    /// The storage / wire form of this intent.
    pub fn to_raw(&self) -> Result<RawIntent, serde_json::Error> {
        Ok(RawIntent {
            id: self.id,
            entity_id: self.entity_id,
            client_id: self.client_id.clone(),
            user_id: self.user_id.clone(),
            seq: self.seq,
            event_type: self.event.event_type().to_owned(),
            event_version: self.event_version,
            payload: serde_json::to_string(&self.event)?,
            created_at: self.created_at,
        })
    }
}

/// What guards and assigns may read besides the context and the event: deterministic inputs
/// (time, identity, phase) that come with the intent, never from the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntentMeta<'a> {
    /// The intent's id.
    pub intent_id: Uuid,
    /// The entity's id.
    pub entity_id: Uuid,
    /// The producing client.
    pub client_id: &'a str,
    /// The acting user.
    pub user_id: &'a str,
    /// The intent's per-client sequence number.
    pub seq: u64,
    /// When the client created the intent.
    pub created_at: Timestamp,
    /// Optimistic client step or authoritative server step.
    pub phase: Phase,
    /// The entity's owner (the user whose intent created it), `None` while it does not
    /// exist yet. Set by the runtime on both sides; [`Intent::meta`] alone leaves it `None`.
    pub owner_id: Option<&'a str>,
    /// The acting user's role in a shared entity's group (`#[domain(shared)]`), `None` for
    /// an entity that is not shared or does not exist yet. Set by the runtime on both sides,
    /// so the device predicts a role-dependent guard as the server decides it; read it with
    /// [`IntentMeta::role`].
    pub member_role: Option<crate::membership::Role>,
}

impl<'a> IntentMeta<'a> {
    /// The same metadata with the entity's owner.
    pub fn with_owner(mut self, owner_id: Option<&'a str>) -> Self {
        self.owner_id = owner_id;
        self
    }

    /// The same metadata with the acting user's role in the entity's group.
    pub fn with_role(mut self, role: Option<crate::membership::Role>) -> Self {
        self.member_role = role;
        self
    }

    /// The acting user's role in a shared entity's group (see [`IntentMeta::member_role`]).
    pub fn role(&self) -> Option<crate::membership::Role> {
        self.member_role
    }
}

/// An intent as stored and transported: the event is still JSON text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawIntent {
    /// Time-ordered (v7) id of the intent.
    pub id: Uuid,
    /// The entity the intent acts on.
    pub entity_id: Uuid,
    /// The producing client.
    pub client_id: String,
    /// The acting user.
    pub user_id: String,
    /// Per-client sequence number.
    pub seq: u64,
    /// Wire type name of the event (`"CREATE"`).
    pub event_type: String,
    /// Payload version.
    pub event_version: u32,
    /// The event as JSON, including its `type` tag.
    pub payload: String,
    /// When the client created the intent.
    pub created_at: Timestamp,
}

/// Why a stored or uploaded intent does not decode into the domain's event type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// No variant of the event enum has this type name.
    #[error("unknown event type `{event_type}`")]
    UnknownEventType {
        /// The type name found.
        event_type: String,
    },
    /// The variant exists but not at this payload version.
    #[error("event `{event_type}` has version {found}, this build understands version {supported}")]
    UnsupportedEventVersion {
        /// The type name.
        event_type: String,
        /// The version found.
        found: u32,
        /// The version this build understands.
        supported: u32,
    },
    /// The payload is not valid JSON for this event type, or its tag disagrees with `event_type`.
    #[error("malformed payload for event `{event_type}`: {detail}")]
    MalformedPayload {
        /// The type name.
        event_type: String,
        /// What was wrong.
        detail: String,
    },
}

impl RawIntent {
    /// Decodes the payload, checking the type name and version first.
    pub fn decode<E: Event>(&self) -> Result<Intent<E>, DecodeError> {
        // An upcast payload is in the current shape: the intent carries the current version,
        // so that re-encoding it (an upload) never labels the new shape with the old number.
        let event = self.decode_event::<E>()?;
        Ok(Intent {
            id: self.id,
            entity_id: self.entity_id,
            client_id: self.client_id.clone(),
            user_id: self.user_id.clone(),
            seq: self.seq,
            event_version: event.event_version(),
            event,
            created_at: self.created_at,
        })
    }

    /// Decodes only the event, as [`decode`](Self::decode) does, without copying the
    /// envelope: pair it with [`meta`](Self::meta) to step the intent.
    pub fn decode_event<E: Event>(&self) -> Result<E, DecodeError> {
        decode_event(&self.event_type, self.event_version, &self.payload)
    }

    /// The metadata a guard or assign sees when this intent is stepped in `phase`.
    pub fn meta(&self, phase: Phase) -> IntentMeta<'_> {
        IntentMeta {
            intent_id: self.id,
            entity_id: self.entity_id,
            client_id: &self.client_id,
            user_id: &self.user_id,
            seq: self.seq,
            created_at: self.created_at,
            phase,
            owner_id: None,
            member_role: None,
        }
    }
}

/// Decodes an event payload, checking its type name and version first.
pub(crate) fn decode_event<E: Event>(
    event_type: &str,
    version: u32,
    payload: &str,
) -> Result<E, DecodeError> {
    let index = E::index_of_type(event_type).ok_or_else(|| DecodeError::UnknownEventType {
        event_type: event_type.to_owned(),
    })?;
    let supported = E::VERSIONS[index];
    let unsupported = || DecodeError::UnsupportedEventVersion {
        event_type: event_type.to_owned(),
        found: version,
        supported,
    };
    if version > supported {
        return Err(unsupported());
    }
    let malformed = |detail: String| DecodeError::MalformedPayload {
        event_type: event_type.to_owned(),
        detail,
    };
    let event: E = if version == supported {
        serde_json::from_str(payload).map_err(|e| malformed(e.to_string()))?
    } else {
        // An older payload (an intent logged or queued by an earlier app) is upcast one
        // version at a time through the variant's declared upcaster before it is read.
        let mut value: serde_json::Value =
            serde_json::from_str(payload).map_err(|e| malformed(e.to_string()))?;
        for from in version..supported {
            value = match E::upcast(index, from, value) {
                None => return Err(unsupported()),
                Some(Ok(next)) => next,
                Some(Err(why)) => {
                    return Err(malformed(format!(
                        "upcasting from version {from} to {}: {why}",
                        from + 1
                    )));
                }
            };
        }
        serde_json::from_value(value).map_err(|e| malformed(e.to_string()))?
    };
    if event.type_index() != index {
        return Err(malformed(format!(
            "payload is tagged `{}`",
            event.event_type()
        )));
    }
    Ok(event)
}
