//! Admission: which intents of an upload are queued. Pure: the facts a store read about the
//! upload's clients and intents go in, the plan to write (or the refusal) comes out, so both
//! stores admit by the same rules and the rules are tested without a database.
//!
//! The rule: an upload is admitted whole or refused whole. Its envelope must be one the
//! library produces ([`check_upload`]); each client is bound to the first user it uploads for
//! and refused to any other; an intent at or below its client's acknowledgement was decided
//! already and is a duplicate (unless another intent was decided under its (client, seq):
//! [`IngestError::SequenceTaken`]), as is one already queued as it is; an intent whose id is
//! stored for another intent (decided, or queued under another client or sequence number), or
//! whose (client, seq) is queued under another id, is refused, since storing it would break
//! exactly-once.

use std::collections::{BTreeSet, HashMap, HashSet};

use uuid::Uuid;

use crate::intent::RawIntent;

use super::error::IngestError;

/// The longest client id accepted.
pub const MAX_CLIENT_ID_LEN: usize = 200;

/// What an upload changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngestReport {
    /// Intents newly queued.
    pub inserted: usize,
    /// Intents already pending or already decided: stored once, skipped now.
    pub duplicates: usize,
}

impl IngestReport {
    /// The report of an upload of `upload_len` intents of which `inserted` were queued: the
    /// rest were stored already (a store counts what it inserted, which also covers an
    /// intent a concurrent upload queued first).
    pub fn of_upload(upload_len: usize, inserted: usize) -> Self {
        IngestReport {
            inserted,
            duplicates: upload_len.saturating_sub(inserted),
        }
    }
}

/// The user a client is bound to and how far its intents were decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientBinding {
    /// The user the client was first seen uploading for.
    pub user_id: String,
    /// The last sequence number decided (0: none yet).
    pub last_seq: u64,
}

/// Where a stored intent is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntentPlace {
    /// Pending in the queue.
    Queued,
    /// Accepted and archived.
    Archived,
    /// Rejected.
    Rejected,
}

/// A stored intent that shares an id or a (client, seq) with an intent of the upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownIntent {
    /// Its id.
    pub id: Uuid,
    /// Its client.
    pub client_id: String,
    /// Its sequence number.
    pub seq: u64,
    /// Where it is.
    pub place: IntentPlace,
}

/// What a store read about an upload, in the transaction that will write its plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdmissionFacts {
    /// The binding of each client of the upload that was seen before; a client absent here
    /// is new.
    pub clients: HashMap<String, ClientBinding>,
    /// Every stored intent (queued, archived or rejected) with the id or the (client, seq) of
    /// an intent of the upload.
    pub known: Vec<KnownIntent>,
}

/// What to write for an admitted upload, in the same transaction as the facts were read.
/// Owned (positions, not borrows), so a store's future need not carry the upload's lifetime
/// through the policy's signature.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdmissionPlan {
    /// New clients, to bind to the uploading user (with nothing decided yet).
    pub bind: Vec<String>,
    /// The positions in the upload of the intents to queue, in upload order.
    pub queue: Vec<usize>,
    /// Intents skipped as already queued or already decided.
    pub duplicates: usize,
}

impl AdmissionPlan {
    /// The intents of `upload` to queue, in upload order.
    pub fn queued<'a>(
        &'a self,
        upload: &'a [RawIntent],
    ) -> impl Iterator<Item = &'a RawIntent> + Clone + 'a {
        self.queue.iter().filter_map(|&i| upload.get(i))
    }
}

/// Checks the envelope of every intent of an upload by `user_id`, and that the upload agrees
/// with itself (one id is one (client, seq), and one (client, seq) one id); payloads are not
/// decoded here: an undecodable payload is queued and rejected by the processor with its own
/// code, so that the client's sequence still advances.
pub fn check_upload(user_id: &str, intents: &[RawIntent]) -> Result<(), IngestError> {
    for i in intents {
        let malformed = |problem: &str| IngestError::Malformed {
            intent_id: i.id,
            problem: problem.to_owned(),
        };
        if i.user_id != user_id {
            return Err(IngestError::WrongUser {
                intent_id: i.id,
                claimed: i.user_id.clone(),
                user_id: user_id.to_owned(),
            });
        }
        if i.client_id.is_empty() || i.client_id.len() > MAX_CLIENT_ID_LEN {
            return Err(malformed("client_id must have 1 to 200 bytes"));
        }
        if i.seq == 0 || i.seq > i64::MAX as u64 {
            return Err(malformed("seq must be between 1 and 2^63-1"));
        }
        if i.event_type.is_empty() {
            return Err(malformed("event_type is empty"));
        }
    }
    let mut by_id = HashMap::new();
    let mut by_seq = HashMap::new();
    for i in intents {
        let seq = (i.client_id.as_str(), i.seq);
        if *by_id.entry(i.id).or_insert(seq) != seq || *by_seq.entry(seq).or_insert(i.id) != i.id {
            return Err(IngestError::id_conflict(i));
        }
    }
    Ok(())
}

