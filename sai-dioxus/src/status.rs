//! Sync status: how many intents wait for the server, and how the last round went.

use dioxus::prelude::*;
use sai::Domain;

use crate::client::RoundOutcome;
use crate::live::{Change, First, use_live};
use crate::notices::Notice;
use crate::provider::use_sai_client;

/// What [`use_sync_status`] shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// Intents of the domain in the local log, not yet decided by the server (as far as
    /// this device knows).
    pub pending: usize,
    /// The last round the sync layer reported ([`SaiClient::record_round`](crate::SaiClient::record_round)).
    pub last_round: Option<RoundOutcome>,
}

impl SyncStatus {
    /// Whether the last reported round failed.
    pub fn failing(&self) -> bool {
        self.last_round.as_ref().is_some_and(|r| r.error.is_some())
    }
}

/// The sync status of domain `D`: re-renders when the pending count changes or a round is
/// reported.
pub fn use_sync_status<D: Domain>() -> ReadSignal<SyncStatus> {
    let client = use_sai_client();
    let status = use_live::<D, _>(
        First::Inline,
        |change| matches!(change, Change::Domain(_) | Change::Notice(Notice::Round)),
        move |store| {
            Ok(SyncStatus {
                pending: store.logged_intents::<D>()?.len(),
                last_round: client.last_round(),
            })
        },
    );
    status.into()
}
