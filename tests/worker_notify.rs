//! Workers anywhere: on PostgreSQL an upload through one connection wakes an idle worker on
//! another at once (`LISTEN`/`NOTIFY`), though the two share no in-process wake-up and the
//! worker's idle wait is an hour. Skipped when `SAI_TEST_POSTGRES_URL` is unset.

use std::time::Duration;

use sai::server::{EventProcessor, PostgresStore, ProcessorConfig, ServerStore, ingest, shutdown};
use sai::{Intent, Uuid};
use sai_suite::{Todo, create};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_on_another_connection_wakes_an_idle_worker() {
    let Some(url) = sai_suite::postgres::url() else {
        return;
    };
    let (admin, schema) = sai_suite::postgres::fresh_schema(&url, "notify").await;
    let mut uploader = PostgresStore::<Todo>::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    uploader.migrate().await.unwrap();

    let mut worker_store = PostgresStore::<Todo>::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    let worker_pid = worker_store.backend_pid().await.unwrap();
    let (decided, mut heard) = tokio::sync::mpsc::unbounded_channel();
    let mut worker = EventProcessor::new(worker_store)
        .with_config(ProcessorConfig::default().with_idle_wait(Duration::from_secs(3600)))
        .on_decided(move |outcome| {
            let _ = decided.send(outcome.intent_id);
        });
    let (stop, stopped) = shutdown();
    let running = tokio::spawn(async move { worker.run(stopped).await });

    // Upload only once the worker listens and its first (empty) batch is over: from then
    // on, only a notification ends its hour-long idle wait.
    let channel: String = admin
        .query_one(&format!("SELECT 'sai_' || md5('{schema}' || ':todo')"), &[])
        .await
        .unwrap()
        .get(0);
    loop {
        let ready: bool = admin
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query LIKE 'LISTEN %' || $1 || '%') \
                 AND EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $2 AND state = 'idle' \
                   AND query = 'ROLLBACK')",
                &[&channel, &worker_pid],
            )
            .await
            .unwrap()
            .get(0);
        if ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let intent = Intent::new(Uuid::now_v7(), "phone", "alice", 1, create("woken"), 7)
        .to_raw()
        .unwrap();
    ingest(&mut uploader, "alice", std::slice::from_ref(&intent))
        .await
        .unwrap();
    // A guard against hanging for the hour, not a speed check: a woken worker decides in
    // milliseconds.
    let first = tokio::time::timeout(Duration::from_secs(60), heard.recv())
        .await
        .expect("the worker was not woken by the upload's notification");
    assert_eq!(first, Some(intent.id));
    stop.stop();
    let tally = running.await.unwrap();
    assert_eq!((tally.accepted, tally.errors), (1, 0));
}
