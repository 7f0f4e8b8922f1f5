//! Building intents and reading results in the suite.

use sai::server::{IngestReport, ServerStore, ingest};
use sai::{Domain as _, Intent, RawIntent, Uuid};
use sai_suite::{Todo, TodoEvent};

pub const ALICE: &str = "alice";

/// An intent as a client would upload it.
pub fn intent(entity: Uuid, client: &str, user: &str, seq: u64, event: TodoEvent) -> RawIntent {
    Intent::new(
        entity,
        client,
        user,
        seq,
        event,
        1_700_000_000_000 + seq as i64,
    )
    .to_raw()
    .expect("encode")
}

/// An intent with a hand-made event (for poison pills).
pub fn raw_event(
    entity: Uuid,
    client: &str,
    seq: u64,
    event_type: &str,
    event_version: u32,
    payload: &str,
) -> RawIntent {
    RawIntent {
        id: Uuid::now_v7(),
        entity_id: entity,
        client_id: client.into(),
        user_id: ALICE.into(),
        seq,
        event_type: event_type.into(),
        event_version,
        payload: payload.into(),
        created_at: 1_700_000_000_000,
    }
}

pub use sai_suite::create;

/// Uploads as `user`, expecting success.
pub async fn upload<S: ServerStore>(
    store: &mut S,
    user: &str,
    intents: &[RawIntent],
) -> IngestReport {
    ingest(store, user, intents).await.expect("ingest")
}

/// The stored projection as (state, version, fields).
pub async fn todo<S: ServerStore<Domain = Todo>>(store: &mut S, id: Uuid) -> (String, u64, Todo) {
    let p = store
        .projection(id)
        .await
        .expect("read projection")
        .unwrap_or_else(|| panic!("no projection for {id}"));
    let fields = Todo::from_row(p.fields).expect("fields decode");
    (p.state, p.version, fields)
}

/// The client's last decided sequence number.
pub async fn ack<S: ServerStore>(store: &mut S, client: &str) -> u64 {
    store
        .client_ack(client)
        .await
        .expect("read ack")
        .map_or(0, |(_, seq)| seq)
}
