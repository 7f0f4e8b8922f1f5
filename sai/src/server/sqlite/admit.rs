//! The admission transaction on SQLite: read the upload's facts, write the plan. Runs under
//! `BEGIN IMMEDIATE`, so no decision or other upload runs between the read and the write.

use std::collections::BTreeSet;

use crate::intent::{RawIntent, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use super::super::admission::{
    AdmissionFacts, AdmissionPlan, ClientBinding, IntentPlace, KnownIntent,
};
use super::super::error::{IngestError, StoreError};
use super::super::sql::{stored_id, to_i64, to_u64};
use super::error::Db;
use super::params::intent_params;
use super::statements::Statements;

/// The bindings of the upload's clients and the stored intents its intents may clash with.
pub(super) fn facts(
    conn: &Connection,
    sql: &Statements,
    upload: &[RawIntent],
) -> Result<AdmissionFacts, StoreError> {
    let mut facts = AdmissionFacts::default();
    let mut ack_of = conn.prepare_cached(&sql.ack_of).db()?;
    let clients: BTreeSet<&str> = upload.iter().map(|i| i.client_id.as_str()).collect();
    for client in clients {
        let bound: Option<(String, i64)> = ack_of
            .query_row([client], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .db()?;
        if let Some((user_id, last_seq)) = bound {
            let last_seq = to_u64(last_seq, "last_seq")?;
            facts
                .clients
                .insert(client.to_owned(), ClientBinding { user_id, last_seq });
        }
    }
    let mut known = conn.prepare_cached(&sql.known_intents).db()?;
    for i in upload {
        let mut rows = known
            .query(params![i.id.to_string(), i.client_id, to_i64(i.seq)?])
            .db()?;
        while let Some(row) = rows.next().db()? {
            let (place, id, client_id, seq): (i64, String, String, i64) = (
                row.get(0).db()?,
                row.get(1).db()?,
                row.get(2).db()?,
                row.get(3).db()?,
            );
            facts.known.push(KnownIntent {
                id: stored_id(&id, i.id),
                client_id,
                seq: to_u64(seq, "seq")?,
                place: match place {
                    0 => IntentPlace::Queued,
                    1 => IntentPlace::Archived,
                    _ => IntentPlace::Rejected,
                },
            });
        }
    }
    Ok(facts)
}

/// Binds the plan's new clients and queues its intents; returns how many were queued.
pub(super) fn write(
    conn: &Connection,
    sql: &Statements,
    user_id: &str,
    upload: &[RawIntent],
    plan: &AdmissionPlan,
    received_at: Timestamp,
) -> Result<usize, IngestError> {
    let mut bind = conn.prepare_cached(&sql.ensure_ack).db()?;
    for client in &plan.bind {
        bind.execute(params![client, user_id, received_at]).db()?;
    }
    let mut insert = conn.prepare_cached(&sql.insert_pending).db()?;
    let mut inserted = 0;
    for i in plan.queued(upload) {
        inserted += insert.execute(intent_params![i; received_at]).db()?;
    }
    Ok(inserted)
}
