//! The pure decision step: a claimed batch in, the decisions out. No I/O, so the same code
//! decides on every store and can be tested without one.

use std::any::Any;
use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;

use uuid::Uuid;

use crate::decided::{self, DecidedMap};
use crate::domain::Domain;
use crate::intent::{Phase, RawIntent, Timestamp};
use crate::machine::Machine;
use crate::membership::{MEMBER_EVENT_VERSION, MemberEvent, Members, Role};
use crate::rejection::Rejection;
use crate::snapshot::Snapshot;
use crate::value::SqlValue;

use super::decisions::{AcceptedIntent, AckAdvance, Decisions, ProjectionWrite, RejectedIntent};
use super::error::DecideError;
use super::records::{Claim, StoredProjection};
use super::storable::{check_row, without_nul};

/// Who may change an existing entity of a domain that is not shared. Either way the user
/// whose intent created an entity is its owner, and the generated sync rules send each user
/// the entities they own. A shared domain (`#[domain(shared)]`) ignores it: its members'
/// roles decide (see [`crate::membership`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Writers {
    /// Only the owner: another user's intent is rejected with [`Rejection::NotOwner`]. The
    /// default, matching the sync rules, under which no one else even sees the entity.
    #[default]
    Owner,
    /// Any authenticated user; the machine's guards decide alone. Pair it with sync rules
    /// that share entities, or other users' intents never see their decision's effect.
    Anyone,
}

impl Writers {
    /// Whether `user_id` may change an entity owned by `owner` (`None`: not created yet).
    pub fn allow(self, owner: Option<&str>, user_id: &str) -> bool {
        match self {
            Writers::Owner => owner.is_none_or(|o| o == user_id),
            Writers::Anyone => true,
        }
    }
}

struct Entity<M: Machine> {
    snapshot: Snapshot<M>,
    owner: Option<String>,
    /// A shared domain's group, once the entity exists.
    members: Option<Members>,
    /// Which decisions its row includes; every decision on an entity with a row adds one.
    decided: DecidedMap,
    changed: bool,
}

/// Decides up to `limit` intents of a claim with machine `M` in the authoritative phase;
/// `writers` says who may change an existing entity.
///
/// Each client's intents are decided in sequence order from its acknowledgement on; a missing
/// sequence number (a gap, an intent of an entity not claimed, a malformed row) stops that
/// client until a later batch. An intent that cannot be decided or stored is rejected with
/// its own code, so it never blocks the intents behind it: undecodable
/// (`unknown_event_type`, `unsupported_event_version`, `malformed_payload`), domain code that
/// panicked (`step_panicked`), a result that does not encode or that a store cannot hold
/// (`unstorable_value`). Each step's row is encoded when it is decided, so the projection
/// writes encode too; should one not, the whole batch is abandoned: the result holds only
/// that error ([`DecideError::Encode`]) and writes nothing.
pub fn decide<M: Machine>(claim: Claim, limit: usize, writers: Writers) -> Decisions {
    decide_refusing::<M>(claim, limit, writers, &Refused::new())
}

/// Intents a store refused to write, by id, with the database's message: what the
/// processor learnt by deciding a refused batch one intent at a time.
pub(crate) type Refused = HashMap<Uuid, String>;

/// [`decide`], rejecting each intent of `refused` with [`Rejection::UnstorableValue`] (and
/// the database's message) instead of stepping it, so the rest of its batch can commit.
pub(crate) fn decide_refusing<M: Machine>(
    claim: Claim,
    limit: usize,
    writers: Writers,
    refused: &Refused,
) -> Decisions {
    try_decide::<M>(claim, limit, writers, refused).unwrap_or_else(|e| Decisions {
        errors: vec![e],
        ..Decisions::default()
    })
}

/// One client's claimed intents as they are decided.
struct Run {
    client_id: String,
    /// Its pending intents, in sequence order.
    queue: VecDeque<RawIntent>,
    /// Its acknowledgement before the batch.
    ack: u64,
    /// The last sequence number decided so far.
    last: u64,
    /// Whether the batch decided any of its intents.
    advanced: bool,
    /// Whether its run ended (a gap, the limit, an entity that failed to load).
    done: bool,
}

