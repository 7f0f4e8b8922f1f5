//! The device's durable record of uploads it completed without the server storing them (a
//! 4xx answer, as the contract says): their intents are never sent again. A table of its
//! own in the client store's file, so it survives restarts like the log does.

use rusqlite::{Connection, params};
use sai::client::ClientStore;
use uuid::Uuid;

use crate::wire::ErrorCode;

const TABLE: &str = "sai_http_completed_uploads";

/// An upload the server refused as malformed (4xx): completed, never sent again. Its intents
/// stay in the device's log, undecided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedUpload {
    /// The domain.
    pub domain: String,
    /// An intent of the refused batch.
    pub intent_id: Uuid,
    /// The server's error code.
    pub code: ErrorCode,
    /// The server's message.
    pub message: String,
}

fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (
            intent_id TEXT PRIMARY KEY NOT NULL,
            domain TEXT NOT NULL,
            code TEXT NOT NULL,
            message TEXT NOT NULL)"
    ))
}

/// The intent ids of `domain` completed so far.
pub(crate) fn completed_ids(
    store: &ClientStore,
    domain: &str,
) -> rusqlite::Result<std::collections::HashSet<Uuid>> {
    store.with_connection(|conn| {
        create(conn)?;
        let mut stmt = conn.prepare(&format!("SELECT intent_id FROM {TABLE} WHERE domain = ?1"))?;
        let ids = stmt
            .query_map([domain], |r| r.get::<_, String>(0))?
            .filter_map(|id| id.ok().and_then(|id| Uuid::parse_str(&id).ok()))
            .collect();
        Ok(ids)
    })
}

/// Records a refused batch, in one transaction.
pub(crate) fn record(store: &ClientStore, refused: &[CompletedUpload]) -> rusqlite::Result<()> {
    store.with_connection(|conn| {
        create(conn)?;
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare(&format!(
                "INSERT OR REPLACE INTO {TABLE} (intent_id, domain, code, message) \
                 VALUES (?1, ?2, ?3, ?4)"
            ))?;
            for r in refused {
                let code = serde_json::to_value(r.code)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                insert.execute(params![r.intent_id.to_string(), r.domain, code, r.message])?;
            }
        }
        tx.commit()
    })
}

/// Every completed upload recorded in `store`, of every domain.
pub fn completed_uploads(store: &ClientStore) -> rusqlite::Result<Vec<CompletedUpload>> {
    store.with_connection(|conn| {
        create(conn)?;
        let mut stmt = conn.prepare(&format!(
            "SELECT domain, intent_id, code, message FROM {TABLE} ORDER BY domain, intent_id"
        ))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?
            .filter_map(Result::ok)
            .filter_map(|(domain, id, code, message)| {
                Some(CompletedUpload {
                    domain,
                    intent_id: Uuid::parse_str(&id).ok()?,
                    code: serde_json::from_value(serde_json::Value::String(code)).ok()?,
                    message,
                })
            })
            .collect();
        Ok(rows)
    })
}
