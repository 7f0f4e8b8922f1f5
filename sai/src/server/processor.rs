//! The event processor: decides pending intents in batches, retries transient database
//! errors, and runs as a worker loop until told to stop.

use std::marker::PhantomData;
use std::time::Duration;

use tokio::sync::watch;
use tracing::Instrument;

use crate::domain::{Domain, EventOf};
use crate::machine::Machine;

use super::decide::{Refused, Writers, decide_refusing};
use super::decisions::{Decisions, ProjectionWrite};
use super::error::{DecideError, StoreError};
use super::outcome::Outcome;
use super::records::ArchivedSnapshot;
use super::store::ServerStore;
use super::wake::Wakeup;
use crate::intent::now_millis;

/// How a processor batches, retries and idles. Start from the default and change what you
/// need with the `with_*` setters.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ProcessorConfig {
    /// Most intents decided per transaction (and most entities claimed).
    pub batch_size: usize,
    /// Attempts per batch when the database reports a transient error.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub retry_backoff: Duration,
    /// How long the worker loop sleeps when there was nothing to decide.
    pub idle_wait: Duration,
    /// Who may change an existing entity (by default only its owner).
    pub writers: Writers,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            batch_size: 500,
            max_attempts: 6,
            retry_backoff: Duration::from_millis(5),
            idle_wait: Duration::from_millis(50),
            writers: Writers::Owner,
        }
    }
}

impl ProcessorConfig {
    /// Decides at most `batch_size` intents per transaction.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Makes at most `max_attempts` attempts per batch on transient database errors.
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Waits `retry_backoff` before the first retry (doubled for each further one).
    pub fn with_retry_backoff(mut self, retry_backoff: Duration) -> Self {
        self.retry_backoff = retry_backoff;
        self
    }

    /// Sleeps `idle_wait` when there was nothing to decide.
    pub fn with_idle_wait(mut self, idle_wait: Duration) -> Self {
        self.idle_wait = idle_wait;
        self
    }

    /// Lets `writers` change an existing entity.
    pub fn with_writers(mut self, writers: Writers) -> Self {
        self.writers = writers;
        self
    }
}

/// Why a batch failed. Nothing of a failed batch was written; its intents stay pending.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The database failed, permanently or still after every retry.
    #[error("batch failed after {attempts} attempt(s): {source}")]
    Store {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        #[source]
        source: StoreError,
    },
    /// Part of a batch could not be decided (the rest was).
    #[error(transparent)]
    Decide(#[from] DecideError),
}

/// Counts of what a run decided.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Tally {
    /// Intents accepted (archived, projection updated).
    pub accepted: usize,
    /// Intents rejected (rejection recorded).
    pub rejected: usize,
    /// Errors met: failed batches and undecidable entities or rows.
    pub errors: usize,
    /// Stale pending rows removed (already decided by an earlier upload).
    pub stale: usize,
    /// Pending rows the batches claimed, decided or not.
    pub claimed: usize,
    /// The errors, in order (at most the first 100).
    pub failures: Vec<ProcessError>,
    /// Each decided intent's outcome, in decision order. Kept by
    /// [`process_batch`](EventProcessor::process_batch),
    /// [`process_intent`](EventProcessor::process_intent) and
    /// [`process_pending`](EventProcessor::process_pending); [`run`](EventProcessor::run)
    /// keeps counts only (see [`on_decided`](EventProcessor::on_decided)).
    pub outcomes: Vec<Outcome>,
}

impl Tally {
    /// Intents decided either way.
    pub fn decided(&self) -> usize {
        self.accepted + self.rejected
    }

    fn add_error(&mut self, e: ProcessError) {
        self.errors += 1;
        if self.failures.len() < 100 {
            self.failures.push(e);
        }
    }

    fn add_batch(&mut self, d: Decisions, outcomes: Vec<Outcome>) {
        self.outcomes.extend(outcomes);
        self.accepted += d.accepted.len();
        self.rejected += d.rejected.len();
        self.stale += d.stale.len();
        self.claimed += d.claimed;
        for e in d.errors {
            self.add_error(e.into());
        }
    }

    /// Adds another tally to this one.
    pub fn merge(&mut self, other: Tally) {
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.stale += other.stale;
        self.claimed += other.claimed;
        self.errors += other.errors;
        let room = 100usize.saturating_sub(self.failures.len());
        self.failures.extend(other.failures.into_iter().take(room));
        self.outcomes.extend(other.outcomes);
    }
}

