//! A deployable backend for the todo domain: the HTTP endpoints (upload, download) and the
//! workers that decide the queue, on PostgreSQL.
//!
//!     cargo run --example backend -- --postgres postgres://postgres@127.0.0.1:5432/test
//!
//! Options (defaults in brackets):
//!     --postgres URL       the database [$SAI_TEST_POSTGRES_URL]
//!     --schema NAME        keep the tables in this PostgreSQL schema [the URL's default]
//!     --listen ADDR        where to serve [127.0.0.1:8080]
//!     --secret TEXT        the HS256 secret tokens are signed with [$SAI_JWT_SECRET, or "dev-secret"]
//!     --jwks URL           verify tokens with this JWKS (EdDSA/RS256) instead of a secret
//!     --audience TEXT      the audience tokens must name ["sai"]
//!     --stores N           database connections for uploads [4]
//!     --workers N          workers deciding the queue in this process [2]; 0 for none
//!     --exit-after SECS    shut down gracefully after this long (for smoke runs)
//!
//! Stops gracefully on Ctrl-C or SIGTERM: no new requests, the ones in flight finish, and
//! the workers stop between batches. Run as many as you like against one database: the
//! backends are stateless and the workers share the queue by entity locks.

use std::time::Duration;

use sai::prelude::*;
use sai::server::{EventProcessor, PostgresStore, ProcessorConfig, shutdown, wakeup};
use sai_http::{JwtVerifier, SyncBackend, serve};

#[path = "../../examples/todo_domain.rs"]
mod todo_domain;
use todo_domain::{StrictTodoMachine, Todo};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

fn option(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

async fn connect(url: &str, schema: &Option<String>) -> Result<PostgresStore<Todo>, AnyError> {
    Ok(match schema {
        Some(s) => PostgresStore::connect_in_schema(url, s).await?,
        None => PostgresStore::connect(url).await?,
    })
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().collect();
    let url = option(&args, "--postgres")
        .or_else(|| std::env::var("SAI_TEST_POSTGRES_URL").ok())
        .filter(|u| !u.is_empty())
        .ok_or("--postgres URL is required")?;
    let schema = option(&args, "--schema");
    let listen = option(&args, "--listen").unwrap_or_else(|| "127.0.0.1:8080".into());
    let audience = option(&args, "--audience").unwrap_or_else(|| "sai".into());
    let stores: usize = option(&args, "--stores").map_or(Ok(4), |n| n.parse())?;
    let workers: usize = option(&args, "--workers").map_or(Ok(2), |n| n.parse())?;
    let exit_after = option(&args, "--exit-after")
        .map(|s| s.parse::<u64>().map(Duration::from_secs))
        .transpose()?;
    let verifier = match option(&args, "--jwks") {
        Some(jwks) => JwtVerifier::jwks(jwks, audience),
        None => {
            let secret = option(&args, "--secret")
                .or_else(|| std::env::var("SAI_JWT_SECRET").ok())
                .unwrap_or_else(|| "dev-secret".into());
            JwtVerifier::hs256(secret.as_bytes(), audience)?
        }
    };

    // The tables, created or brought up to date once (idempotent; every backend may do it).
    if let Some(s) = &schema {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{s}\""))
            .await?;
    }
    connect(&url, &schema).await?.migrate().await?;

    // The workers: each its own connection, deciding with the stricter server machine. An
    // upload to any backend process wakes them through PostgreSQL's NOTIFY; this process's
    // own uploads also wake them in process, without the round trip.
    let (stop, signal) = shutdown();
    let (wake, waiter) = wakeup();
    let mut running = Vec::new();
    for _ in 0..workers {
        let mut processor = EventProcessor::new(connect(&url, &schema).await?)
            .with_machine::<StrictTodoMachine>()
            .with_config(ProcessorConfig::default().with_idle_wait(Duration::from_millis(100)))
            .with_wakeup(waiter.clone());
        let signal = signal.clone();
        running.push(tokio::spawn(async move { processor.run(signal).await }));
    }

    let mut pool = Vec::new();
    for _ in 0..stores.max(1) {
        pool.push(connect(&url, &schema).await?);
    }
    let backend = SyncBackend::new(pool, verifier).with_wakeup(wake);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    // One line a script can wait for.
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener, backend.router(), stop_signal(exit_after)).await?;

    stop.stop();
    let mut decided = 0;
    for worker in running {
        decided += worker.await?.decided();
    }
    println!("stopped; the workers decided {decided} intent(s)");
    Ok(())
}

/// Ctrl-C, SIGTERM, or the `--exit-after` timer, whichever comes first.
async fn stop_signal(exit_after: Option<Duration>) {
    let timer = async {
        match exit_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
        _ = timer => {}
    }
    println!("shutting down");
}
