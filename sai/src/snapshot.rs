//! Snapshots and the one step function that client and server share.

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::event::Event;
use crate::intent::{Intent, IntentMeta, Phase};
use crate::machine::{Machine, Transition, UnknownState};
use crate::rejection::{FailedGuard, Rejection};

/// How many eventless (`always`) transitions one step may take before it is rejected as
/// [`Rejection::AlwaysLoop`]: a bound on cycles through guarded `always` transitions, which
/// the compiler cannot see (it rejects unguarded cycles).
pub const MAX_ALWAYS_STEPS: usize = 100;

/// An entity's state under a machine: the state, the context and the number of applied events.
pub struct Snapshot<M: Machine> {
    /// The machine state.
    pub state: M,
    /// The entity's fields.
    pub context: M::Domain,
    /// How many events were applied to reach this snapshot (0 for the initial snapshot).
    pub version: u64,
}

impl<M: Machine> Snapshot<M> {
    /// The initial snapshot: initial state, default context, version 0.
    pub fn initial() -> Self {
        Snapshot {
            state: M::INITIAL,
            context: M::Domain::default(),
            version: 0,
        }
    }

    /// Finds the transition this event would take, running guards but changing nothing.
    pub fn select(
        &self,
        event: &M::Event,
        meta: &IntentMeta<'_>,
    ) -> Result<&'static Transition<M>, Rejection> {
        if self.state.is_final() {
            return Err(Rejection::FinalState {
                state: self.state.name().to_owned(),
                event_type: event.event_type().to_owned(),
            });
        }
        let mut failed = Vec::new();
        // The deepest state first, then its ancestors (XState v5).
        let candidates = self
            .state
            .ancestry()
            .into_iter()
            .flat_map(|s| s.candidates(event));
        for t in candidates {
            // Every guard runs (they are pure), so that a rejection names each failed one.
            let before = failed.len();
            for g in t.guards {
                if !g.passes(&self.context, event, meta) {
                    failed.push(FailedGuard {
                        guard: g.label(),
                        reason: g.reason.to_owned(),
                    });
                }
            }
            if failed.len() == before {
                return Ok(t);
            }
        }
        Err(if failed.is_empty() {
            Rejection::NotAccepted {
                state: self.state.name().to_owned(),
                event_type: event.event_type().to_owned(),
            }
        } else {
            Rejection::GuardFailed {
                state: self.state.name().to_owned(),
                event_type: event.event_type().to_owned(),
                guards: failed,
            }
        })
    }

    /// Whether the event would be accepted now (guards run, nothing changes).
    pub fn can(&self, event: &M::Event, meta: &IntentMeta<'_>) -> bool {
        self.select(event, meta).is_ok()
    }

    /// Applies an event in place. On rejection the snapshot is unchanged: guards run before
    /// any assign, and assigns cannot fail.
    ///
    /// The transition runs, in XState's order, the source state's exit actions, its own
    /// assigns and the target state's entry actions (exit and entry only when the state
    /// changes). Then the eventless (`always`) transitions of each state reached are tried,
    /// with the same event, until none applies; past [`MAX_ALWAYS_STEPS`] of them the step is
    /// [`Rejection::AlwaysLoop`]. The version rises by one per event.
    pub fn apply(&mut self, event: &M::Event, meta: &IntentMeta<'_>) -> Result<(), Rejection> {
        let t = self.select(event, meta)?;
        if M::ALWAYS.is_empty() {
            self.take(t, event, meta);
            self.version += 1;
            return Ok(());
        }
        // `always` may fail half-way: work on a copy so that a rejection changes nothing.
        let mut next = self.clone();
        next.take(t, event, meta);
        let mut steps = 0;
        while let Some(a) = next
            .state
            .ancestry()
            .into_iter()
            .flat_map(M::always)
            .find(|a| {
                a.guards
                    .iter()
                    .all(|g| g.passes(&next.context, event, meta))
            })
        {
            if steps == MAX_ALWAYS_STEPS {
                return Err(Rejection::AlwaysLoop {
                    state: self.state.name().to_owned(),
                    event_type: event.event_type().to_owned(),
                    steps,
                });
            }
            steps += 1;
            next.take(a, event, meta);
        }
        next.version += 1;
        *self = next;
        Ok(())
    }

    /// Takes one transition: exit actions (innermost first), assigns, entry actions
    /// (outermost first), new state. The states exited and entered are those below the
    /// transition's domain, as in XState v5: the source itself when the target is the source
    /// or inside it (`reenter: false`), else the innermost common ancestor (the root if none).
    fn take(&mut self, t: &Transition<M>, event: &M::Event, meta: &IntentMeta<'_>) {
        let Some(target) = t.target else {
            for a in t.assigns {
                (a.apply)(&mut self.context, event, meta);
            }
            return;
        };
        let leaf = target.resolve();
        let domain = if target.is_within(t.from) {
            Some(t.from)
        } else {
            // The innermost proper ancestor of both the source and the target.
            t.from
                .ancestry()
                .into_iter()
                .skip(1)
                .find(|a| *a != target && target.is_within(*a))
        };
        let below = |chain: Vec<M>| -> Vec<M> {
            chain
                .into_iter()
                .take_while(|s| Some(*s) != domain)
                .collect()
        };
        let exited = below(self.state.ancestry());
        let mut entered = below(leaf.ancestry());
        entered.reverse();
        let exit = exited.iter().flat_map(|s| s.exit());
        let entry = entered.iter().flat_map(|s| s.entry());
        for a in exit.chain(t.assigns).chain(entry) {
            (a.apply)(&mut self.context, event, meta);
        }
        self.state = leaf;
    }

    /// The step: the next snapshot, or the rejection. `self` is left as it was.
    pub fn step(&self, event: &M::Event, meta: &IntentMeta<'_>) -> Result<Self, Rejection> {
        // Select first so that a rejection costs no clone of the context.
        self.select(event, meta)?;
        let mut next = self.clone();
        next.apply(event, meta)?;
        Ok(next)
    }

    /// Steps an intent in the given phase, with no owner known to guards (see
    /// [`IntentMeta::with_owner`] and [`step`](Self::step) to pass one).
    pub fn step_intent(&self, intent: &Intent<M::Event>, phase: Phase) -> Result<Self, Rejection> {
        self.step(&intent.event, &intent.meta(phase))
    }

    /// Re-reads this snapshot under another machine over the same domain, by state name
    /// (for example the server machine reading a projection the client machine wrote).
    pub fn convert<N: Machine<Domain = M::Domain>>(self) -> Result<Snapshot<N>, UnknownState> {
        Ok(Snapshot {
            state: N::parse_state(self.state.name())?,
            context: self.context,
            version: self.version,
        })
    }
}

