//! `PostgresStore` over TLS, against the real server (`SAI_TEST_POSTGRES_URL`; skipped when
//! unset). The server must offer TLS (Debian's PostgreSQL does, with its snakeoil
//! certificate, which is why the connector here does not verify it).

use native_tls::TlsConnector;
use postgres_native_tls::MakeTlsConnector;
use sai::server::{EventProcessor, IngestError, PostgresStore, ServerStore, StoreError, ingest};
use sai::{Intent, Uuid};
use sai_suite::{Todo, TodoEvent};

fn tls() -> MakeTlsConnector {
    let connector = TlsConnector::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("TLS connector");
    MakeTlsConnector::new(connector)
}

/// Whether the store's current connection is encrypted, as the server sees it.
async fn encrypted(admin: &tokio_postgres::Client, store: &mut PostgresStore<Todo>) -> bool {
    let pid = store.backend_pid().await.expect("backend pid");
    admin
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = $1", &[&pid])
        .await
        .expect("pg_stat_ssl")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_decides_over_tls_and_reconnects_over_tls() {
    let Some(url) = sai_suite::postgres::url() else {
        return;
    };
    let required = format!(
        "{url}{}sslmode=require",
        if url.contains('?') { '&' } else { '?' }
    );
    let (admin, schema) = sai_suite::postgres::fresh_schema(&url, "tls").await;

    // sslmode=require without a TLS connector is refused, not silently downgraded.
    let plain = PostgresStore::<Todo>::options(required.clone())
        .schema(schema.clone())
        .connect()
        .await;
    assert!(
        matches!(
            plain,
            Err(StoreError::Database(_) | StoreError::Transient(_))
        ),
        "{plain:?}"
    );

    let mut store = PostgresStore::<Todo>::options(required)
        .schema(schema.clone())
        .tls(tls())
        .connect()
        .await
        .expect("connect over TLS");
    store.migrate().await.expect("migrate");
    assert!(
        encrypted(&admin, &mut store).await,
        "the server does not offer TLS: enable `ssl` in postgresql.conf"
    );
    let e = Uuid::now_v7();
    let intents: Vec<_> = [TodoEvent::Create { title: "a".into() }, TodoEvent::Toggle]
        .into_iter()
        .zip(1..)
        .map(|(event, seq)| {
            Intent::new(e, "tls-client", "alice", seq, event, 0)
                .to_raw()
                .expect("encode")
        })
        .collect();
    ingest(&mut store, "alice", &intents[..1])
        .await
        .expect("ingest");

    // The connection dies; the next call reconnects, through TLS again.
    let old = store.backend_pid().await.expect("pid");
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&old])
        .await
        .expect("terminate");
    let mut reconnected = None;
    for _ in 0..50 {
        match ingest(&mut store, "alice", &intents[1..]).await {
            Ok(report) => {
                reconnected = Some(report);
                break;
            }
            Err(IngestError::Store(e)) if e.is_transient() => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(reconnected.expect("reconnected").inserted, 1);
    assert_ne!(store.backend_pid().await.expect("pid"), old);
    assert!(encrypted(&admin, &mut store).await);

    let tally = EventProcessor::new(store).process_pending().await;
    assert_eq!(
        (tally.accepted, tally.errors),
        (2, 0),
        "{:?}",
        tally.failures
    );
}
