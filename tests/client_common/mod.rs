//! A stand-in for the server and the sync layer in client tests: it decides intents with the
//! server's own pure decision step (`sai::server::decide`, strict server machine) and writes
//! the decisions into the client's synced tables, as the sync layer will (projection or
//! rejection row, and the client's acknowledgement).

#![allow(dead_code)]

use std::collections::HashMap;

use rusqlite::{Connection, params};
use sai::client::{ClientIdentity, ClientStore, ReconcileSummary};
use sai::server::{Claim, StoredProjection, Writers, decide};
use sai::{Domain, IntentOf, Machine, Rejection, Snapshot, Uuid};
use sai_suite::{StrictTodoMachine, Todo};

/// The client identity most tests use.
pub fn alice() -> ClientIdentity {
    ClientIdentity::new("phone-1", "alice")
}

/// A store with the todo domain in `dir`.
pub fn open(path: &std::path::Path) -> ClientStore {
    ClientStore::builder()
        .domain::<Todo>()
        .open(path)
        .expect("open store")
}

/// One decision of the server.
#[derive(Clone, Debug)]
pub enum Decision {
    /// Accepted: the projection after it, with the decisions that row includes (its
    /// `decided` column, as the server writes it in the same transaction).
    Processed {
        intent: IntentOf<Todo>,
        snapshot: Snapshot<StrictTodoMachine>,
        owner: String,
        decided: String,
    },
    /// Rejected, with why.
    Rejected {
        intent: IntentOf<Todo>,
        rejection: Rejection,
    },
}

impl Decision {
    pub fn intent(&self) -> &IntentOf<Todo> {
        match self {
            Decision::Processed { intent, .. } | Decision::Rejected { intent, .. } => intent,
        }
    }
}

/// The server's state: stored projections and the last decided seq per client, as the
/// server's tables hold them. Decisions are made by the real pure decision step
/// ([`sai::server::decide`]), so client tests see exactly the server's decisions.
#[derive(Default)]
pub struct Server {
    pub projections: HashMap<Uuid, StoredProjection>,
    pub acks: HashMap<String, u64>,
}

impl Server {
    /// Decides the client's logged intents (in log order) that it has not decided yet, up to
    /// `limit` of them.
    pub fn decide(&mut self, store: &ClientStore, limit: usize) -> Vec<Decision> {
        let logged = store.logged_intents::<Todo>().expect("read the log");
        let undecided = logged
            .into_iter()
            .filter(|i| self.acks.get(&i.client_id).copied().unwrap_or(0) < i.seq)
            .collect();
        self.decide_claimed(undecided, limit, HashMap::new())
    }

    /// Another client's accepted intent on an entity (moves the server projection). The
    /// server is taken to have decided that client's earlier intents.
    pub fn apply_foreign(&mut self, intent: IntentOf<Todo>) -> Decision {
        let acked = HashMap::from([(intent.client_id.clone(), intent.seq - 1)]);
        let mut decided = self.decide_claimed(vec![intent], 1, acked);
        assert_eq!(decided.len(), 1, "the foreign intent is decided");
        decided.remove(0)
    }

