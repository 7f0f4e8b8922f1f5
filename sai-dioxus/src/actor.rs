//! One entity as a component sees it: its projection, its pending intents, what it accepts
//! now, and a `send` that runs off the UI thread.

use std::sync::{Arc, Mutex};

use dioxus::prelude::*;
use sai::client::{
    ClientError, EventSourcedActor, PendingIntent, PendingStatus, Projection, SendError, Sent,
};
use sai::{Domain, EventOf, Intent, Phase, Snapshot, Uuid};

use crate::client::SaiClient;
use crate::live::{Change, First, off_ui, use_live};
use crate::projection::use_projection;
use crate::provider::use_sai_client;

/// An entity's pending intents, oldest first. Two lists are equal when they hold the same
/// intents with the same statuses, which is what decides whether a component re-renders.
#[derive(Clone, Debug)]
pub struct PendingIntents<D: Domain>(pub Vec<PendingIntent<D>>);

impl<D: Domain> Default for PendingIntents<D> {
    fn default() -> Self {
        PendingIntents(Vec::new())
    }
}

impl<D: Domain> PartialEq for PendingIntents<D> {
    fn eq(&self, other: &Self) -> bool {
        // An intent never changes once logged: its id and status are all that can differ.
        let key = |p: &PendingIntent<D>| (p.intent.id, p.status.clone());
        self.0.len() == other.0.len() && self.0.iter().map(key).eq(other.0.iter().map(key))
    }
}

impl<D: Domain> std::ops::Deref for PendingIntents<D> {
    type Target = [PendingIntent<D>];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<D: Domain> PendingIntents<D> {
    /// The intents the client machine now expects the server to reject.
    pub fn predicted_to_fail(&self) -> impl Iterator<Item = &PendingIntent<D>> {
        self.0
            .iter()
            .filter(|p| matches!(p.status, PendingStatus::PredictedToFail(_)))
    }
}

/// What [`use_actor`] gives a component.
pub struct UseActor<D: Domain> {
    entity_id: Uuid,
    client: SaiClient,
    projection: ReadSignal<Option<Projection<D>>>,
    pending: ReadSignal<PendingIntents<D>>,
    /// Opened on the first send (opening reconciles: a transaction, kept off the UI thread).
    opened: Arc<Mutex<Option<EventSourcedActor<D>>>>,
}

impl<D: Domain> Clone for UseActor<D> {
    fn clone(&self) -> Self {
        UseActor {
            entity_id: self.entity_id,
            client: self.client.clone(),
            projection: self.projection,
            pending: self.pending,
            opened: self.opened.clone(),
        }
    }
}

impl<D: Domain> PartialEq for UseActor<D> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.opened, &other.opened)
    }
}

impl<D: Domain> UseActor<D> {
    /// The entity.
    pub fn entity_id(&self) -> Uuid {
        self.entity_id
    }

    /// The optimistic projection (as [`use_projection`]).
    pub fn projection(&self) -> ReadSignal<Option<Projection<D>>> {
        self.projection
    }

    /// The entity's pending intents and their status; changes when one is sent, decided or
    /// predicted to fail.
    pub fn pending(&self) -> ReadSignal<PendingIntents<D>> {
        self.pending
    }

    /// Whether the client machine accepts `event` now, on the projection this component
    /// shows (guards run; nothing is stored). Use it to enable or disable a control.
    pub fn accepts(&self, event: &EventOf<D>) -> bool {
        let snapshot = match &*self.projection.read() {
            Some(p) => p.snapshot.clone(),
            None => Snapshot::initial(),
        };
        let me = self.client.identity();
        let probe = Intent::new(
            self.entity_id,
            me.client_id.clone(),
            me.user_id.clone(),
            0,
            event.clone(),
            now_millis(),
        );
        snapshot.step_intent(&probe, Phase::Optimistic).is_ok()
    }

    /// Sends `event`: stepped by the client machine, logged and projected in one transaction
    /// on tokio's blocking pool (inline without a runtime). Every hook showing the entity
    /// re-renders once it commits.
    pub async fn send(&self, event: EventOf<D>) -> Result<Sent<D>, SendError> {
        let (client, opened, id) = (self.client.clone(), self.opened.clone(), self.entity_id);
        off_ui(move || {
            let mut opened = opened.lock().unwrap_or_else(|e| e.into_inner());
            let actor = match opened.take() {
                Some(actor) => actor,
                None => EventSourcedActor::open(client.store(), client.identity().clone(), id)?,
            };
            let sent = actor.send(event);
            *opened = Some(actor);
            sent
        })
        .await
    }
}

impl SaiClient {
    /// Creates an entity of `D` with its first event, off the UI thread like
    /// [`UseActor::send`]; the new entity's id is `sent.projection().entity_id`.
    pub async fn create<D: Domain>(&self, event: EventOf<D>) -> Result<Sent<D>, SendError> {
        let client = self.clone();
        off_ui(move || {
            EventSourcedActor::<D>::create(client.store(), client.identity().clone())?.send(event)
        })
        .await
    }
}

/// A handle on one existing entity of `D`: its projection and pending intents as signals,
/// [`accepts`](UseActor::accepts) and [`send`](UseActor::send). The component re-renders
/// when either signal it reads changes. The id is taken on the first render, as in
/// [`use_projection`].
pub fn use_actor<D>(entity_id: Uuid) -> UseActor<D>
where
    D: Domain + PartialEq,
{
    let client = use_sai_client();
    let projection = use_projection::<D>(entity_id);
    // Listing pending intents replays the entity: several statements, so read off the UI
    // thread from the start.
    let pending = use_live::<D, _>(
        First::Deferred,
        move |change| match change {
            Change::Domain(c) => c.server_data || c.entities.contains(&entity_id),
            Change::Notice(_) => false,
        },
        move |store| {
            Ok::<_, ClientError>(PendingIntents(
                store
                    .pending_intents::<D>()?
                    .into_iter()
                    .filter(|p| p.intent.entity_id == entity_id)
                    .collect(),
            ))
        },
    );
    let opened = use_hook(|| Arc::new(Mutex::new(None)));
    UseActor {
        entity_id,
        client,
        projection,
        pending: pending.into(),
        opened,
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
