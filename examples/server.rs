//! The server runtime end to end: a client's upload is ingested (a re-upload and a foreign
//! user's attempt included), a worker decides the queue with the stricter server machine,
//! and the projection and acknowledgement show the result.
//!
//! Runs on a SQLite file by default:
//!     cargo run --example server
//! and on PostgreSQL with `--postgres URL`, or when `SAI_TEST_POSTGRES_URL` is set:
//!     cargo run --example server -- --postgres postgres://postgres@127.0.0.1:5432/test

use std::time::Duration;

use sai::RawIntent;
use sai::prelude::*;
use sai::server::{
    EventProcessor, IngestError, PostgresStore, ProcessorConfig, ServerStore, SqliteStore, ingest,
    shutdown, wakeup,
};

// The todo domain: its entity, events and the server's stricter machine.
mod todo_domain;
use todo_domain::{StrictTodoMachine, Todo, TodoEvent};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().collect();
    let url = match args.iter().position(|a| a == "--postgres") {
        Some(i) => Some(args.get(i + 1).ok_or("--postgres needs a URL")?.clone()),
        None => std::env::var("SAI_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty()),
    };
    match url {
        Some(url) => {
            println!("== PostgreSQL ==");
            // One store per connection: one for the upload path, one for the worker.
            let api = PostgresStore::<Todo>::connect(&url).await?;
            let worker = PostgresStore::<Todo>::connect(&url).await?;
            run(api, worker).await
        }
        None => {
            println!("== SQLite (pass --postgres URL for PostgreSQL) ==");
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("server.db");
            run(
                SqliteStore::<Todo>::open(&path)?,
                SqliteStore::<Todo>::open(&path)?,
            )
            .await
        }
    }
}

fn intent(entity: Uuid, client: &str, seq: u64, event: TodoEvent) -> Result<RawIntent, AnyError> {
    Ok(Intent::new(entity, client, "alice", seq, event, 1_700_000_000_000).to_raw()?)
}

async fn run<S: ServerStore<Domain = Todo> + 'static>(
    mut api: S,
    worker: S,
) -> Result<(), AnyError> {
    api.migrate().await?;

    // The worker: decides with the stricter server machine until told to stop, woken by
    // the upload path (otherwise it would poll every `idle_wait`).
    let (stop, signal) = shutdown();
    let (wake, waiter) = wakeup();
    let config = ProcessorConfig::default().with_idle_wait(Duration::from_secs(1));
    let mut processor = EventProcessor::new(worker)
        .with_machine::<StrictTodoMachine>()
        .with_config(config)
        .with_wakeup(waiter)
        .on_decided(|o| println!("decided:   seq {} {:?}", o.seq, o.verdict));
    let running = tokio::spawn(async move { processor.run(signal).await });

    // The upload path: what the backend does with a client's batch, for the user it
    // authenticated.
    let client = format!("alice-phone-{}", Uuid::now_v7());
    let todo = Uuid::now_v7();
    let upload = vec![
        intent(
            todo,
            &client,
            1,
            TodoEvent::Create {
                title: "Plan the trip".into(),
            },
        )?,
        intent(todo, &client, 2, TodoEvent::Estimate { hours: Some(80.0) })?,
        intent(
            todo,
            &client,
            3,
            TodoEvent::Label {
                label: "travel".into(),
            },
        )?,
    ];
    let report = ingest(&mut api, "alice", &upload).await?;
    wake.wake();
    println!(
        "upload:    {} queued, {} duplicates",
        report.inserted, report.duplicates
    );
    let again = ingest(&mut api, "alice", &upload).await?;
    println!(
        "re-upload: {} queued, {} duplicates",
        again.inserted, again.duplicates
    );
    let mut stolen = upload[..1].to_vec();
    stolen[0].user_id = "mallory".into();
    match ingest(&mut api, "mallory", &stolen).await {
        Err(IngestError::Unauthorized { client_id, .. }) => {
            println!("mallory:   refused, `{client_id}` belongs to alice")
        }
        other => println!("mallory:   unexpected {other:?}"),
    }

    // The client drops an intent from its log once the acknowledgement covers it.
    while api.client_ack(&client).await?.map_or(0, |(_, seq)| seq) < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.stop();
    let tally = running.await?;
    println!(
        "worker:    {} accepted, {} rejected, {} errors",
        tally.accepted, tally.rejected, tally.errors
    );

    let projection = api.projection(todo).await?.ok_or("no projection")?;
    let fields = Todo::from_row(projection.fields)?;
    println!(
        "projection: {} v{} {:?} (the 80-hour estimate was rejected by the server)",
        projection.state, projection.version, fields
    );
    Ok(())
}
