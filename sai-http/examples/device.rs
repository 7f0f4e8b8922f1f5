//! A device of the todo domain syncing with the backend example over HTTP: it creates a few
//! todos offline, completes some, then syncs until the server decided every intent, prints
//! what the server holds and exits.
//!
//!     cargo run --example device -- --server http://127.0.0.1:8080
//!
//! Options (defaults in brackets):
//!     --server URL      the backend [http://127.0.0.1:8080]
//!     --user NAME       the user [alice]
//!     --client ID       this device's client id [a new one]
//!     --db PATH         the device's SQLite file [a temporary one]
//!     --todos N         todos to create [5]
//!     --token JWT       the token to send; without it, one is made with --secret
//!     --secret TEXT     the backend's HS256 secret [$SAI_JWT_SECRET, or "dev-secret"]
//!     --audience TEXT   the audience [sai]
//!
//! A real app gets its token from its auth provider (the same one the PowerSync service
//! trusts); minting it here with the backend's secret stands in for that.

use std::time::Duration;

use sai::client::{ClientIdentity, ClientStore, EventSourcedActor};
use sai::prelude::*;
use sai_http::HttpDevice;

#[path = "../../examples/todo_domain.rs"]
mod todo_domain;
use todo_domain::{Todo, TodoEvent, TodoMachine};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

fn option(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// A development token: `sub` the user, for `audience`, valid for an hour.
fn dev_token(secret: &str, user: &str, audience: &str) -> Result<String, AnyError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let claims = serde_json::json!({ "sub": user, "aud": audience, "iat": now, "exp": now + 3600 });
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())?,
    )?)
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().collect();
    let server = option(&args, "--server").unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let user = option(&args, "--user").unwrap_or_else(|| "alice".into());
    let client = option(&args, "--client").unwrap_or_else(|| format!("device-{}", Uuid::now_v7()));
    let todos: usize = option(&args, "--todos").map_or(Ok(5), |n| n.parse())?;
    let audience = option(&args, "--audience").unwrap_or_else(|| "sai".into());
    let token = match option(&args, "--token") {
        Some(t) => t,
        None => {
            let secret = option(&args, "--secret")
                .or_else(|| std::env::var("SAI_JWT_SECRET").ok())
                .unwrap_or_else(|| "dev-secret".into());
            dev_token(&secret, &user, &audience)?
        }
    };
    let dir = tempfile::tempdir()?;
    let path = option(&args, "--db")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("device.db"));
    let store = ClientStore::builder().domain::<Todo>().open(&path)?;

    // Offline: create todos and complete every other one.
    let identity = ClientIdentity::new(&client, &user);
    for i in 0..todos {
        let todo = EventSourcedActor::<Todo>::create(&store, identity.clone())?;
        todo.send(TodoEvent::Create {
            title: format!("{client} todo {i}"),
        })?;
        if i % 2 == 0 {
            todo.send(TodoEvent::Toggle)?;
        }
    }
    let sent = store.logged_intents::<Todo>()?.len();
    println!("{client}: {sent} intent(s) written offline");

    // Online: the identity is given once, here; every round uploads and downloads as it.
    let device = HttpDevice::<Todo>::new(&server, identity, token);
    for round in 1..=600 {
        let report = device.sync(&store).await?;
        let pending = store.logged_intents::<Todo>()?.len();
        if report.uploaded.inserted > 0 || pending == 0 {
            println!(
                "{client}: round {round}: uploaded {} new, {} pending",
                report.uploaded.inserted, pending
            );
        }
        if pending == 0 {
            // The user's other devices' todos arrive too; show this device's.
            let mine = store.projections::<Todo>()?;
            for p in mine
                .iter()
                .filter(|p| p.context().title.starts_with(&client))
            {
                let state = p.state();
                let done = p.context().completed;
                println!(
                    "  {:<24} {:?}{}",
                    p.context().title,
                    state,
                    if done { " (done)" } else { "" }
                );
                debug_assert!(matches!(state, TodoMachine::Active | TodoMachine::Done));
            }
            println!("{client}: converged: every intent decided by the server");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the server did not decide every intent within 60 s".into())
}
