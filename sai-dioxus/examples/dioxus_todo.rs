//! The todo domain as a Dioxus app, served as liveview on 127.0.0.1 (no wasm toolchain):
//!
//!     cargo run -p sai-dioxus --example dioxus_todo
//!
//! One device (a SQLite file) syncs with an in-process server (another SQLite file, deciding
//! with `StrictTodoMachine`, which refuses estimates above 40 hours) through
//! `sai::sync::Loopback`. Add a todo, go offline, set an 80-hour estimate (the device accepts
//! it, shown as pending), go online: the server's refusal appears as a dismissible message.
//! `SAI_DIOXUS_ADDR` picks the address (default 127.0.0.1:8080).

use std::time::Duration;

// The browser test uses more of the shared app than `main` does.
#[allow(dead_code)]
mod support;
use support::todo_app::serve;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let addr = std::env::var("SAI_DIOXUS_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let dir = tempfile::tempdir()?;
    let running = serve(dir.path(), addr.parse()?, Duration::from_millis(300)).await?;
    println!("sai todo app on http://{}/todos", running.addr);
    println!("device and server files in {}", dir.path().display());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