fn try_decide<M: Machine>(
    claim: Claim,
    limit: usize,
    writers: Writers,
    refused: &Refused,
) -> Result<Decisions, DecideError> {
    let Claim {
        intents,
        mut projections,
        acks,
        malformed,
        mut unreadable,
        received,
    } = claim;
    let mut out = Decisions {
        claimed: intents.len() + malformed.len(),
        errors: malformed.into_iter().map(DecideError::from).collect(),
        ..Decisions::default()
    };

    // Each client's intents in sequence order (its acknowledgement moves one number at a
    // time); clients interleaved by arrival: the next intent decided is the earliest-stored
    // head of any client's run (ties: client id), so intents of different users racing on
    // an entity — an edit and the editor's removal — are decided in the order the server
    // stored them, however the batch was claimed.
    let mut by_client: BTreeMap<String, Vec<RawIntent>> = BTreeMap::new();
    for raw in intents {
        by_client
            .entry(raw.client_id.clone())
            .or_default()
            .push(raw);
    }
    let mut runs: Vec<Run> = Vec::with_capacity(by_client.len());
    for (client_id, mut queue) in by_client {
        queue.sort_unstable_by_key(|raw| raw.seq);
        match acks.get(&client_id) {
            Some(&ack) => runs.push(Run {
                client_id,
                queue: queue.into(),
                ack,
                last: ack,
                advanced: false,
                done: false,
            }),
            None => out.errors.push(DecideError::MissingAck { client_id }),
        }
    }
    let arrival = |raw: &RawIntent| received.get(&raw.id).copied().unwrap_or(Timestamp::MIN);
    let mut heads: BinaryHeap<Reverse<(Timestamp, usize)>> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, run)| run.queue.front().map(|raw| Reverse((arrival(raw), i))))
        .collect();

    let mut entities: HashMap<Uuid, Entity<M>> = HashMap::new();
    let mut broken: HashSet<Uuid> = HashSet::new();
    let mut decided = 0usize;
    while let Some(Reverse((_, index))) = heads.pop() {
        let run = &mut runs[index];
        let Some(raw) = run.queue.pop_front() else {
            continue;
        };
        if raw.seq <= run.ack {
            // Decided before (a duplicate upload): cleared, and the run goes on.
            out.stale.push(raw.id);
            if let Some(next) = run.queue.front() {
                heads.push(Reverse((arrival(next), index)));
            }
            continue;
        }
        // A gap, the batch's limit or an entity that failed to load ends the run: its
        // remaining intents wait for a later batch.
        if raw.seq != run.last + 1 || decided >= limit || broken.contains(&raw.entity_id) {
            run.done = true;
            continue;
        }
        let entity = match entities.entry(raw.entity_id) {
            Entry::Occupied(slot) => slot.into_mut(),
            Entry::Vacant(slot) => {
                let stored = match unreadable.remove(&raw.entity_id) {
                    Some(detail) => Err(DecideError::UnreadableProjection {
                        entity: raw.entity_id,
                        detail,
                    }),
                    None => Ok(projections.remove(&raw.entity_id)),
                };
                match stored.and_then(|p| load::<M>(raw.entity_id, p)) {
                    Ok(entity) => slot.insert(entity),
                    Err(e) => {
                        out.errors.push(e);
                        broken.insert(raw.entity_id);
                        run.done = true;
                        continue;
                    }
                }
            }
        };
        decided += 1;
        run.last = raw.seq;
        run.advanced = true;
        let state_before = entity.snapshot.state.name();
        let step = if let Some(why) = refused.get(&raw.id) {
            Err(Rejection::UnstorableValue {
                event_type: raw.event_type.clone(),
                column: "(found by the database)".to_owned(),
                problem: why.clone(),
            })
        } else if <M::Domain as Domain>::SHARED {
            step_shared::<M>(entity, &raw)
        } else if writers.allow(entity.owner.as_deref(), &raw.user_id) {
            step_contained::<M>(&entity.snapshot, &raw, entity.owner.as_deref(), None)
                .map(|(next, context)| (next, context, None))
        } else {
            Err(Rejection::NotOwner {
                event_type: raw.event_type.clone(),
                user_id: raw.user_id.clone(),
            })
        };
        match step {
            Ok((next, context, members)) => {
                entity.snapshot = next;
                if entity.owner.is_none() {
                    entity.owner = Some(raw.user_id.clone());
                    if <M::Domain as Domain>::SHARED {
                        entity.members = Some(Members::created_by(&raw.user_id));
                    }
                }
                if members.is_some() {
                    entity.members = members;
                }
                decided::record(&mut entity.decided, &raw.client_id, raw.seq, false);
                entity.changed = true;
                out.accepted.push(AcceptedIntent {
                    state: entity.snapshot.state.name(),
                    version: entity.snapshot.version,
                    context,
                    intent: raw,
                });
            }
            Err(rejection) => {
                // The row (if the entity has one) records the rejection too, so a device
                // holding the row knows the intent is decided and its effect is not
                // there. A rejected creation has no row: its rejection row is its signal.
                if entity.owner.is_some() {
                    decided::record(&mut entity.decided, &raw.client_id, raw.seq, true);
                    entity.changed = true;
                }
                out.rejected.push(RejectedIntent {
                    code: rejection.code(),
                    message: without_nul(rejection.message()),
                    reason: serde_json::to_string(&rejection)
                        .unwrap_or_else(|_| format!("{{\"code\":\"{}\"}}", rejection.code())),
                    state: Some(state_before),
                    intent: raw,
                })
            }
        }
        if !run.done
            && let Some(next) = run.queue.front()
        {
            heads.push(Reverse((arrival(next), index)));
        }
    }
    for run in runs.into_iter().filter(|run| run.advanced) {
        out.acks.push(AckAdvance {
            client_id: run.client_id,
            from: run.ack,
            to: run.last,
        });
    }

    let mut changed: Vec<(Uuid, Entity<M>)> =
        entities.into_iter().filter(|(_, e)| e.changed).collect();
    changed.sort_unstable_by_key(|(id, _)| *id);
    for (id, entity) in changed {
        let mut fields = entity
            .snapshot
            .context
            .to_row()
            .map_err(|e| DecideError::Encode {
                entity: id,
                detail: e.to_string(),
            })?;
        if let Some(members) = &entity.members {
            fields.push(SqlValue::Text(members.to_json()));
        }
        out.projections.push(ProjectionWrite {
            id,
            state: entity.snapshot.state.name(),
            version: entity.snapshot.version,
            owner_id: entity.owner.unwrap_or_default(),
            decided: decided::render(&entity.decided),
            fields,
        });
    }
    Ok(out)
}

