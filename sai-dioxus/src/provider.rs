//! The provider: puts a [`SaiClient`] in context for the hooks below it.

use dioxus::prelude::*;

use crate::client::SaiClient;

/// Makes `client` available to every hook in `children`. A hook over a domain the store
/// did not register panics on its first render (a programming error, found at once).
///
/// ```ignore
/// rsx! { SaiProvider { client: client.clone(), TodoList {} } }
/// ```
#[component]
pub fn SaiProvider(client: SaiClient, children: Element) -> Element {
    use_context_provider(|| client.clone());
    children
}

/// The client of the nearest [`SaiProvider`] (or of [`use_context_provider`] with a
/// [`SaiClient`]). Panics outside one: a hook without a store is a programming error.
pub fn use_sai_client() -> SaiClient {
    use_context::<SaiClient>()
}
