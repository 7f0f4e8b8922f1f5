//! The test PostgreSQL server: its URL comes from `SAI_TEST_POSTGRES_URL`.

use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that names the test server.
pub const URL_VAR: &str = "SAI_TEST_POSTGRES_URL";

/// The server URL, or `None` (with a printed reason) when it is not configured: a laptop
/// without PostgreSQL skips these tests; CI sets the variable and fails if the server is down.
pub fn url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped: {URL_VAR} is not set, so no PostgreSQL server is used");
            None
        }
    }
}

/// Connects to the test server and creates a fresh schema that this client uses alone, so
/// that tests can run in parallel. Panics if the server is configured but unreachable.
pub async fn fresh_schema(url: &str, label: &str) -> (tokio_postgres::Client, String) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("{URL_VAR}={url} is set but the server is unreachable: {e:?}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    SWEPT.get_or_init(|| drop_dead_schemas(&client)).await;
    let schema = format!(
        "sai_test_{label}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; SET search_path TO {schema};"
        ))
        .await
        .expect("create test schema");
    (client, schema)
}

/// Drops the schemas of test processes that have ended (their names carry the process id),
/// so the server does not fill up run after run. Only where `/proc` tells which processes
/// live; a schema of a process still running is never touched.
async fn drop_dead_schemas(client: &tokio_postgres::Client) {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let rows = client
        .query(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'sai\\_test\\_%'",
            &[],
        )
        .await
        .expect("list test schemas");
    for row in rows {
        let schema: String = row.get(0);
        let pid = schema
            .rsplit('_')
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            // Another sweeper may have dropped it first.
            let _ = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await;
        }
    }
}