/// Decides the pending intents of one domain with machine `M` (the domain's own machine
/// unless [`EventProcessor::with_machine`] chose a stricter one).
///
/// One processor is one worker with one connection; run several, each with its own store,
/// to share the queue.
pub struct EventProcessor<S: ServerStore, M = <<S as ServerStore>::Domain as Domain>::Machine> {
    store: S,
    config: ProcessorConfig,
    observer: Option<Observer>,
    wakeup: Option<Wakeup>,
    /// Intents the store refused to write (see `batch_in_span`), rejected when next claimed.
    refused: Refused,
    machine: PhantomData<fn() -> M>,
}

type Observer = Box<dyn FnMut(&Outcome) + Send>;

impl<S: ServerStore> EventProcessor<S> {
    /// A processor deciding with the domain's own machine.
    pub fn new(store: S) -> Self {
        EventProcessor {
            store,
            config: ProcessorConfig::default(),
            observer: None,
            wakeup: None,
            refused: Refused::new(),
            machine: PhantomData,
        }
    }
}

impl<S, M> EventProcessor<S, M>
where
    S: ServerStore,
    M: Machine<Domain = S::Domain, Event = EventOf<S::Domain>>,
{
    /// The same processor deciding with another machine over the same domain and events,
    /// typically a stricter server machine. Stored snapshots are read by state name.
    pub fn with_machine<N>(self) -> EventProcessor<S, N>
    where
        N: Machine<Domain = S::Domain, Event = EventOf<S::Domain>>,
    {
        EventProcessor {
            store: self.store,
            config: self.config,
            observer: self.observer,
            wakeup: self.wakeup,
            refused: self.refused,
            machine: PhantomData,
        }
    }

    /// Replaces the configuration.
    pub fn with_config(mut self, config: ProcessorConfig) -> Self {
        self.config = config;
        self
    }

    /// Calls `f` with every intent's outcome once its batch has committed, in every mode
    /// including [`run`](Self::run): the place for notifications and other side effects.
    /// `f` runs on the worker between batches; keep it short or hand the work off.
    pub fn on_decided(mut self, f: impl FnMut(&Outcome) + Send + 'static) -> Self {
        self.observer = Some(Box::new(f));
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ProcessorConfig {
        &self.config
    }

    /// The store, for reads between batches.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// Decides one batch of at most `limit` intents in one transaction, retrying transient
    /// database errors. Undecidable entities are reported in the tally; the rest is decided.
    pub async fn process_batch(&mut self, limit: usize) -> Result<Tally, ProcessError> {
        self.batch(limit, true).await
    }

    /// One batch; its outcomes are built only if the tally keeps them or an observer
    /// wants them (the worker loop keeps counts only).
    async fn batch(&mut self, limit: usize, keep: bool) -> Result<Tally, ProcessError> {
        let span = tracing::debug_span!(
            "sai.decide_batch",
            domain = <S::Domain as Domain>::NAME,
            limit
        );
        self.batch_in_span(limit, keep).instrument(span).await
    }

    /// One batch with retries. A transient error retries it whole. A value the database
    /// refuses (see [`StoreError::refuses_a_value`]) is the fault of one intent the pure
    /// check could not foresee: the batch is retried one intent at a time, and the intent
    /// whose single-intent batch is refused is remembered and rejected with
    /// `unstorable_value` and the database's message, so the rest of the queue goes on.
    /// Each refusal names a new intent, so this ends.
    async fn batch_in_span(&mut self, limit: usize, keep: bool) -> Result<Tally, ProcessError> {
        let (mut limit, writers) = (limit.max(1), self.config.writers);
        let mut attempt = 0u32;
        let mut refusals = 0usize;
        loop {
            attempt += 1;
            let refused = &self.refused;
            let mut tried = Vec::new();
            let result = self
                .store
                .decide_batch(limit, now_millis(), |claim| {
                    let d = decide_refusing::<M>(claim, limit, writers, refused);
                    tried.extend(d.accepted.iter().map(|a| a.intent.id));
                    d
                })
                .await;
            match result {
                Ok(decisions) => {
                    trace_batch(&decisions);
                    for r in &decisions.rejected {
                        self.refused.remove(&r.intent.id);
                    }
                    let mut outcomes = Vec::new();
                    if keep || self.observer.is_some() {
                        outcomes = Outcome::of(&decisions);
                    }
                    if let Some(observe) = &mut self.observer {
                        for outcome in &outcomes {
                            observe(outcome);
                        }
                    }
                    if !keep {
                        outcomes.clear();
                    }
                    let mut tally = Tally::default();
                    tally.add_batch(decisions, outcomes);
                    return Ok(tally);
                }
                Err(e) if e.refuses_a_value() && limit > 1 => {
                    tracing::warn!(error = %e, "the database refused a value of the batch; deciding one intent at a time");
                    limit = 1;
                    attempt -= 1;
                }
                Err(e) if e.refuses_a_value() && tried.len() == 1 && refusals < 1000 => {
                    let intent_id = tried[0];
                    tracing::warn!(%intent_id, error = %e, "the database refused a value of this intent; rejecting it");
                    self.refused.insert(intent_id, e.to_string());
                    refusals += 1;
                    attempt -= 1;
                }
                Err(e) if e.is_transient() && attempt < self.config.max_attempts => {
                    tracing::warn!(attempt, error = %e, "decision batch failed transiently; retrying");
                    let backoff = super::retry::backoff(self.config.retry_backoff, attempt);
                    tokio::time::sleep(backoff).await;
                }
                Err(source) => {
                    tracing::error!(attempts = attempt, error = %source, "decision batch failed; nothing written");
                    return Err(ProcessError::Store {
                        attempts: attempt,
                        source,
                    });
                }
            }
        }
    }

    /// Rebuilds the projection table from the archive of accepted intents: each entity's
    /// latest archived snapshot (read with this processor's machine, by state name), owned
    /// by its creator; projections of entities with no archived intent are removed. One
    /// transaction, during which deciding waits; a snapshot that does not read (a state the
    /// machine lacks, fields that no longer decode) fails the whole rebuild and changes
    /// nothing. Returns how many projections were written.
    ///
    /// Projections are caches of the archive: use this after repairing or migrating them.
    pub async fn rebuild_projections(&mut self) -> Result<usize, StoreError> {
        self.store
            .rebuild_projections(now_millis(), rebuilt::<S::Domain, M>)
            .await
    }

    /// Decides the next decidable intent (a batch of one).
    pub async fn process_intent(&mut self) -> Result<Tally, ProcessError> {
        self.process_batch(1).await
    }

    /// Decides batches until the queue holds nothing decidable, and returns what was decided.
    ///
    /// Intents waiting behind a gap, on entities another worker holds, or of clients that
    /// cannot progress (see the tally's errors) stay pending. Claims take turns among clients,
    /// so a batch that decides nothing ends the run only once every pending row was claimed
    /// since the last progress.
    pub async fn process_pending(&mut self) -> Tally {
        let limit = self.config.batch_size.max(1);
        let mut total = Tally::default();
        let mut unproductive = 0usize;
        let mut pending: Option<usize> = None;
        loop {
            match self.process_batch(limit).await {
                Ok(batch) => {
                    let progressed = batch.decided() + batch.stale > 0;
                    let claimed = batch.claimed;
                    total.merge(batch);
                    if progressed {
                        unproductive = 0;
                        continue;
                    }
                    // A short claim saw every candidate; a full one may have been crowded
                    // out by clients that cannot progress, so go round once.
                    if claimed < limit {
                        return total;
                    }
                    unproductive += claimed;
                    let queue = match pending {
                        Some(n) => n,
                        None => {
                            let n = self.store.pending_count().await.unwrap_or(0);
                            *pending.insert(usize::try_from(n).unwrap_or(usize::MAX))
                        }
                    };
                    if unproductive >= queue {
                        return total;
                    }
                }
                Err(e) => {
                    total.add_error(e);
                    return total;
                }
            }
        }
    }

    /// Lets [`WakeHandle::wake`](super::WakeHandle::wake) end the worker loop's idle wait, so intents queued in this
    /// process are decided at once rather than after [`ProcessorConfig::idle_wait`].
    pub fn with_wakeup(mut self, wakeup: Wakeup) -> Self {
        self.wakeup = Some(wakeup);
        self
    }

    /// Runs as a worker until `shutdown` is triggered: decides batches back to back while
    /// there is work, sleeps [`ProcessorConfig::idle_wait`] (or until woken, see
    /// [`with_wakeup`](Self::with_wakeup)) when there is none or a batch failed. Stops
    /// between batches, so a stop never leaves a batch half-decided.
    ///
    /// The store's own wake-up ([`ServerStore::listen`]: PostgreSQL `LISTEN`, so an upload
    /// by any process or connection wakes the worker) is listened to as well, when it has one.
    pub async fn run(&mut self, mut shutdown: Shutdown) -> Tally {
        let mut total = Tally::default();
        let mut notified = match self.store.listen().await {
            Ok(listening) => listening,
            Err(e) => {
                tracing::warn!(error = %e, "could not listen for uploads; polling every idle wait");
                None
            }
        };
        while !shutdown.is_triggered() {
            // A worker runs for ever: its tally must not grow with the queue.
            let idle = match self.batch(self.config.batch_size, false).await {
                Ok(batch) => {
                    let idle = batch.decided() + batch.stale == 0;
                    total.merge(batch);
                    idle
                }
                Err(e) => {
                    total.add_error(e);
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = tokio::time::sleep(self.config.idle_wait) => {}
                    _ = shutdown.triggered() => {}
                    _ = Wakeup::woken(&mut self.wakeup) => {}
                    _ = Wakeup::woken(&mut notified) => {}
                }
            }
        }
        total
    }
}

/// Reports a committed batch: counts at info (debug when it decided nothing), each intent at
/// debug, and at warn what an operator must see (a step that panicked, a value no store can
/// hold, an entity that could not be decided).
fn trace_batch(d: &Decisions) {
    if d.decided() + d.stale.len() + d.errors.len() > 0 {
        tracing::info!(
            claimed = d.claimed,
            accepted = d.accepted.len(),
            rejected = d.rejected.len(),
            stale = d.stale.len(),
            errors = d.errors.len(),
            "decision batch committed"
        );
    } else {
        tracing::debug!(claimed = d.claimed, "decision batch decided nothing");
    }
    for a in &d.accepted {
        let i = &a.intent;
        tracing::debug!(intent_id = %i.id, client_id = %i.client_id, seq = i.seq, entity_id = %i.entity_id, state = a.state, version = a.version, "accepted");
    }
    for r in &d.rejected {
        let i = &r.intent;
        if matches!(r.code, "step_panicked" | "unstorable_value") {
            tracing::warn!(intent_id = %i.id, client_id = %i.client_id, seq = i.seq, entity_id = %i.entity_id, code = r.code, message = %r.message, "rejected: the intent could not be decided or stored");
        } else {
            tracing::debug!(intent_id = %i.id, client_id = %i.client_id, seq = i.seq, entity_id = %i.entity_id, code = r.code, message = %r.message, "rejected");
        }
    }
    for e in &d.errors {
        tracing::warn!(error = %e, "part of the batch could not be decided; its intents stay pending");
    }
}

/// Projection rows from archived snapshots, read with machine `M`.
fn rebuilt<D: Domain, M: Machine<Domain = D>>(
    archived: Vec<ArchivedSnapshot>,
) -> Result<Vec<ProjectionWrite>, StoreError> {
    archived
        .into_iter()
        .map(|a| {
            let bad = |what: String| {
                StoreError::Malformed(format!(
                    "archived snapshot of {} (version {}): {what}",
                    a.entity_id, a.version
                ))
            };
            let state = M::parse_state(&a.state).map_err(|e| bad(e.to_string()))?;
            let context: D = crate::domain::context_from_json(&a.context)
                .map_err(|e| bad(format!("fields do not decode: {e}")))?;
            let mut fields = context
                .to_row()
                .map_err(|e| bad(format!("fields do not encode: {e}")))?;
            if D::SHARED {
                let mut members = crate::membership::Members::created_by(&a.owner_id);
                for (user, payload) in &a.membership {
                    let event: crate::membership::MemberEvent = serde_json::from_str(payload)
                        .map_err(|e| bad(format!("a membership intent does not decode: {e}")))?;
                    members = members.apply(user, &event).map_err(|e| {
                        bad(format!(
                            "an accepted membership intent replays refused: {e}"
                        ))
                    })?;
                }
                fields.push(crate::value::SqlValue::Text(members.to_json()));
            }
            Ok(ProjectionWrite {
                id: a.entity_id,
                state: state.name(),
                version: a.version,
                owner_id: a.owner_id,
                decided: a.decided,
                fields,
            })
        })
        .collect()
}

/// Creates a stop switch for worker loops: trigger the [`StopHandle`], and every
/// [`EventProcessor::run`] holding a clone of the [`Shutdown`] returns after its current batch.
pub fn shutdown() -> (StopHandle, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (StopHandle(tx), Shutdown(rx))
}

/// Stops the workers that hold the matching [`Shutdown`].
#[derive(Debug)]
pub struct StopHandle(watch::Sender<bool>);

impl StopHandle {
    /// Asks every worker to stop after its current batch.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// A worker's view of the stop switch; clone it for each worker.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Whether a stop was asked for, or the [`StopHandle`] is gone (no stop can come any
    /// more, and a worker must not spin on a switch that never waits).
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// Resolves when a stop is asked for (or the handle is dropped).
    pub async fn triggered(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}