/// The result of replaying a sequence of intents.
pub struct Replay<M: Machine> {
    /// The snapshot after every accepted intent.
    pub snapshot: Snapshot<M>,
    /// The entity's owner afterwards: the one given, else the first accepted intent's user;
    /// `None` if the entity still does not exist.
    pub owner: Option<String>,
    /// The intents that were rejected, with why, in order; they changed nothing.
    pub rejected: Vec<(Uuid, Rejection)>,
}

/// Replays intents on top of `from`, skipping (and recording) those that are rejected.
///
/// `owner` is the entity's owner (`None` if it does not exist yet); guards see it in
/// [`IntentMeta::owner_id`], and the first accepted intent's user becomes the owner of an
/// entity that had none, as on the server.
pub fn replay<'a, M: Machine>(
    from: Snapshot<M>,
    owner: Option<&'a str>,
    intents: impl IntoIterator<Item = &'a Intent<M::Event>>,
    phase: Phase,
) -> Replay<M> {
    replay_with_roles(from, owner, None, intents, phase)
}

/// [`replay`] on an entity of a shared domain: guards also see each acting user's role in
/// `members` ([`IntentMeta::role`](crate::IntentMeta::role)), as the server's would;
/// without `members` (no group downloaded yet) the entity's creator is its owner.
pub fn replay_with_roles<'a, M: Machine>(
    from: Snapshot<M>,
    owner: Option<&'a str>,
    members: Option<&crate::membership::Members>,
    intents: impl IntoIterator<Item = &'a Intent<M::Event>>,
    phase: Phase,
) -> Replay<M> {
    let mut snapshot = from;
    let mut owner = owner;
    let mut rejected = Vec::new();
    for intent in intents {
        let role = if !<M::Domain as crate::domain::Domain>::SHARED {
            None
        } else if let Some(m) = members {
            m.role_of(&intent.user_id)
        } else {
            // No group downloaded: the entity is this replay's creation, its creator owns it.
            owner
                .is_none_or(|o| o == intent.user_id)
                .then_some(crate::membership::Role::Owner)
        };
        let meta = intent.meta(phase).with_owner(owner).with_role(role);
        match snapshot.apply(&intent.event, &meta) {
            Ok(()) => {
                owner.get_or_insert(&intent.user_id);
            }
            Err(r) => rejected.push((intent.id, r)),
        }
    }
    Replay {
        snapshot,
        owner: owner.map(str::to_owned),
        rejected,
    }
}

impl<M: Machine> fmt::Debug for Replay<M>
where
    M::Domain: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replay")
            .field("snapshot", &self.snapshot)
            .field("owner", &self.owner)
            .field("rejected", &self.rejected)
            .finish()
    }
}

impl<M: Machine> Clone for Snapshot<M> {
    fn clone(&self) -> Self {
        Snapshot {
            state: self.state,
            context: self.context.clone(),
            version: self.version,
        }
    }
}

impl<M: Machine> fmt::Debug for Snapshot<M>
where
    M::Domain: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("state", &self.state)
            .field("context", &self.context)
            .field("version", &self.version)
            .finish()
    }
}

impl<M: Machine> PartialEq for Snapshot<M>
where
    M::Domain: PartialEq,
{
    fn eq(&self, other: &Self) -> bool {
        self.state == other.state && self.version == other.version && self.context == other.context
    }
}

impl<M: Machine> Default for Snapshot<M> {
    fn default() -> Self {
        Self::initial()
    }
}

#[derive(Serialize)]
struct SnapshotRef<'a, D> {
    state: &'static str,
    context: &'a D,
    version: u64,
}

#[derive(Deserialize)]
struct SnapshotOwned<D> {
    state: String,
    context: D,
    version: u64,
}

impl<M: Machine> Serialize for Snapshot<M> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SnapshotRef {
            state: self.state.name(),
            context: &self.context,
            version: self.version,
        }
        .serialize(s)
    }
}

impl<'de, M: Machine> Deserialize<'de> for Snapshot<M> {
    fn deserialize<De: Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        let raw = SnapshotOwned::<M::Domain>::deserialize(d)?;
        Ok(Snapshot {
            state: M::parse_state(&raw.state).map_err(De::Error::custom)?,
            context: raw.context,
            version: raw.version,
        })
    }
}
