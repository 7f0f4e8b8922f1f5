//! What the server decided for each intent, as the processor reports it.

use uuid::Uuid;

use crate::intent::RawIntent;

use super::decisions::Decisions;

/// What the server decided for one intent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome {
    /// The intent.
    pub intent_id: Uuid,
    /// Its entity.
    pub entity_id: Uuid,
    /// The client that sent it.
    pub client_id: String,
    /// Its sequence number.
    pub seq: u64,
    /// Accepted or rejected.
    pub verdict: Verdict,
}

/// Accepted (with the entity's state and version after it) or rejected (with the code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Archived; the projection moved to this state and version.
    Accepted {
        /// The state's name after the step.
        state: &'static str,
        /// The entity's version after the step.
        version: u64,
    },
    /// Recorded as a rejection with this [`Rejection::code`](crate::Rejection::code).
    Rejected {
        /// The stable rejection code.
        code: &'static str,
    },
}

impl Outcome {
    /// A batch's outcomes in decision order: by client, then sequence number, which is the
    /// order `decide` walks them.
    pub(crate) fn of(d: &Decisions) -> Vec<Outcome> {
        let outcome = |i: &RawIntent, verdict| Outcome {
            intent_id: i.id,
            entity_id: i.entity_id,
            client_id: i.client_id.clone(),
            seq: i.seq,
            verdict,
        };
        let accepted = d.accepted.iter().map(|a| {
            let verdict = Verdict::Accepted {
                state: a.state,
                version: a.version,
            };
            outcome(&a.intent, verdict)
        });
        let rejected = d
            .rejected
            .iter()
            .map(|r| outcome(&r.intent, Verdict::Rejected { code: r.code }));
        let mut all: Vec<Outcome> = accepted.chain(rejected).collect();
        all.sort_unstable_by(|a, b| (&a.client_id, a.seq).cmp(&(&b.client_id, b.seq)));
        all
    }
}
