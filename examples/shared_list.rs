//! Sharing: alice and bob share a shopping list. Alice creates it and invites bob; bob
//! joins and edits; carol, who is no member, is turned away; alice demotes bob to viewer and
//! his queued edit is rejected; alice removes bob, and the list leaves his device.
//!
//!     cargo run --example shared_list
//!
//! Every piece is real: three devices are SQLite files (`sai::client::ClientStore`), the
//! server is a SQLite file decided by `sai::server::EventProcessor`, and `sai::sync::Loopback`
//! carries intents up and decisions down. Membership (`sai::membership`) is decided by the
//! server like any intent and predicted on the device. The domain is `examples/list_domain.rs`.

use std::sync::{Arc, Mutex};

use sai::client::{ClientIdentity, ClientStore, EventSourcedActor, SendError};
use sai::membership::{MemberEvent, Role};
use sai::server::{EventProcessor, SqliteStore};
use sai::sync::Loopback;

mod list_domain;
use list_domain::{List, ListEvent};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

fn show(who: &str, store: &ClientStore) -> Result<(), AnyError> {
    let lists = store.projections::<List>()?;
    if lists.is_empty() {
        println!("    {who:<6} sees no list");
    }
    for p in lists {
        println!(
            "    {who:<6} sees {:?} {:?}{}",
            p.context().title,
            p.context().items,
            if p.optimistic { "  (optimistic)" } else { "" }
        );
    }
    Ok(())
}

fn item(name: &str) -> ListEvent {
    ListEvent::AddItem { item: name.into() }
}

/// Prints what a rejection listener heard since the last call.
fn heard(who: &str, told: &Mutex<Vec<String>>) {
    for line in told.lock().expect("listener").drain(..) {
        println!("    {who} is told: {line}");
    }
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let dir = tempfile::tempdir()?;
    let open = |name: &str| {
        ClientStore::builder()
            .domain::<List>()
            .open(dir.path().join(name))
    };
    let (alice_phone, bob_phone, carol_phone) =
        (open("alice.db")?, open("bob.db")?, open("carol.db")?);
    let server = SqliteStore::<List>::open(dir.path().join("server.db"))?;
    let mut sync = Loopback::new(EventProcessor::new(server)).await?;

    println!("1. Alice creates a list and invites bob as an editor.");
    let alice = EventSourcedActor::<List>::create(
        &alice_phone,
        ClientIdentity::new("alice-phone", "alice"),
    )?;
    alice.send(ListEvent::Create {
        title: "groceries".into(),
    })?;
    alice.send_membership(MemberEvent::Invite {
        user: "bob".into(),
        role: Role::Editor,
    })?;
    sync.sync(&alice_phone, "alice").await?;
    sync.sync(&bob_phone, "bob").await?;
    show("alice", &alice_phone)?;
    show("bob", &bob_phone)?;

    println!("\n2. Bob joins and adds milk; accepted.");
    let list = alice.entity_id();
    let bob =
        EventSourcedActor::<List>::open(&bob_phone, ClientIdentity::new("bob-phone", "bob"), list)?;
    let bob_told = Arc::new(Mutex::new(Vec::new()));
    let sink = bob_told.clone();
    let _bob_listener = bob.on_rejection(move |r| {
        sink.lock()
            .expect("listener")
            .push(format!("{} ({})", r.code, r.message))
    })?;
    bob.send_membership(MemberEvent::Join)?;
    bob.send(item("milk"))?;
    let round = sync.sync(&bob_phone, "bob").await?;
    println!(
        "    the server accepted {} and rejected {}",
        round.decided.accepted, round.decided.rejected
    );
    sync.sync(&alice_phone, "alice").await?;
    show("alice", &alice_phone)?;
    show("bob", &bob_phone)?;

    println!("\n3. Carol, no member, tries to add cake: rejected, and she sees nothing.");
    let carol = ClientIdentity::new("carol-phone", "carol");
    if let Err(e) = EventSourcedActor::<List>::open(&carol_phone, carol, list) {
        println!("    her device cannot open it: {e}");
    }
    // So she writes blind, straight to the server.
    let intrusion = sai::Intent::new(list, "carol-phone", "carol", 1, item("cake"), 0).to_raw()?;
    let report =
        sai::server::ingest(sync.processor_mut().store_mut(), "carol", &[intrusion]).await?;
    let decided = sync.decide().await;
    println!(
        "    uploaded {}, the server rejected {}: not_member",
        report.inserted, decided.rejected
    );
    sync.sync(&carol_phone, "carol").await?;
    show("carol", &carol_phone)?;

    println!("\n4. Alice demotes bob to viewer while bob, offline, adds bread.");
    alice.send_membership(MemberEvent::ChangeRole {
        user: "bob".into(),
        role: Role::Viewer,
    })?;
    bob.send(item("bread"))?;
    show("bob", &bob_phone)?;
    sync.sync(&alice_phone, "alice").await?;
    sync.sync(&bob_phone, "bob").await?;
    heard("bob", &bob_told);
    show("bob", &bob_phone)?;
    match bob.send(item("butter")) {
        Err(SendError::Rejected(r)) => {
            println!("    bob's device now refuses at once: {}", r.code())
        }
        other => println!("    unexpected: {:?}", other.map(|s| s.intent_id())),
    }

    println!("\n5. Alice makes bob an editor again; then, both offline, bob adds jam while alice");
    println!("   removes him. Alice reaches the server first: the removal is decided first.");
    alice.send_membership(MemberEvent::ChangeRole {
        user: "bob".into(),
        role: Role::Editor,
    })?;
    sync.sync(&alice_phone, "alice").await?;
    sync.sync(&bob_phone, "bob").await?;
    bob.send(item("jam"))?;
    alice.send_membership(MemberEvent::Remove { user: "bob".into() })?;
    sync.sync(&alice_phone, "alice").await?;
    sync.sync(&bob_phone, "bob").await?;
    heard("bob", &bob_told);
    show("alice", &alice_phone)?;
    show("bob", &bob_phone)?;
    println!(
        "    bob's pending intents: {}",
        bob.pending_intents()?.len()
    );
    Ok(())
}
