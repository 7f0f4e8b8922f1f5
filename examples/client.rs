//! The client runtime on a SQLite file: send events to a todo, watch it change, list the
//! domain, restart and find everything back, and see the server's decision arrive.
//!
//! Run it with `cargo run --example client`.

use sai::client::{ClientIdentity, ClientStore, Durability, EventSourcedActor, PendingStatus};

// The todo domain: its entity, events and machines.
mod todo_domain;
use todo_domain::{Todo, TodoEvent};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("sai-client-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("client.db");
    let me = ClientIdentity::new("laptop-1", "alice");

    // One store per device: the client tables of every domain it is given.
    let store = ClientStore::builder()
        .domain::<Todo>()
        .durability(Durability::Full) // the default: a returned send survives power loss
        .open(&path)?;

    let todo = EventSourcedActor::<Todo>::create(&store, me.clone())?;
    let _changes = todo.subscribe(|p| {
        if let Some(p) = p {
            println!(
                "  changed: {:?} v{} {:?}",
                p.state(),
                p.snapshot.version,
                p.context().title
            );
        }
    })?;
    let _rejections =
        todo.on_rejection(|r| println!("  server said no: [{}] {}", r.code, r.message))?;

    todo.send(TodoEvent::Create {
        title: "Buy milk".into(),
    })?;
    todo.send(TodoEvent::Estimate { hours: Some(60.0) })?;
    // The client machine refuses this one at once; nothing is stored.
    if let Err(e) = todo.send(TodoEvent::Rename { title: " ".into() }) {
        println!("refused locally: {e}");
    }

    for p in store.projections::<Todo>()? {
        println!(
            "list: {} {:?} (optimistic: {})",
            p.entity_id,
            p.context().title,
            p.optimistic
        );
    }
    for p in store.pending_intents::<Todo>()? {
        println!(
            "pending #{} {:?}: {:?}",
            p.intent.seq, p.intent.event, p.status
        );
    }

    // Restart: the pending intents and the projection are back.
    let id = todo.entity_id();
    drop((todo, _changes, _rejections, store));
    let store = ClientStore::builder().domain::<Todo>().open(&path)?;
    let todo = EventSourcedActor::<Todo>::open(&store, me, id)?;
    println!(
        "after restart: {:?}, {} pending",
        todo.state()?,
        todo.pending_intents()?.len()
    );

    // What the sync layer does when the server has decided: write the synced rows (here the
    // server accepted the creation and rejected the 60-hour estimate) and reconcile.
    let pending = todo.pending_intents()?;
    let (create, estimate) = (&pending[0].intent, &pending[1].intent);
    store.apply_server_data(|tx| {
        tx.execute(
            "INSERT INTO todo_projection (id, state, version, owner_id, updated_at, title, \
             completed, estimate, labels, priority_level) \
             VALUES (?1, 'Active', 1, 'alice', 0, 'Buy milk', 0, NULL, '[]', 0)",
            [id.to_string()],
        )?;
        let raw = estimate.to_raw().expect("serializable");
        tx.execute(
            "INSERT INTO todo_intent_events_rejected (id, entity_id, client_id, user_id, seq, \
             event_type, event_version, payload, created_at, code, message, reason, state, rejected_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'guard_failed', \
             'estimates above 40 hours need a split', '{}', 'Active', 0)",
            rusqlite::params![raw.id.to_string(), id.to_string(), raw.client_id, raw.user_id,
                raw.seq as i64, raw.event_type, raw.event_version, raw.payload, raw.created_at],
        )?;
        tx.execute(
            "INSERT INTO todo_client_acks (id, user_id, last_seq, updated_at) VALUES (?1, 'alice', ?2, 0)",
            rusqlite::params![create.client_id, estimate.seq as i64],
        )?;
        Ok(())
    })?;
    let _rejections =
        todo.on_rejection(|r| println!("  server said no: [{}] {}", r.code, r.message))?;
    let p = todo.projection()?.expect("exists");
    println!(
        "reconciled: {:?} estimate {:?}, optimistic {}, pending {}",
        p.state(),
        p.context().estimate,
        p.optimistic,
        todo.pending_intents()?
            .iter()
            .filter(|p| p.status == PendingStatus::Pending)
            .count()
    );
    for r in todo.rejections()? {
        todo.clear_rejection(r.intent_id)?;
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