    /// Claims `intents` (with the stored projections of their entities and the clients'
    /// acknowledgements, `acked` overriding them), decides them with `decide`, stores the
    /// outcome and returns the decisions in decision order (by client, then seq).
    fn decide_claimed(
        &mut self,
        intents: Vec<IntentOf<Todo>>,
        limit: usize,
        acked: HashMap<String, u64>,
    ) -> Vec<Decision> {
        let mut claim = Claim::default();
        for intent in &intents {
            claim.intents.push(intent.to_raw().expect("raw intent"));
            if let Some(p) = self.projections.get(&intent.entity_id) {
                claim.projections.insert(intent.entity_id, p.clone());
            }
            let ack = acked
                .get(&intent.client_id)
                .or(self.acks.get(&intent.client_id))
                .copied()
                .unwrap_or(0);
            claim.acks.insert(intent.client_id.clone(), ack);
        }
        let decisions = decide::<StrictTodoMachine>(claim, limit, Writers::Owner);
        assert!(decisions.errors.is_empty(), "{:?}", decisions.errors);
        let typed: HashMap<Uuid, IntentOf<Todo>> = intents.into_iter().map(|i| (i.id, i)).collect();
        let owners: HashMap<Uuid, String> = decisions
            .projections
            .iter()
            .map(|p| (p.id, p.owner_id.clone()))
            .collect();
        let mut out: Vec<Decision> = decisions
            .accepted
            .iter()
            .map(|a| Decision::Processed {
                intent: typed[&a.intent.id].clone(),
                snapshot: Snapshot {
                    state: StrictTodoMachine::from_name(a.state).expect("a state"),
                    context: serde_json::from_str(&a.context).expect("context"),
                    version: a.version,
                },
                owner: owners[&a.intent.entity_id].clone(),
                decided: String::new(),
            })
            .chain(decisions.rejected.iter().map(|r| Decision::Rejected {
                intent: typed[&r.intent.id].clone(),
                rejection: serde_json::from_str(&r.reason).expect("rejection"),
            }))
            .collect();
        out.sort_by(|a, b| {
            let (a, b) = (a.intent(), b.intent());
            (&a.client_id, a.seq).cmp(&(&b.client_id, b.seq))
        });
        // Each accepted intent's row carries the decisions made on its entity up to it, in
        // decision order, as the server's row after that decision would (a rejection counts
        // once the entity has a row).
        let mut maps: HashMap<Uuid, serde_json::Map<String, serde_json::Value>> = HashMap::new();
        for d in &mut out {
            let entity = d.intent().entity_id;
            let exists = self.projections.contains_key(&entity) || maps.contains_key(&entity);
            let map = match maps.entry(entity) {
                std::collections::hash_map::Entry::Occupied(m) => m.into_mut(),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    let stored = self
                        .projections
                        .get(&entity)
                        .map(|p| serde_json::from_str(&p.decided).expect("decided"))
                        .unwrap_or_default();
                    if !exists && matches!(d, Decision::Rejected { .. }) {
                        continue;
                    }
                    slot.insert(stored)
                }
            };
            let (client, seq) = (d.intent().client_id.clone(), d.intent().seq);
            let by = map
                .entry(client)
                .or_insert_with(|| serde_json::json!({"through": 0, "rejected": []}));
            by["through"] = seq.into();
            match d {
                Decision::Rejected { .. } => by["rejected"]
                    .as_array_mut()
                    .expect("rejected list")
                    .push(seq.into()),
                Decision::Processed { decided, .. } => {
                    *decided = serde_json::Value::Object(map.clone()).to_string();
                }
            }
        }
        for p in decisions.projections {
            self.projections.insert(
                p.id,
                StoredProjection {
                    state: p.state.to_owned(),
                    version: p.version,
                    owner_id: p.owner_id,
                    decided: p.decided,
                    fields: p.fields,
                },
            );
        }
        for a in decisions.acks {
            self.acks.insert(a.client_id, a.to);
        }
        out
    }
}

