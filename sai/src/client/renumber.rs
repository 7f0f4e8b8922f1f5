//! Restored and cloned devices: moving a client's undecided intents past a sequence number
//! the server decided for another intent. The rule is stated in the [`client`](super) module
//! docs ("Restored and cloned devices"); [`renumbering`] is the pure part, [`renumber`]
//! applies it on a connection (the store's, or PowerSync's writer on the upload path, which
//! knows a domain only by name, hence SQL rendered from the name).

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::error::{ClientError, Result};
use super::store::ClientStore;
use super::tables::{int_cell, text_cell};
use crate::domain::Domain;
use crate::schema::TableRole;

/// What moving a client's intents past a taken sequence number does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Renumbering {
    /// The client's new sequence floor: every number up to it is taken or was issued.
    pub floor: u64,
    /// (intent, new seq), highest first, so that (client, seq) stays unique at every step.
    pub moves: Vec<(Uuid, u64)>,
}

/// The server refused `taken` (another intent was decided under it) and has acknowledged
/// `acked`; `logged` are the client's logged intents at `taken` and after, in sequence
/// order. They are not decided under their numbers — the refused one by the server's word,
/// the later ones because the server decides a client's intents in order — so they move,
/// in order, to the numbers after both `taken` and `acked`.
pub(crate) fn renumbering(taken: u64, acked: u64, logged: &[(Uuid, u64)]) -> Renumbering {
    let floor = taken.max(acked);
    let mut moves: Vec<(Uuid, u64)> = logged
        .iter()
        .zip(floor + 1..)
        .map(|(&(id, _), seq)| (id, seq))
        .collect();
    moves.reverse();
    Renumbering { floor, moves }
}

/// Moves `client_id`'s logged intents of `domain` from `taken` on past `taken` and the
/// acknowledgement the connection holds, and raises the client's floor; run it inside a
/// transaction. Returns what moved, highest first.
pub(crate) fn renumber(
    conn: &Connection,
    domain: &str,
    client_id: &str,
    taken: u64,
) -> Result<Vec<(Uuid, u64)>> {
    let log = TableRole::LocalIntents.table_name(domain);
    let seq_local = TableRole::LocalSequence.table_name(domain);
    let acks = TableRole::ClientAcks.table_name(domain);
    let mut logged = Vec::new();
    {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT id, seq FROM \"{log}\" WHERE client_id = ?1 AND seq >= ?2 ORDER BY seq"
        ))?;
        let mut rows = stmt.query(params![client_id, taken as i64])?;
        while let Some(row) = rows.next()? {
            let text = text_cell(row, 0, &log, "?")?;
            let id = Uuid::parse_str(&text)
                .map_err(|e| ClientError::corrupt(&log, &text, format!("id is not a UUID: {e}")))?;
            let seq = u64::try_from(int_cell(row, 1, &log, &text)?)
                .map_err(|_| ClientError::corrupt(&log, &text, "negative seq"))?;
            logged.push((id, seq));
        }
    }
    let acked: Option<Value> = conn
        .prepare_cached(&format!("SELECT last_seq FROM \"{acks}\" WHERE id = ?1"))?
        .query_row([client_id], |r| r.get(0))
        .optional()?;
    let acked = match acked {
        None => 0,
        Some(Value::Integer(n)) if n >= 0 => n as u64,
        Some(other) => {
            return Err(ClientError::corrupt(
                &acks,
                client_id,
                format!("last_seq is {other:?}, not a non-negative integer"),
            ));
        }
    };
    let plan = renumbering(taken, acked, &logged);
    let mut update =
        conn.prepare_cached(&format!("UPDATE \"{log}\" SET seq = ?2 WHERE id = ?1"))?;
    for &(id, seq) in &plan.moves {
        update.execute(params![id.to_string(), seq as i64])?;
    }
    // Plain statements (no UPSERT): the table is a view on PowerSync.
    let known = conn
        .prepare_cached(&format!("SELECT 1 FROM \"{seq_local}\" WHERE id = ?1"))?
        .exists([client_id])?;
    let floor = if known {
        format!("UPDATE \"{seq_local}\" SET last_seq = MAX(last_seq, ?2) WHERE id = ?1")
    } else {
        format!("INSERT INTO \"{seq_local}\" (id, last_seq) VALUES (?1, ?2)")
    };
    conn.prepare_cached(&floor)?
        .execute(params![client_id, plan.floor as i64])?;
    Ok(plan.moves)
}

impl ClientStore {
    /// Recovers from an upload refused with
    /// [`IngestError::SequenceTaken`](crate::server::IngestError::SequenceTaken): moves
    /// `client_id`'s logged intents of domain `D` from `taken_seq` on past both `taken_seq`
    /// and the server's acknowledgement the store holds, in order (ids unchanged), and raises
    /// the client's sequence floor so the number is never issued again. Nothing leaves the
    /// log; upload again afterwards. Returns how many intents moved.
    pub fn renumber_past_taken<D: Domain>(&self, client_id: &str, taken_seq: u64) -> Result<usize> {
        self.registered::<D>()?;
        self.write(|tx, cache| {
            // The decoded logs carry the old numbers.
            cache.clear();
            Ok(renumber(tx, D::NAME, client_id, taken_seq)?.len())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_move_in_order_past_the_taken_seq_and_the_ack() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let plan = renumbering(4, 2, &[(a, 4), (b, 5)]);
        assert_eq!(
            plan,
            Renumbering {
                floor: 4,
                moves: vec![(b, 6), (a, 5)]
            }
        );
        // The server is further ahead than the refused number.
        let plan = renumbering(4, 9, &[(a, 4), (b, 5)]);
        assert_eq!(
            plan,
            Renumbering {
                floor: 9,
                moves: vec![(b, 11), (a, 10)]
            }
        );
        assert_eq!(renumbering(3, 0, &[]).floor, 3);
    }
}
