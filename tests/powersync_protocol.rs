//! The fake PowerSync service against the real `powersync` client, at the level of rows:
//! per-user buckets, updates and removals, resumption after reconnect, and decisions that
//! arrive while uploads are still pending (priority 0).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use powersync::error::PowerSyncError;
use powersync::{BackendConnector, PowerSyncCredentials, PowerSyncDatabase, SyncOptions};
use sai::powersync::{client_schema, wake_uploads};
use sai::schema::Schema;
use sai_suite::Todo;
use sai_suite::fake_powersync::{FakeService, SyncRow};
use serde_json::json;

/// A backend that is down: every upload fails, so `ps_crud` stays non-empty.
struct DownBackend {
    user: String,
    attempts: Arc<AtomicUsize>,
}

#[async_trait]
impl BackendConnector for DownBackend {
    async fn fetch_credentials(&self) -> Result<PowerSyncCredentials, PowerSyncError> {
        Ok(PowerSyncCredentials {
            endpoint: "http://powersync.test/".into(),
            token: self.user.clone(),
        })
    }

    async fn upload_data(&self) -> Result<(), PowerSyncError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Err(PowerSyncError::upload_error(std::io::Error::other(
            "backend unavailable",
        )))
    }
}

fn projection_row(id: &str, title: &str, owner: &str) -> SyncRow {
    SyncRow {
        table: "todo_projection".into(),
        id: id.into(),
        data: json!({"state": "Active", "version": 1, "owner_id": owner, "title": title,
                     "completed": 0, "estimate": null, "labels": "[]", "priority_level": 0,
                     "updated_at": 1}),
    }
}

async fn titles(db: &PowerSyncDatabase) -> Vec<(String, String)> {
    let reader = db.reader().await.unwrap();
    let mut stmt = reader
        .prepare("SELECT id, title FROM todo_projection ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

async fn eventually(db: &PowerSyncDatabase, want: &[(&str, &str)]) {
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    for _ in 0..500 {
        if titles(db).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "expected {want:?}, have {:?}\n{:?}",
        titles(db).await,
        db.status()
    );
}

/// Entries in PowerSync's upload queue.
async fn queued_uploads(db: &PowerSyncDatabase) -> i64 {
    let reader = db.reader().await.unwrap();
    reader
        .query_row("SELECT count(*) FROM ps_crud", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_sync_per_user_even_while_uploads_are_pending() {
    let dir = tempfile::tempdir().unwrap();
    let service = FakeService::new("sai_todo");
    let db = sai_suite::powersync::open(
        &dir.path().join("alice.db"),
        client_schema(&Schema::of::<Todo>()),
        service.client(),
    );
    db.async_tasks().spawn_with_tokio();

    // An intent waits in the upload queue; the backend refuses it.
    {
        let writer = db.writer().await.unwrap();
        writer
            .execute(
                "INSERT INTO todo_intent_events (id, entity_id, client_id, user_id, seq, event_type, event_version, payload, created_at) \
                 VALUES ('i1', 'e1', 'c1', 'alice', 1, 'TOGGLE', 1, '{\"type\":\"TOGGLE\"}', 5)",
                [],
            )
            .unwrap();
    }
    let attempts = Arc::new(AtomicUsize::new(0));
    let mut options = SyncOptions::new(DownBackend {
        user: "alice".into(),
        attempts: attempts.clone(),
    });
    options.with_retry_delay(Duration::from_millis(50));
    db.connect(options).await;
    // A wake-up that arrives before the client's upload loop runs is not kept: announce the
    // queue again until the first attempt (as `PowerSyncClient` does), for up to 30 s.
    for _ in 0..120 {
        wake_uploads(&db).await.unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        if attempts.load(Ordering::SeqCst) > 0 {
            break;
        }
    }
    assert!(
        attempts.load(Ordering::SeqCst) > 0,
        "the upload was attempted and failed: {:?}",
        db.status()
    );

    service.publish("alice", vec![projection_row("e1", "Buy milk", "alice")]);
    service.publish("bob", vec![projection_row("e9", "Bob's", "bob")]);
    eventually(&db, &[("e1", "Buy milk")]).await;
    let pending = queued_uploads(&db).await;
    assert_eq!(pending, 1, "the intent is still waiting to upload");

    // Updates follow, still while the upload is pending.
    service.publish(
        "alice",
        vec![
            projection_row("e1", "Buy oat milk", "alice"),
            projection_row("e2", "Call mum", "alice"),
        ],
    );
    eventually(&db, &[("e1", "Buy oat milk"), ("e2", "Call mum")]).await;

    // Offline while the server changes; then back with a working backend: the client resumes
    // from where its bucket stood, the upload drains, and the full checkpoint applies a removal.
    db.disconnect().await;
    service.publish(
        "alice",
        vec![
            projection_row("e2", "Call mum", "alice"),
            projection_row("e3", "Water plants", "alice"),
        ],
    );
    let uploaded = Arc::new(AtomicUsize::new(0));
    let mut options = SyncOptions::new(UpBackend {
        db: db.clone(),
        uploaded: uploaded.clone(),
    });
    options.with_retry_delay(Duration::from_millis(50));
    db.connect(options).await;
    wake_uploads(&db).await.unwrap();
    eventually(&db, &[("e2", "Call mum"), ("e3", "Water plants")]).await;
    assert_eq!(uploaded.load(Ordering::SeqCst), 1);
    let pending = queued_uploads(&db).await;
    assert_eq!(pending, 0);
    assert!(service.stream_requests() >= 2);
}

/// A backend that accepts every upload.
struct UpBackend {
    db: PowerSyncDatabase,
    uploaded: Arc<AtomicUsize>,
}

#[async_trait]
impl BackendConnector for UpBackend {
    async fn fetch_credentials(&self) -> Result<PowerSyncCredentials, PowerSyncError> {
        Ok(PowerSyncCredentials {
            endpoint: "http://powersync.test/".into(),
            token: "alice".into(),
        })
    }

    async fn upload_data(&self) -> Result<(), PowerSyncError> {
        while let Some(tx) = self.db.next_crud_transaction().await? {
            self.uploaded.fetch_add(tx.crud.len(), Ordering::SeqCst);
            tx.complete().await?;
        }
        Ok(())
    }
}
