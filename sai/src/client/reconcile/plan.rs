//! The pure part of reconciling one entity: what is known about it (its log, the server's
//! projection, the synced rejections and acknowledgements) in, which intents leave the log
//! and what the rest produce out. No I/O; the rule it implements is stated in the
//! [`client`](crate::client) module docs ("When an intent leaves the log").

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::client::error::{ClientError, Result};
use crate::client::projection::Projection;
use crate::client::tables::Logged;
use crate::decided::{DecidedMap, Included, included};
use crate::domain::{Domain, IntentOf, SnapshotOf};
use crate::intent::Phase;
use crate::rejection::Rejection;
use crate::snapshot::replay_with_roles;

/// Where a pending intent stands.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PendingStatus {
    /// Waiting for the server; applied to the optimistic projection.
    Pending,
    /// The server acknowledged a decision but its data has not arrived yet; still applied.
    Acknowledged,
    /// The server's projection says the server rejected it, and its rejection row has not
    /// arrived yet: it stays in the log until that row arrives (and is surfaced), but it is
    /// not applied to the optimistic projection — its effect is not the server's.
    Rejected,
    /// The client machine rejects it on top of the current server projection: it is left out
    /// of the optimistic projection, and the server will most likely reject it too.
    PredictedToFail(Rejection),
}

/// A logged intent with its status.
#[derive(Clone, Debug)]
pub struct PendingIntent<D: Domain> {
    /// The intent.
    pub intent: IntentOf<D>,
    /// Its status.
    pub status: PendingStatus,
}

/// What is known about one entity when it is reconciled.
pub(super) struct Facts<D: Domain> {
    /// The server's projection, if it has arrived.
    pub server: Option<Projection<D>>,
    /// Which decisions the server's projection includes (its `decided` column); empty when
    /// there is no projection or it was written before the column existed.
    pub decided: DecidedMap,
    /// The ids of the entity's intents whose rejection has arrived.
    pub rejected: HashSet<Uuid>,
    /// The server's acknowledgement of each client in the log (0 if none arrived).
    pub acks: HashMap<String, u64>,
    /// The ids of the entity's intents still in the device's upload queue: the server has
    /// not stored them, so an acknowledgement covering their sequence number is another
    /// intent's (a restored or cloned device reused the number).
    pub uploading: HashSet<Uuid>,
    /// A shared entity's members as the device predicts them (the server's, with its
    /// pending membership intents applied).
    pub members: Option<crate::membership::Members>,
}

/// What reconciling one entity does.
pub(super) struct Plan<D: Domain> {
    /// Intents whose `base_version` rises, with the new bound.
    pub raised: Vec<(Uuid, u64)>,
    /// The server's projection (from the facts).
    pub server: Option<Projection<D>>,
    /// Intents that leave the log: their decision is visible.
    pub cleared: Vec<Uuid>,
    /// The intents still pending, with their status.
    pub pending: Vec<PendingIntent<D>>,
    /// The `base_version` of each pending intent after this reconciliation.
    pub bases: Vec<u64>,
    /// The optimistic snapshot and its owner, or `None` if nothing pending exists on the
    /// entity (the server's projection is the whole truth, or there is no entity).
    pub optimistic: Option<(SnapshotOf<D>, String)>,
}

/// Why an intent stays in the log.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kept {
    /// Not known to be decided.
    Pending,
    /// Acknowledged, its effect (if accepted) not in the projection yet.
    Acked,
    /// The projection says it was rejected; its rejection row has not arrived.
    Rejected,
}

/// One local client's walk through an entity's intents, in sequence order.
struct Walk {
    /// The client walked.
    client_id: String,
    /// The server's acknowledgement for the client.
    acked: u64,
    /// A version the entity is known to have reached before the next intent is applied.
    known: u64,
    /// The same, also counting decided intents whose effect has not arrived as accepted.
    assumed: u64,
}

