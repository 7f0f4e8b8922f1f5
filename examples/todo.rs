//! The whole loop on one machine: two devices of one user edit a todo, go offline, come back;
//! the server (with a stricter machine) rejects one edit; both devices converge on the
//! server's projection and the device whose edit was rejected is told why.
//!
//!     cargo run --example todo
//!
//! Everything here is real: each device is a SQLite file (`sai::client::ClientStore`), the
//! server is a SQLite file decided by `sai::server::EventProcessor`, and `sai::sync::Loopback`
//! carries intents up and decisions down. To run the same app against PostgreSQL and a real
//! PowerSync instance, see the README's "PowerSync" section: the client store, the domain and
//! the machines stay as they are; only the transport and the server store change.
//!
//! The domain — the `Todo` entity, its events, the client's `TodoMachine` and the server's
//! `StrictTodoMachine`, which caps estimates at 40 hours — is in `examples/todo_domain.rs`.

use std::sync::{Arc, Mutex};

use sai::client::{ClientIdentity, ClientStore, EventSourcedActor, Projection};
use sai::server::{EventProcessor, SqliteStore};
use sai::sync::Loopback;

mod todo_domain;
use todo_domain::{StrictTodoMachine, Todo, TodoEvent};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

fn show(who: &str, p: &Projection<Todo>) {
    let t = p.context();
    println!(
        "    {who:<7} {:<6} v{} {:?} done={} estimate={:?} labels={:?}{}",
        format!("{:?}", p.state()),
        p.snapshot.version,
        t.title,
        t.completed,
        t.estimate,
        t.labels,
        if p.optimistic { "  (optimistic)" } else { "" }
    );
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let dir = tempfile::tempdir()?;
    let open = |name: &str| {
        ClientStore::builder()
            .domain::<Todo>()
            .open(dir.path().join(name))
    };
    let phone_store = open("phone.db")?;
    let laptop_store = open("laptop.db")?;
    let server = SqliteStore::<Todo>::open(dir.path().join("server.db"))?;
    let mut sync =
        Loopback::new(EventProcessor::new(server).with_machine::<StrictTodoMachine>()).await?;
    println!(
        "files in {}: phone.db, laptop.db, server.db",
        dir.path().display()
    );

    println!("\n1. The phone creates a todo (optimistic, instantly visible) and syncs.");
    let phone =
        EventSourcedActor::<Todo>::create(&phone_store, ClientIdentity::new("phone", "alice"))?;
    let p = phone.send(TodoEvent::Create {
        title: "Buy milk".into(),
    })?;
    show("phone", p.projection());
    let report = sync.sync(&phone_store, "alice").await?;
    println!(
        "    sync: uploaded {}, accepted {}, rejected {}",
        report.uploaded.inserted, report.decided.accepted, report.decided.rejected
    );
    show("phone", &phone.projection()?.ok_or("phone lost its todo")?);

    println!("\n2. The laptop syncs and opens the same todo.");
    sync.sync(&laptop_store, "alice").await?;
    let laptop = EventSourcedActor::<Todo>::open(
        &laptop_store,
        ClientIdentity::new("laptop", "alice"),
        phone.entity_id(),
    )?;
    show(
        "laptop",
        &laptop.projection()?.ok_or("laptop does not see the todo")?,
    );
    let told = Arc::new(Mutex::new(Vec::new()));
    let sink = told.clone();
    let _listener = laptop.on_rejection(move |r| {
        sink.lock()
            .unwrap()
            .push(format!("{} [{}]", r.message, r.code))
    })?;

    println!("\n3. Both go offline and keep working.");
    show(
        "phone",
        &phone
            .send(TodoEvent::Rename {
                title: "Buy oat milk".into(),
            })?
            .projection,
    );
    show(
        "laptop",
        &laptop
            .send(TodoEvent::Label {
                label: "errand".into(),
            })?
            .projection,
    );
    show(
        "laptop",
        &laptop
            .send(TodoEvent::Estimate { hours: Some(80.0) })?
            .projection,
    );
    println!("    (the client machine accepts an 80-hour estimate; the server's does not)");
    println!(
        "    laptop pending: {} intents",
        laptop.pending_intents()?.len()
    );

    println!("\n4. Back online: the laptop syncs first, then the phone, then the laptop again.");
    for (who, store) in [
        ("laptop", &laptop_store),
        ("phone", &phone_store),
        ("laptop", &laptop_store),
    ] {
        let r = sync.sync(store, "alice").await?;
        println!(
            "    {who:<7} sync: uploaded {} (re-sent {}), accepted {}, rejected {}",
            r.uploaded.inserted, r.uploaded.duplicates, r.decided.accepted, r.decided.rejected
        );
    }
    for message in told.lock().unwrap().iter() {
        println!("    laptop was told: {message}");
    }

    println!("\n5. Converged: both devices show the server's projection, nothing pending.");
    let (p, l) = (
        phone.projection()?.ok_or("phone")?,
        laptop.projection()?.ok_or("laptop")?,
    );
    show("phone", &p);
    show("laptop", &l);
    let server_view = sync.processor_mut().store_mut().connection().query_row(
        "SELECT state, version, title FROM todo_projection WHERE id = ?1",
        [phone.entity_id().to_string()],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        },
    )?;
    println!(
        "    server  {:<6} v{} {:?}",
        server_view.0, server_view.1, server_view.2
    );
    let converged = p.snapshot == l.snapshot
        && phone.pending_intents()?.is_empty()
        && laptop.pending_intents()?.is_empty()
        && p.snapshot.version as i64 == server_view.1;
    println!("    converged: {converged}");
    if !converged {
        return Err("the devices did not converge".into());
    }
    Ok(())
}
