//! An upload's intents, grouped by the domain they belong to.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::intent::RawIntent;

/// The intents of one upload, grouped by domain: what `upload_intents` (feature `powersync`)
/// hands your backend call, and what the backend's endpoint receives (it serializes as a list
/// of `{"domain", "intents"}` groups).
///
/// Groups come in the order their domain first appears in the upload queue, and each keeps
/// queue order, so a client's intents of one domain stay in sequence order. The order across
/// domains is not kept: sequence numbers count per domain, and each domain is decided on its
/// own.
///
/// ```
/// use sai::powersync::UploadBatch;
/// # let intent = |seq| sai::RawIntent {
/// #     id: sai::Uuid::now_v7(), entity_id: sai::Uuid::now_v7(), client_id: "phone".into(),
/// #     user_id: "alice".into(), seq, event_type: "TOGGLE".into(), event_version: 1,
/// #     payload: r#"{"type":"TOGGLE"}"#.into(), created_at: 0,
/// # };
/// let mut batch = UploadBatch::new();
/// batch.push("todo", intent(1));
/// batch.push("note", intent(1));
/// batch.push("todo", intent(2));
///
/// // The endpoint receives the same groups in the same order.
/// let batch: UploadBatch = serde_json::from_str(&serde_json::to_string(&batch)?)?;
/// let seqs = |i: &[sai::RawIntent]| i.iter().map(|i| i.seq).collect::<Vec<_>>();
/// let groups: Vec<_> = batch.domains().map(|(d, i)| (d, seqs(i))).collect();
/// assert_eq!(groups, [("todo", vec![1, 2]), ("note", vec![1])]);
///
/// // A backend that serves only `todo` refuses the whole upload.
/// assert_eq!(batch.only("todo").unwrap_err().domain, "note");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UploadBatch {
    groups: Vec<Group>,
}

/// One domain's intents, and the wire form of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Group {
    domain: String,
    intents: Vec<RawIntent>,
}

/// An upload holds intents of a domain the backend does not serve. Refuse the whole upload:
/// it stays queued on the device.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the upload holds {intents} intent(s) of domain `{domain}`, which this backend does not serve"
)]
pub struct UnservedDomain {
    /// The domain's name.
    pub domain: String,
    /// How many of its intents the upload holds.
    pub intents: usize,
}

impl UploadBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an intent of `domain` to that domain's group.
    pub fn push(&mut self, domain: &str, intent: RawIntent) {
        match self.groups.iter_mut().find(|g| g.domain == domain) {
            Some(group) => group.intents.push(intent),
            None => self.groups.push(Group {
                domain: domain.to_owned(),
                intents: vec![intent],
            }),
        }
    }

    /// Each domain with its intents, in the order described on [`UploadBatch`].
    pub fn domains(&self) -> impl ExactSizeIterator<Item = (&str, &[RawIntent])> {
        self.groups
            .iter()
            .map(|g| (g.domain.as_str(), g.intents.as_slice()))
    }

    /// The intents of `domain` (none if the batch holds none of it).
    pub fn intents(&self, domain: &str) -> &[RawIntent] {
        self.groups
            .iter()
            .find(|g| g.domain == domain)
            .map_or(&[], |g| &g.intents)
    }

    /// How many intents the batch holds, over all domains.
    pub fn len(&self) -> usize {
        self.groups.iter().map(|g| g.intents.len()).sum()
    }

    /// Whether the batch holds no intent.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Checks that every domain in the batch is one of `served`; a backend that serves several
    /// domains calls it before ingesting anything, so a refused upload stores nothing.
    pub fn check_served(&self, served: &[&str]) -> Result<(), UnservedDomain> {
        let unserved = self
            .groups
            .iter()
            .find(|g| !served.contains(&g.domain.as_str()));
        match unserved {
            Some(g) => Err(UnservedDomain {
                domain: g.domain.clone(),
                intents: g.intents.len(),
            }),
            None => Ok(()),
        }
    }

    /// The intents of a backend that serves only `domain`: all of them, or an error if the
    /// batch holds intents of another domain.
    pub fn only(&self, domain: &str) -> Result<&[RawIntent], UnservedDomain> {
        self.check_served(&[domain])?;
        Ok(self.intents(domain))
    }
}