/// The next snapshot after `raw` under `M` with its context as JSON, or why not; `current`
/// is never changed.
///
/// Guards, assigns, the event's `Deserialize` and the context's `Serialize` are domain code:
/// a panic in them is caught here and becomes [`Rejection::StepPanicked`] for this intent
/// alone (the batch goes on; the panic hook still reports it as usual). The step works on a
/// copy, so a panic half-way through an assign changes nothing. A step whose result does not
/// encode, or that a store cannot hold, is [`Rejection::UnstorableValue`], decided here for
/// every store alike.
fn step_contained<M: Machine>(
    current: &Snapshot<M>,
    raw: &RawIntent,
    owner: Option<&str>,
    role: Option<Role>,
) -> Result<(Snapshot<M>, String), Rejection> {
    let unstorable = |column: &str, problem: String| Rejection::UnstorableValue {
        event_type: raw.event_type.clone(),
        column: column.to_owned(),
        problem,
    };
    let step = || {
        let event = raw.decode_event::<M::Event>().map_err(Rejection::from)?;
        let meta = raw
            .meta(Phase::Authoritative)
            .with_owner(owner)
            .with_role(role);
        let next = current.step(&event, &meta)?;
        let context = serde_json::to_string(&next.context)
            .map_err(|e| unstorable("(context)", format!("the context does not encode: {e}")))?;
        let row = next
            .context
            .to_row()
            .map_err(|e| unstorable("(row)", format!("the row does not encode: {e}")))?;
        if let Some(bad) = check_row(<M::Domain as Domain>::COLUMNS, &row) {
            return Err(unstorable(bad.column, bad.problem));
        }
        Ok((next, context))
    };
    std::panic::catch_unwind(AssertUnwindSafe(step)).unwrap_or_else(|panic| {
        Err(Rejection::StepPanicked {
            event_type: raw.event_type.clone(),
            message: without_nul(panic_message(panic.as_ref())),
        })
    })
}

