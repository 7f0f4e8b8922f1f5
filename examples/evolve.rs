//! Shipping version 2 of a domain: a version-1 server and phone write their files, then the
//! server and one phone upgrade (the tables gain a column, queued version-1 intents are
//! upcast) while a second phone stays on version 1 and keeps syncing. Then version 3: a
//! renamed column, required fields with declared defaults, a dropped column.
//!
//!     cargo run --example evolve

#![allow(missing_docs)]

use sai::client::{ClientIdentity, ClientStore, EventSourcedActor};
use sai::schema::Schema;
use sai::server::{EventProcessor, ServerStore, SqliteStore, ingest};
use sai::sync::{Loopback, replace_synced_rows, sqlite_rows_for_user};

// The versions of the domain (shared with the test suite).
mod ticket_versions;
use ticket_versions::{v1, v2, v3};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (server_db, phone_db, old_db) = (
        dir.path().join("server.db"),
        dir.path().join("phone.db"),
        dir.path().join("old-phone.db"),
    );

    // Version 1 everywhere: one ticket decided, one rename still in the phone's log.
    let entity = {
        let phone = ClientStore::builder()
            .domain::<v1::Ticket>()
            .open(&phone_db)?;
        let mut sync = Loopback::new(EventProcessor::new(SqliteStore::<v1::Ticket>::open(
            &server_db,
        )?))
        .await?;
        let ticket =
            EventSourcedActor::<v1::Ticket>::create(&phone, ClientIdentity::new("phone", "ann"))?;
        ticket.send(v1::TicketEvent::Open {
            title: "printer".into(),
        })?;
        sync.sync(&phone, "ann").await?;
        ticket.send(v1::TicketEvent::Rename {
            title: "printer jam".into(),
        })?;
        println!(
            "v1: ticket {} decided, one rename pending on the phone",
            ticket.entity_id()
        );
        ticket.entity_id()
    };
    let old_phone = ClientStore::builder()
        .domain::<v1::Ticket>()
        .open(&old_db)?;

    // Version 2: the server migrates (adds `sla_hours`), the phone's open migrates its file.
    let mut server = SqliteStore::<v2::Ticket>::open(&server_db)?;
    server.migrate().await?;
    println!("v2 server: migrated, `ticket_projection` gained `sla_hours`");
    let phone = ClientStore::builder()
        .domain::<v2::Ticket>()
        .open(&phone_db)?;
    let ticket =
        EventSourcedActor::<v2::Ticket>::open(&phone, ClientIdentity::new("phone", "ann"), entity)?;
    ticket.send(v2::TicketEvent::SetSla { hours: Some(4) })?;
    let mut sync = Loopback::new(EventProcessor::new(server)).await?;
    sync.sync(&phone, "ann").await?;
    let seen = ticket.projection()?.ok_or("no projection")?;
    println!(
        "v2 phone: {:?}, sla {:?}, optimistic {}",
        seen.context().title,
        seen.context().sla_hours,
        seen.optimistic
    );

    // The phone left on version 1 opens a ticket (a version-1 payload) and syncs.
    let old =
        EventSourcedActor::<v1::Ticket>::create(&old_phone, ClientIdentity::new("old", "ann"))?;
    old.send(v1::TicketEvent::Open {
        title: "scanner".into(),
    })?;
    let raw = old_phone
        .logged_intents::<v1::Ticket>()?
        .iter()
        .map(|i| i.to_raw())
        .collect::<Result<Vec<_>, _>>()?;
    ingest(sync.processor_mut().store_mut(), "ann", &raw).await?;
    sync.decide().await;
    let schema = Schema::of::<v2::Ticket>();
    let rows = sqlite_rows_for_user(
        sync.processor_mut().store_mut().connection(),
        &schema,
        "ann",
    )?;
    old_phone.apply_server_data(|tx| replace_synced_rows(tx, &schema, &rows))?;
    let seen = old.projection()?.ok_or("no projection")?;
    println!(
        "v1 phone: {:?} decided by the v2 server (upcast from payload version 1), optimistic {}; \
         it sees both tickets: {}",
        seen.context().title,
        seen.optimistic,
        old_phone.projections::<v1::Ticket>()?.len()
    );

    // Version 3: `title` is renamed `summary`, `priority`, `queue` and `escalated` arrive
    // with their declared defaults, `sla_hours` is dropped.
    drop((sync, phone));
    let mut server = SqliteStore::<v3::Ticket>::open(&server_db)?;
    server.migrate().await?;
    let phone = ClientStore::builder()
        .domain::<v3::Ticket>()
        .open(&phone_db)?;
    let ticket =
        EventSourcedActor::<v3::Ticket>::open(&phone, ClientIdentity::new("phone", "ann"), entity)?;
    ticket.send(v3::TicketEvent::Prioritize { priority: 1 })?;
    let mut sync = Loopback::new(EventProcessor::new(server)).await?;
    sync.sync(&phone, "ann").await?;
    let seen = ticket.projection()?.ok_or("no projection")?;
    println!(
        "v3 phone: summary {:?}, priority {}, queue {:?}, optimistic {}",
        seen.context().summary,
        seen.context().priority,
        seen.context().queue,
        seen.optimistic
    );
    Ok(())
}
