//! What a user downloads is the same from a SQLite and a PostgreSQL server, and only theirs:
//! `sqlite_rows_for_user` and `postgres_rows_for_user` against real databases that decided
//! the same uploads (PostgreSQL part skipped when `SAI_TEST_POSTGRES_URL` is unset).

use sai::schema::Schema;
use sai::server::{EventProcessor, PostgresStore, ServerStore, SqliteStore, ingest};
use sai::sync::{SyncRow, postgres_rows_for_user, sqlite_rows_for_user};
use sai::{Intent, RawIntent, SqlValue, Uuid};
use sai_suite::{Todo, TodoEvent, create};

/// Alice creates a todo and sends an estimate the default machine accepts and a rename it
/// refuses; Bob creates one of his own.
fn uploads() -> Vec<(&'static str, Vec<RawIntent>)> {
    let (hers, his) = (Uuid::now_v7(), Uuid::now_v7());
    let raw = |e, client: &str, user: &str, seq, event| {
        Intent::new(e, client, user, seq, event, 7)
            .to_raw()
            .unwrap()
    };
    vec![
        (
            "alice",
            vec![
                raw(hers, "alice-phone", "alice", 1, create("hers")),
                raw(
                    hers,
                    "alice-phone",
                    "alice",
                    2,
                    TodoEvent::Estimate { hours: Some(3.0) },
                ),
                raw(
                    hers,
                    "alice-phone",
                    "alice",
                    3,
                    TodoEvent::Rename { title: " ".into() },
                ),
            ],
        ),
        ("bob", vec![raw(his, "bob-phone", "bob", 1, create("his"))]),
    ]
}

async fn decide_all<S: ServerStore<Domain = Todo>>(
    mut store: S,
    uploads: &[(&str, Vec<RawIntent>)],
) {
    store.migrate().await.unwrap();
    for (user, intents) in uploads {
        ingest(&mut store, user, intents).await.unwrap();
    }
    let tally = EventProcessor::new(store).process_pending().await;
    assert_eq!((tally.accepted, tally.rejected, tally.errors), (3, 1, 0));
}

/// The rows without the server's wall-clock columns, which differ between two runs.
fn comparable(rows: Vec<SyncRow>) -> Vec<SyncRow> {
    let mut out: Vec<SyncRow> = rows
        .into_iter()
        .map(|mut r| {
            r.columns
                .retain(|(name, _)| !matches!(*name, "updated_at" | "rejected_at"));
            r
        })
        .collect();
    out.sort_by(|a, b| (&a.table, &a.id).cmp(&(&b.table, &b.id)));
    out
}

#[tokio::test]
async fn both_servers_hand_a_user_the_same_rows_and_only_theirs() {
    let uploads = uploads();
    let schema = Schema::of::<Todo>();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    decide_all(SqliteStore::<Todo>::open(&path).unwrap(), &uploads).await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let from_sqlite = sqlite_rows_for_user(&conn, &schema, "alice").unwrap();

    // Alice's projection, her rejection and her client's acknowledgement; nothing of Bob's.
    let mut tables: Vec<&str> = from_sqlite.iter().map(|r| r.table.as_str()).collect();
    tables.sort();
    assert_eq!(
        tables,
        [
            "todo_client_acks",
            "todo_intent_events_rejected",
            "todo_projection"
        ]
    );
    for row in &from_sqlite {
        let user = row
            .columns
            .iter()
            .find(|(name, _)| matches!(*name, "user_id" | "owner_id"))
            .map(|(_, v)| v.clone());
        assert_eq!(user, Some(SqlValue::Text("alice".into())), "{row:?}");
    }

    let Some(url) = sai_suite::postgres::url() else {
        return;
    };
    let (admin, schema_name) = sai_suite::postgres::fresh_schema(&url, "sync_rows").await;
    let store = PostgresStore::<Todo>::connect_in_schema(&url, &schema_name)
        .await
        .unwrap();
    decide_all(store, &uploads).await;
    let from_postgres = postgres_rows_for_user(&admin, &schema, "alice")
        .await
        .unwrap();
    assert_eq!(comparable(from_postgres), comparable(from_sqlite));
}