/// Writes the synced projection row of an entity.
pub fn write_projection(
    conn: &Connection,
    entity: Uuid,
    snapshot: &Snapshot<StrictTodoMachine>,
    owner: &str,
    decided: &str,
) -> rusqlite::Result<()> {
    let fields = snapshot.context.to_row().expect("encode");
    let names: Vec<String> = Todo::COLUMNS.iter().map(|c| c.name.to_owned()).collect();
    let sql = format!(
        "INSERT OR REPLACE INTO todo_projection \
         (id, state, version, owner_id, updated_at, decided, {}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, {})",
        names.join(", "),
        (7..7 + names.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut values: Vec<Box<dyn rusqlite::ToSql>> = vec![
        Box::new(entity.to_string()),
        Box::new(sai::Machine::name(snapshot.state)),
        Box::new(snapshot.version as i64),
        Box::new(owner.to_owned()),
        Box::new(1_700_000_000_000i64),
        Box::new(decided.to_owned()),
    ];
    for f in fields {
        values.push(Box::new(f));
    }
    conn.execute(&sql, rusqlite::params_from_iter(values.iter()))?;
    Ok(())
}

/// Writes the synced rejection row of an intent.
pub fn write_rejection(
    conn: &Connection,
    intent: &IntentOf<Todo>,
    rejection: &Rejection,
) -> rusqlite::Result<()> {
    let raw = intent.to_raw().expect("raw");
    conn.execute(
        "INSERT OR REPLACE INTO todo_intent_events_rejected \
         (id, entity_id, client_id, user_id, seq, event_type, event_version, payload, created_at, \
          code, message, reason, state, rejected_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            raw.id.to_string(),
            raw.entity_id.to_string(),
            raw.client_id,
            raw.user_id,
            raw.seq as i64,
            raw.event_type,
            raw.event_version,
            raw.payload,
            raw.created_at,
            rejection.code(),
            rejection.message(),
            serde_json::to_string(rejection).expect("json"),
            rejection.state(),
            1_700_000_000_000i64,
        ],
    )?;
    Ok(())
}

/// Writes the synced acknowledgement of a client.
pub fn write_ack(conn: &Connection, client: &str, last_seq: u64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO todo_client_acks (id, user_id, last_seq, updated_at) VALUES (?1, 'alice', ?2, 0) \
         ON CONFLICT(id) DO UPDATE SET last_seq = excluded.last_seq",
        params![client, last_seq as i64],
    )?;
    Ok(())
}

/// Writes a decision's row (projection or rejection), without the acknowledgement.
pub fn write_decision(conn: &Connection, d: &Decision) -> rusqlite::Result<()> {
    match d {
        Decision::Processed {
            intent,
            snapshot,
            owner,
            decided,
        } => write_projection(conn, intent.entity_id, snapshot, owner, decided),
        Decision::Rejected { intent, rejection } => write_rejection(conn, intent, rejection),
    }
}

/// Delivers decisions the way the server committed them: rows and acknowledgement together.
pub fn deliver(store: &ClientStore, decisions: &[Decision]) -> ReconcileSummary {
    store
        .apply_server_data(|tx| {
            for d in decisions {
                write_decision(tx, d)?;
                write_ack(tx, &d.intent().client_id, d.intent().seq)?;
            }
            Ok(())
        })
        .expect("deliver")
}

/// Delivers only the acknowledgement of the last decision.
pub fn deliver_ack_only(store: &ClientStore, decisions: &[Decision]) -> ReconcileSummary {
    let last = decisions.last().expect("a decision").intent();
    let (client, seq) = (last.client_id.clone(), last.seq);
    store
        .apply_server_data(|tx| write_ack(tx, &client, seq))
        .expect("deliver ack")
}

/// Delivers only the decision rows, without the acknowledgement.
pub fn deliver_rows_only(store: &ClientStore, decisions: &[Decision]) -> ReconcileSummary {
    store
        .apply_server_data(|tx| {
            for d in decisions {
                write_decision(tx, d)?;
            }
            Ok(())
        })
        .expect("deliver rows")
}

/// Rows in the local intent log.
pub fn logged(store: &ClientStore) -> i64 {
    store.with_connection(|c| {
        c.query_row("SELECT count(*) FROM todo_intent_events_local", [], |r| {
            r.get(0)
        })
        .expect("count")
    })
}

/// Rows in the optimistic overlay.
pub fn overlay_rows(store: &ClientStore) -> i64 {
    store.with_connection(|c| {
        c.query_row("SELECT count(*) FROM todo_projection_local", [], |r| {
            r.get(0)
        })
        .expect("count")
    })
}
