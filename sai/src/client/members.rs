//! Membership intents on the device (a shared domain, `#[domain(shared)]`).
//!
//! The rule: a membership event is logged in the domain's local log like any intent, with
//! the client's next sequence number, so the server decides it in order with the client's
//! other intents (a join, then the edit it allows); the machine never replays it (the
//! domain's reads of the log leave membership intents out). It is predicted before it is logged, with the same
//! [`Members::apply`](crate::membership::Members::apply) the server runs, on the members
//! the device last downloaded with its pending membership intents applied (so a pending
//! join already lets the user edit, as it will on the server); it is uploaded with the domain's intents and leaves the log
//! once its client's acknowledgement covers it (its effect is in the downloaded `members`,
//! or its rejection is downloaded and surfaced like any other).

use uuid::Uuid;

use super::error::{ClientError, Result, SendError};
use super::identity::ClientIdentity;
use super::store::ClientStore;
use crate::domain::Domain;
use crate::intent::{RawIntent, now_millis};
use crate::membership::{MemberEvent, Members};
use crate::rejection::Rejection;

impl ClientStore {
    /// Logs `event` on the shared entity `entity_id` as `identity`'s user, for upload.
    ///
    /// Refused before anything is written when the device can already tell the server
    /// would refuse it: the user is not in the group it last downloaded
    /// ([`Rejection::NotMember`]) or [`Members::apply`](crate::membership::Members::apply)
    /// refuses it ([`Rejection::MembershipRefused`]). An entity the device holds no server
    /// row of yet is not predicted. [`ClientError::NotShared`] for a domain that is not
    /// shared.
    pub fn send_membership<D: Domain>(
        &self,
        identity: &ClientIdentity,
        entity_id: Uuid,
        event: MemberEvent,
    ) -> Result<RawIntent, SendError> {
        if !D::SHARED {
            return Err(ClientError::NotShared(D::NAME).into());
        }
        let sql = &self.registered::<D>()?.sql;
        let user = identity.user_id.as_str();
        self.write(|tx, _| {
            if let Some(members) = sql.predicted_members(tx, entity_id)? {
                let refused = |rejection| Err(SendError::Rejected(rejection));
                if !members.reads(user) {
                    return refused(Rejection::NotMember {
                        event_type: event.event_type().to_owned(),
                        user_id: user.to_owned(),
                    });
                }
                if let Err(refusal) = members.apply(user, &event) {
                    return refused(Rejection::MembershipRefused {
                        event_type: event.event_type().to_owned(),
                        user_id: user.to_owned(),
                        refusal,
                    });
                }
            }
            let client = identity.client_id.as_str();
            let seq = sql.next_seq(tx, client)?;
            let raw = event.to_raw(entity_id, client, user, seq, now_millis());
            sql.insert_raw_intent(tx, &raw)?;
            Ok(raw)
        })
    }

    /// The members of the shared entity `entity_id` as the device predicts them: the
    /// server's, with this device's pending membership intents applied. `None` for a domain
    /// that is not shared, or an entity the server has not sent yet.
    pub fn members<D: Domain>(&self, entity_id: Uuid) -> Result<Option<Members>> {
        let sql = &self.registered::<D>()?.sql;
        self.read(|c| sql.predicted_members(c, entity_id))
    }

    /// The membership intents in the log, by client then sequence number, as uploaded.
    pub fn logged_member_intents<D: Domain>(&self) -> Result<Vec<RawIntent>> {
        let sql = &self.registered::<D>()?.sql;
        self.read(|c| sql.member_intents(c))
    }
}
