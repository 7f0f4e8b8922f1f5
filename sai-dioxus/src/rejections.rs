//! The server's rejections of this device's intents, listed until the user clears them.

use dioxus::prelude::*;
use sai::client::{ClientError, StoredRejection};
use sai::{Domain, Uuid};

use crate::client::SaiClient;
use crate::live::{Change, First, off_ui, use_live};
use crate::notices::Notice;
use crate::provider::use_sai_client;

/// Whose rejections a [`use_rejections`] lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectionScope {
    /// Every rejection of the domain.
    All,
    /// The rejections of one entity's intents.
    Entity(Uuid),
}

/// What [`use_rejections`] gives a component.
pub struct UseRejections<D: Domain> {
    client: SaiClient,
    list: ReadSignal<Vec<StoredRejection>>,
    _domain: std::marker::PhantomData<fn() -> D>,
}

impl<D: Domain> Clone for UseRejections<D> {
    fn clone(&self) -> Self {
        UseRejections {
            client: self.client.clone(),
            list: self.list,
            _domain: std::marker::PhantomData,
        }
    }
}

impl<D: Domain> UseRejections<D> {
    /// The rejections not cleared yet, oldest first: each names the refused event
    /// (`event_type`, `payload`) and why (`code`, `message`).
    pub fn list(&self) -> ReadSignal<Vec<StoredRejection>> {
        self.list
    }

    /// Clears a rejection (the user dismissed it); every component listing it re-renders.
    /// `false` if there was no such rejection.
    pub async fn clear(&self, intent_id: Uuid) -> Result<bool, ClientError> {
        let client = self.client.clone();
        let cleared = off_ui(move || client.store().clear_rejection::<D>(intent_id)).await?;
        // Clearing is the device's own bookkeeping: the store announces no change for it.
        self.client
            .notices()
            .tell(&Notice::RejectionCleared(D::NAME));
        Ok(cleared)
    }
}

/// The rejections of `D` in `scope` that were not cleared, re-read when server data arrives
/// or one is cleared. Listing does not mark them surfaced: `ClientStore::on_rejection` keeps
/// its exactly-once delivery for code that must act once per rejection.
pub fn use_rejections<D: Domain>(scope: RejectionScope) -> UseRejections<D> {
    let client = use_sai_client();
    let list = use_live::<D, _>(
        First::Inline,
        |change| match change {
            Change::Domain(c) => c.server_data,
            Change::Notice(n) => *n == Notice::RejectionCleared(D::NAME),
        },
        move |store| {
            let mut all = store.rejections::<D>()?;
            if let RejectionScope::Entity(id) = scope {
                all.retain(|r| r.entity_id == id);
            }
            all.sort_by_key(|r| (r.rejected_at, r.intent_id));
            Ok(all)
        },
    );
    UseRejections {
        client,
        list: list.into(),
        _domain: std::marker::PhantomData,
    }
}
