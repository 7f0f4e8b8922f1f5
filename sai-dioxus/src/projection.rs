//! Projections as signals: one entity, or every entity of a domain.

use dioxus::prelude::*;
use sai::Domain;
use sai::Uuid;
use sai::client::Projection;

use crate::live::{Change, First, use_live};

/// One entity's optimistic projection (`None` if the store has none, for example after its
/// creation was rejected). The component re-renders when that projection changes — after a
/// local send, a reconciliation, or a download by this or another connection — and not for
/// changes to other entities.
///
/// The id is taken on the first render: a component showing another entity is another
/// component (give it a `key`).
pub fn use_projection<D>(entity_id: Uuid) -> ReadSignal<Option<Projection<D>>>
where
    D: Domain + PartialEq,
{
    let live = use_live::<D, _>(
        First::Inline,
        move |change| match change {
            Change::Domain(c) => c.server_data || c.entities.contains(&entity_id),
            Change::Notice(_) => false,
        },
        move |store| store.projection::<D>(entity_id),
    );
    live.into()
}

/// Every entity's optimistic projection in a domain, in a stable order (by entity id; ids
/// are time-ordered, so oldest first). Re-renders when any of them changes, is added or
/// disappears.
pub fn use_projections<D>() -> ReadSignal<Vec<Projection<D>>>
where
    D: Domain + PartialEq,
{
    let live = use_live::<D, _>(
        First::Inline,
        |change| matches!(change, Change::Domain(_)),
        |store| {
            let mut all = store.projections::<D>()?;
            // The store lists by entity id already; sorting here makes the order this hook's
            // promise rather than a detail of the store's SQL.
            all.sort_by_key(|p| p.entity_id);
            Ok(all)
        },
    );
    live.into()
}