/// Decides which of `logged` (the entity's log, in sequence order) leave the log and
/// replays the rest on the server's projection with the client machine.
pub(super) fn plan<D: Domain>(
    entity_id: Uuid,
    logged: Vec<Logged<D>>,
    facts: Facts<D>,
) -> Result<Plan<D>> {
    let Facts {
        server,
        decided,
        rejected,
        acks,
        uploading,
        members,
    } = facts;
    // A row written by a server that records decisions names at least the client whose
    // decision wrote it; an empty map is a row from before (or no row): the version rule.
    let exact = !decided.is_empty();
    let server_version = server.as_ref().map_or(0, |p| p.snapshot.version);
    // One walk per client; a log is mostly one client's run after another's, so the
    // previous row's walk is tried first and the map only on a change of client (no
    // per-intent hashing or copying of the client id).
    let mut walks: Vec<Walk> = Vec::new();
    let mut walk_of: HashMap<String, usize> = HashMap::new();
    let mut current: Option<usize> = None;
    let mut cleared = Vec::new();
    let mut raised = Vec::new();
    let mut kept: Vec<(IntentOf<D>, Kept, u64)> = Vec::with_capacity(logged.len());
    for row in logged {
        let intent = row.intent;
        if intent.entity_id != entity_id {
            return Err(ClientError::corrupt(
                D::NAME,
                intent.id.to_string(),
                "intent filed under another entity",
            ));
        }
        let index = match current {
            Some(i) if walks[i].client_id == intent.client_id => i,
            _ => *walk_of.entry(intent.client_id.clone()).or_insert_with(|| {
                walks.push(Walk {
                    client_id: intent.client_id.clone(),
                    acked: acks.get(&intent.client_id).copied().unwrap_or(0),
                    known: 0,
                    assumed: 0,
                });
                walks.len() - 1
            }),
        };
        current = Some(index);
        let walk = &mut walks[index];
        walk.known = walk.known.max(row.base_version);
        walk.assumed = walk.assumed.max(walk.known);
        // Hashing costs even on an empty set; most entities have no rejection in flight.
        if !rejected.is_empty() && rejected.contains(&intent.id) {
            cleared.push(intent.id);
            continue;
        }
        // Still queued for upload: not stored by the server, so not decided, whatever the
        // acknowledgement (or the projection's `decided`) says about its (reused) number.
        let queued = !uploading.is_empty() && uploading.contains(&intent.id);
        let acked = walk.acked >= intent.seq && !queued;
        let seen = if queued || !exact {
            Included::Unknown
        } else {
            included(&decided, &intent.client_id, intent.seq)
        };
        let status = match seen {
            // Accepted, and this projection includes its effect.
            Included::Accepted => None,
            Included::Rejected => Some(Kept::Rejected),
            Included::No => Some(if acked { Kept::Acked } else { Kept::Pending }),
            // A row that names the client includes none of its decisions on the entity: not
            // visible yet, whatever the acknowledgement says.
            Included::Unknown if exact => Some(if acked { Kept::Acked } else { Kept::Pending }),
            // The version rule, for rows written before the server recorded decisions.
            Included::Unknown if acked && server_version > walk.assumed => None,
            Included::Unknown => Some(if acked { Kept::Acked } else { Kept::Pending }),
        };
        match status {
            None => {
                // Accepted and visible: the entity is now past this intent's version.
                cleared.push(intent.id);
                walk.known += 1;
                walk.assumed += 1;
            }
            Some(kind) => {
                if walk.known > row.base_version {
                    raised.push((intent.id, walk.known));
                }
                if kind == Kept::Acked {
                    // Decided but its effect not visible: if it was accepted, the next
                    // intent's effect needs a version past it.
                    walk.assumed += 1;
                }
                kept.push((intent, kind, walk.known.max(row.base_version)));
            }
        }
    }
    if kept.is_empty() {
        return Ok(Plan {
            raised,
            server,
            cleared,
            pending: Vec::new(),
            bases: Vec::new(),
            optimistic: None,
        });
    }
    let base = server
        .as_ref()
        .map_or_else(SnapshotOf::<D>::initial, |p| p.snapshot.clone());
    let server_owner = server.as_ref().map(|p| p.owner_id.as_str());
    // A rejected intent's effect is not the server's: it is not replayed.
    let result = replay_with_roles(
        base,
        server_owner,
        members.as_ref(),
        kept.iter()
            .filter(|(_, kind, _)| *kind != Kept::Rejected)
            .map(|(i, _, _)| i),
        Phase::Optimistic,
    );
    let bases = kept.iter().map(|(_, _, b)| *b).collect();
    let mut failures = result.rejected.into_iter().peekable();
    let pending = kept
        .into_iter()
        .map(|(intent, kind, _)| {
            let failed = match failures.peek() {
                Some((id, _)) if *id == intent.id => failures.next().map(|(_, r)| r),
                _ => None,
            };
            let status = match (kind, failed) {
                (Kept::Rejected, _) => PendingStatus::Rejected,
                (Kept::Acked, _) => PendingStatus::Acknowledged,
                (Kept::Pending, Some(r)) => PendingStatus::PredictedToFail(r),
                (Kept::Pending, None) => PendingStatus::Pending,
            };
            PendingIntent { intent, status }
        })
        .collect();
    // No server row and nothing accepted (its creation was rejected): no entity, whatever
    // is still pending on it.
    let optimistic = result.owner.map(|owner| (result.snapshot, owner));
    Ok(Plan {
        raised,
        server,
        cleared,
        pending,
        bases,
        optimistic,
    })
}
