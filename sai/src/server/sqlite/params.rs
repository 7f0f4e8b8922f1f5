//! Statement parameters of the SQLite store.

/// The nine intent columns (in [`IntentRow`](crate::intent::row::IntentRow) order) of a
/// [`RawIntent`], then `extra` columns, as statement parameters.
macro_rules! intent_params {
    ($i:expr; $($extra:expr),* $(,)?) => {
        rusqlite::params![
            $i.id.to_string(),
            $i.entity_id.to_string(),
            $i.client_id,
            $i.user_id,
            $crate::server::sql::to_i64($i.seq)?,
            $i.event_type,
            $i.event_version,
            $i.payload,
            $i.created_at,
            $($extra),*
        ]
    };
}
pub(super) use intent_params;