impl Serialize for UploadBatch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.groups.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for UploadBatch {
    /// Regroups as [`push`](UploadBatch::push) would, so a sender that split a domain into
    /// several groups (or sent an empty one) still yields one group per domain.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut batch = UploadBatch::new();
        for group in Vec::<Group>::deserialize(deserializer)? {
            for intent in group.intents {
                batch.push(&group.domain, intent);
            }
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(client: &str, seq: u64) -> RawIntent {
        RawIntent {
            id: uuid::Uuid::now_v7(),
            entity_id: uuid::Uuid::now_v7(),
            client_id: client.into(),
            user_id: "alice".into(),
            seq,
            event_type: "TOGGLE".into(),
            event_version: 1,
            payload: r#"{"type":"TOGGLE"}"#.into(),
            created_at: 0,
        }
    }

    fn summary(batch: &UploadBatch) -> Vec<(&str, Vec<(&str, u64)>)> {
        batch
            .domains()
            .map(|(d, intents)| {
                let ids = intents.iter().map(|i| (i.client_id.as_str(), i.seq));
                (d, ids.collect())
            })
            .collect()
    }

    fn interleaved() -> UploadBatch {
        let mut batch = UploadBatch::new();
        for (domain, client, seq) in [
            ("todo", "phone", 1),
            ("note", "phone", 1),
            ("todo", "phone", 2),
            ("todo", "laptop", 1),
            ("note", "phone", 2),
            ("todo", "phone", 3),
        ] {
            batch.push(domain, intent(client, seq));
        }
        batch
    }

    #[test]
    fn intents_group_by_domain_in_first_seen_order_and_keep_queue_order() {
        let batch = interleaved();
        assert_eq!(
            summary(&batch),
            [
                (
                    "todo",
                    vec![("phone", 1), ("phone", 2), ("laptop", 1), ("phone", 3)]
                ),
                ("note", vec![("phone", 1), ("phone", 2)]),
            ]
        );
        assert_eq!((batch.len(), batch.is_empty()), (6, false));
        assert_eq!(batch.intents("note").len(), 2);
        assert!(batch.intents("tag").is_empty());
        assert!(UploadBatch::new().is_empty());
    }

    #[test]
    fn a_backend_refuses_domains_it_does_not_serve() {
        let batch = interleaved();
        assert_eq!(
            batch.only("todo").unwrap_err(),
            UnservedDomain {
                domain: "note".into(),
                intents: 2
            }
        );
        assert_eq!(
            batch.check_served(&["note"]).unwrap_err().domain,
            "todo",
            "the first unserved domain is named"
        );
        assert!(batch.check_served(&["note", "todo", "tag"]).is_ok());

        let mut todos = UploadBatch::new();
        todos.push("todo", intent("phone", 1));
        todos.push("todo", intent("phone", 2));
        let seqs: Vec<u64> = todos.only("todo").unwrap().iter().map(|i| i.seq).collect();
        assert_eq!(seqs, [1, 2]);
        assert!(todos.only("note").is_err());
    }

    #[test]
    fn the_wire_form_round_trips_and_regroups_split_domains() {
        let batch = interleaved();
        let wire = serde_json::to_value(&batch).unwrap();
        assert_eq!(wire[1]["domain"], "note");
        assert_eq!(wire[0]["intents"].as_array().unwrap().len(), 4);
        assert_eq!(serde_json::from_value::<UploadBatch>(wire).unwrap(), batch);

        let a = serde_json::to_value(intent("phone", 1)).unwrap();
        let b = serde_json::to_value(intent("phone", 2)).unwrap();
        let split = serde_json::json!([
            {"domain": "todo", "intents": [a]},
            {"domain": "note", "intents": []},
            {"domain": "todo", "intents": [b]},
        ]);
        let batch: UploadBatch = serde_json::from_value(split).unwrap();
        assert_eq!(
            summary(&batch),
            [("todo", vec![("phone", 1), ("phone", 2)])]
        );
    }
}