/// A step of a shared domain's entity: the next snapshot, its context as JSON and, for a
/// membership event, the group after it. The rules: a membership event
/// (`sai.member.*`) is decided by [`Members::apply`] and needs the actor to belong to the
/// group (`not_member`; refused: `membership_refused`); any other event needs a joined
/// member (`not_member`) whose role writes (`read_only`), and its guards see that role in
/// [`IntentMeta::role`](crate::IntentMeta::role). The entity's creator is its owner.
fn step_shared<M: Machine>(
    entity: &Entity<M>,
    raw: &RawIntent,
) -> Result<(Snapshot<M>, String, Option<Members>), Rejection> {
    let user = raw.user_id.as_str();
    let not_member = || Rejection::NotMember {
        event_type: raw.event_type.clone(),
        user_id: user.to_owned(),
    };
    let Some(members) = &entity.members else {
        // The entity does not exist yet: only a creation, whose author becomes its owner.
        if MemberEvent::is_member_type(&raw.event_type) {
            return Err(not_member());
        }
        return step_contained::<M>(&entity.snapshot, raw, None, Some(Role::Owner))
            .map(|(next, context)| (next, context, None));
    };
    if MemberEvent::is_member_type(&raw.event_type) {
        if !members.reads(user) {
            return Err(not_member());
        }
        let event = decode_member_event(raw)?;
        let next_members =
            members
                .apply(user, &event)
                .map_err(|refusal| Rejection::MembershipRefused {
                    event_type: raw.event_type.clone(),
                    user_id: user.to_owned(),
                    refusal,
                })?;
        let mut next = entity.snapshot.clone();
        next.version += 1;
        // The context's `Serialize` is domain code: a panic there is this intent's alone.
        let encoded =
            std::panic::catch_unwind(AssertUnwindSafe(|| serde_json::to_string(&next.context)))
                .map_err(|panic| Rejection::StepPanicked {
                    event_type: raw.event_type.clone(),
                    message: without_nul(panic_message(panic.as_ref())),
                })?;
        let context = encoded.map_err(|e| Rejection::UnstorableValue {
            event_type: raw.event_type.clone(),
            column: "(context)".to_owned(),
            problem: format!("the context does not encode: {e}"),
        })?;
        return Ok((next, context, Some(next_members)));
    }
    match members.role_of(user) {
        None => Err(not_member()),
        Some(role) if !role.writes() => Err(Rejection::ReadOnly {
            event_type: raw.event_type.clone(),
            user_id: user.to_owned(),
            role,
        }),
        Some(role) => {
            step_contained::<M>(&entity.snapshot, raw, entity.owner.as_deref(), Some(role))
                .map(|(next, context)| (next, context, None))
        }
    }
}

/// A membership intent's event, checked like a domain event: its version, then its payload.
fn decode_member_event(raw: &RawIntent) -> Result<MemberEvent, Rejection> {
    if raw.event_version > MEMBER_EVENT_VERSION {
        return Err(Rejection::UnsupportedEventVersion {
            event_type: raw.event_type.clone(),
            found: raw.event_version,
            supported: MEMBER_EVENT_VERSION,
        });
    }
    let event: MemberEvent =
        serde_json::from_str(&raw.payload).map_err(|e| Rejection::MalformedPayload {
            event_type: raw.event_type.clone(),
            detail: e.to_string(),
        })?;
    if event.event_type() != raw.event_type {
        return Err(Rejection::MalformedPayload {
            event_type: raw.event_type.clone(),
            detail: format!("the payload is a {}", event.event_type()),
        });
    }
    Ok(event)
}

/// The text a panic was raised with (`panic!("…")` carries a `&str` or a `String`).
fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

/// The entity's snapshot under `M`: from its stored projection, or initial if it has none.
fn load<M: Machine>(id: Uuid, stored: Option<StoredProjection>) -> Result<Entity<M>, DecideError> {
    let Some(p) = stored else {
        return Ok(Entity {
            snapshot: Snapshot::initial(),
            owner: None,
            members: None,
            decided: DecidedMap::new(),
            changed: false,
        });
    };
    let decided = decided::parse(&p.decided).map_err(|e| DecideError::UnreadableProjection {
        entity: id,
        detail: format!("column `decided` does not read: {e}"),
    })?;
    let state = M::parse_state(&p.state)
        .map_err(|source| DecideError::UnknownState { entity: id, source })?;
    let mut fields = p.fields;
    let members = if <M::Domain as Domain>::SHARED {
        let read = match fields.pop() {
            Some(SqlValue::Text(json)) => Members::from_json(&json).map_err(|e| e.to_string()),
            other => Err(format!("holds {other:?}")),
        };
        Some(read.map_err(|detail| DecideError::UnreadableProjection {
            entity: id,
            detail: format!("column `members` does not read: {detail}"),
        })?)
    } else {
        None
    };
    let context = <M::Domain as Domain>::from_row(fields)
        .map_err(|source| DecideError::ProjectionRow { entity: id, source })?;
    Ok(Entity {
        snapshot: Snapshot {
            state,
            context,
            version: p.version,
        },
        owner: Some(p.owner_id),
        members,
        decided,
        changed: false,
    })
}