/// Admits an upload by `user_id` against what is stored (see the module docs): the plan to
/// write, or why the whole upload is refused. Clients are checked first, in client id order,
/// then intents in upload order; the first failure is returned.
pub fn admit(
    user_id: &str,
    upload: &[RawIntent],
    facts: &AdmissionFacts,
) -> Result<AdmissionPlan, IngestError> {
    check_upload(user_id, upload)?;
    let mut plan = AdmissionPlan::default();
    let clients: BTreeSet<&str> = upload.iter().map(|i| i.client_id.as_str()).collect();
    for client in clients {
        match facts.clients.get(client) {
            Some(bound) if bound.user_id != user_id => {
                return Err(IngestError::Unauthorized {
                    client_id: client.to_owned(),
                    user_id: user_id.to_owned(),
                });
            }
            Some(_) => {}
            None => plan.bind.push(client.to_owned()),
        }
    }
    let mut by_id: HashMap<Uuid, Vec<&KnownIntent>> = HashMap::new();
    let mut queued_at: HashMap<(&str, u64), Uuid> = HashMap::new();
    for k in &facts.known {
        by_id.entry(k.id).or_default().push(k);
        if k.place == IntentPlace::Queued {
            queued_at.insert((k.client_id.as_str(), k.seq), k.id);
        }
    }
    let mut planned: HashSet<Uuid> = HashSet::new();
    for (position, i) in upload.iter().enumerate() {
        let last_seq = facts.clients.get(&i.client_id).map_or(0, |b| b.last_seq);
        if i.seq <= last_seq {
            // Decided already: the same intent again is a duplicate, another intent under
            // the same (client, seq) a reused sequence number that must not be dropped.
            let taken = facts.known.iter().find(|k| {
                k.place != IntentPlace::Queued
                    && k.client_id == i.client_id
                    && k.seq == i.seq
                    && k.id != i.id
            });
            if let Some(k) = taken {
                return Err(IngestError::SequenceTaken {
                    client_id: i.client_id.clone(),
                    seq: i.seq,
                    intent_id: i.id,
                    stored_intent_id: k.id,
                });
            }
            plan.duplicates += 1;
            continue;
        }
        let same = |k: &&KnownIntent| {
            k.place == IntentPlace::Queued && k.client_id == i.client_id && k.seq == i.seq
        };
        let stored = by_id.get(&i.id).map_or(&[][..], Vec::as_slice);
        let slot_taken = queued_at
            .get(&(i.client_id.as_str(), i.seq))
            .is_some_and(|id| *id != i.id);
        if slot_taken || stored.iter().any(|k| !same(k)) {
            return Err(IngestError::id_conflict(i));
        }
        // Queued already, or earlier in this upload: stored once.
        if !stored.is_empty() || !planned.insert(i.id) {
            plan.duplicates += 1;
            continue;
        }
        plan.queue.push(position);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    //! Given the stored facts, when an upload arrives, then this plan or this refusal.

    use super::*;

    const ALICE: &str = "alice";

    fn intent(client: &str, seq: u64) -> RawIntent {
        RawIntent {
            id: Uuid::now_v7(),
            entity_id: Uuid::now_v7(),
            client_id: client.to_owned(),
            user_id: ALICE.to_owned(),
            seq,
            event_type: "CREATE".to_owned(),
            event_version: 1,
            payload: "{\"type\":\"CREATE\"}".to_owned(),
            created_at: 0,
        }
    }

    /// The stored facts of a test.
    #[derive(Default)]
    struct Given(AdmissionFacts);

    fn given() -> Given {
        Given::default()
    }

    impl Given {
        fn client(mut self, client: &str, user: &str, last_seq: u64) -> Self {
            let binding = ClientBinding {
                user_id: user.to_owned(),
                last_seq,
            };
            self.0.clients.insert(client.to_owned(), binding);
            self
        }

        fn stored(mut self, id: Uuid, client: &str, seq: u64, place: IntentPlace) -> Self {
            self.0.known.push(KnownIntent {
                id,
                client_id: client.to_owned(),
                seq,
                place,
            });
            self
        }

        fn when(self, upload: &[RawIntent]) -> Then {
            Then(admit(ALICE, upload, &self.0))
        }
    }

    /// What admission made of the upload.
    struct Then(Result<AdmissionPlan, IngestError>);

    impl Then {
        fn then_plan(self, bind: &[&str], queue: &[usize], duplicates: usize) {
            let plan = self.0.expect("admitted");
            assert_eq!(plan.bind, bind);
            assert_eq!(plan.queue, queue);
            assert_eq!(plan.duplicates, duplicates);
        }

        fn then_refused(self, expected: impl FnOnce(&IngestError) -> bool) {
            let err = self.0.expect_err("refused");
            assert!(expected(&err), "{err:?}");
        }

        fn then_conflict_on(self, intent: &RawIntent) {
            self.then_refused(|e| {
                matches!(e, IngestError::IdConflict { intent_id, .. } if *intent_id == intent.id)
            });
        }
    }

    #[test]
    fn a_new_client_is_bound_and_its_intents_queued() {
        let upload = [intent("c1", 1), intent("c1", 2)];
        given().when(&upload).then_plan(&["c1"], &[0, 1], 0);
    }

    #[test]
    fn a_client_bound_to_its_user_is_not_bound_again() {
        let upload = [intent("c1", 1)];
        given()
            .client("c1", ALICE, 0)
            .when(&upload)
            .then_plan(&[], &[0], 0);
    }

    #[test]
    fn a_client_bound_to_another_user_refuses_the_upload() {
        let upload = [intent("c0", 1), intent("c1", 1)];
        given()
            .client("c1", "bob", 0)
            .when(&upload)
            .then_refused(|e| {
                matches!(e, IngestError::Unauthorized { client_id, user_id }
                    if client_id == "c1" && user_id == ALICE)
            });
    }

    #[test]
    fn intents_at_or_below_the_acknowledgement_are_duplicates() {
        let upload = [intent("c1", 1), intent("c1", 2), intent("c1", 3)];
        given()
            .client("c1", ALICE, 2)
            .when(&upload)
            .then_plan(&[], &[2], 2);
    }

    #[test]
    fn an_intent_queued_as_it_is_is_a_duplicate() {
        let upload = [intent("c1", 1)];
        given()
            .client("c1", ALICE, 0)
            .stored(upload[0].id, "c1", 1, IntentPlace::Queued)
            .when(&upload)
            .then_plan(&[], &[], 1);
    }

    #[test]
    fn an_intent_repeated_in_the_upload_is_queued_once() {
        let one = intent("c1", 1);
        given()
            .when(&[one.clone(), one])
            .then_plan(&["c1"], &[0], 1);
    }

    #[test]
    fn an_id_already_decided_conflicts() {
        for place in [IntentPlace::Archived, IntentPlace::Rejected] {
            let upload = [intent("c1", 1)];
            given()
                .client("c1", ALICE, 0)
                .stored(upload[0].id, "c1", 1, place)
                .when(&upload)
                .then_conflict_on(&upload[0]);
        }
    }

    #[test]
    fn an_id_queued_under_another_client_or_seq_conflicts() {
        for (client, seq) in [("c1", 1), ("c2", 2)] {
            let upload = [intent("c1", 2)];
            given()
                .client("c1", ALICE, 0)
                .stored(upload[0].id, client, seq, IntentPlace::Queued)
                .when(&upload)
                .then_conflict_on(&upload[0]);
        }
    }

    #[test]
    fn a_client_seq_queued_under_another_id_conflicts() {
        let upload = [intent("c1", 1)];
        given()
            .client("c1", ALICE, 0)
            .stored(Uuid::now_v7(), "c1", 1, IntentPlace::Queued)
            .when(&upload)
            .then_conflict_on(&upload[0]);
    }

    #[test]
    fn another_intent_under_a_decided_client_seq_is_refused_as_taken() {
        // A device restored from an older copy (or a cloned one) reuses seq 1.
        for place in [IntentPlace::Archived, IntentPlace::Rejected] {
            let upload = [intent("c1", 1)];
            let stored = Uuid::now_v7();
            given()
                .client("c1", ALICE, 1)
                .stored(stored, "c1", 1, place)
                .when(&upload)
                .then_refused(|e| {
                    matches!(e, IngestError::SequenceTaken { client_id, seq: 1, intent_id, stored_intent_id }
                        if client_id == "c1" && *intent_id == upload[0].id && *stored_intent_id == stored)
                });
        }
    }

    #[test]
    fn a_decided_intent_is_a_duplicate_before_any_conflict() {
        // A re-upload of a decided intent is a no-op even though its id is archived.
        let upload = [intent("c1", 1)];
        given()
            .client("c1", ALICE, 1)
            .stored(upload[0].id, "c1", 1, IntentPlace::Archived)
            .when(&upload)
            .then_plan(&[], &[], 1);
    }

    #[test]
    fn an_intent_for_another_user_is_refused() {
        let mut other_user = intent("c1", 1);
        other_user.user_id = "bob".into();
        given()
            .when(&[other_user])
            .then_refused(|e| matches!(e, IngestError::WrongUser { .. }));
    }

    #[test]
    fn a_malformed_envelope_is_refused() {
        let mut no_type = intent("c1", 1);
        no_type.event_type.clear();
        let long_client = "c".repeat(MAX_CLIENT_ID_LEN + 1);
        for bad in [
            intent("", 1),
            intent(&long_client, 1),
            intent("c1", 0),
            no_type,
        ] {
            given()
                .when(&[bad])
                .then_refused(|e| matches!(e, IngestError::Malformed { .. }));
        }
    }

    #[test]
    fn an_upload_that_disagrees_with_itself_conflicts() {
        let first = intent("c1", 1);
        let same_seq = intent("c1", 1);
        let mut same_id = intent("c1", 2);
        same_id.id = first.id;
        given()
            .when(&[first.clone(), same_seq.clone()])
            .then_conflict_on(&same_seq);
        given()
            .when(&[first, same_id.clone()])
            .then_conflict_on(&same_id);
    }
}
