//! Generated DDL runs on real databases, rows round-trip, and bad rows are typed errors.

use rusqlite::{Connection, params_from_iter};
use sai::schema::{Dialect, Schema, SchemaError, Side, TableRole};
use sai::{ColumnDef, ColumnType, Domain, RowError, SqlValue, ValueError};
use sai_suite::{Todo, column, postgres};

fn sqlite_file() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("sai.db")).unwrap();
    (dir, conn)
}

fn sqlite_tables(conn: &Connection) -> Vec<String> {
    column(
        conn,
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    )
}

#[test]
fn table_names_follow_the_documented_pattern() {
    let schema = Schema::of::<Todo>();
    let names: Vec<_> = schema.tables().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "todo_intent_events",
            "todo_intent_events_processed",
            "todo_intent_events_rejected",
            "todo_projection",
            "todo_client_acks",
            "todo_changes",
            "todo_intent_events_local",
            "todo_projection_local",
            "todo_client_seq_local",
            "todo_rejections_local",
            "todo_sync_cursor_local",
        ]
    );
    let projection = &schema.tables()[3];
    let fields: Vec<_> = projection.field_columns().iter().map(|c| c.name).collect();
    assert_eq!(
        fields,
        ["title", "completed", "estimate", "labels", "priority_level"]
    );
}

#[test]
fn sqlite_ddl_executes_idempotently_on_both_sides() {
    for side in [Side::Client, Side::Server] {
        let (_dir, conn) = sqlite_file();
        let ddl = Schema::of::<Todo>().ddl(Dialect::Sqlite, side);
        conn.execute_batch(&ddl).unwrap();
        conn.execute_batch(&ddl)
            .expect("running the DDL twice is harmless");
        let expected: Vec<String> = {
            let mut v: Vec<_> = Schema::of::<Todo>()
                .tables_on(side)
                .map(|t| t.name.clone())
                .collect();
            v.sort();
            v
        };
        assert_eq!(sqlite_tables(&conn), expected, "{side:?}");
    }
}

#[test]
fn client_and_server_hold_the_right_tables() {
    let schema = Schema::of::<Todo>();
    let on = |side| schema.tables_on(side).map(|t| t.role).collect::<Vec<_>>();
    assert_eq!(
        on(Side::Server),
        [
            TableRole::IntentQueue,
            TableRole::Processed,
            TableRole::Rejected,
            TableRole::Projection,
            TableRole::ClientAcks,
            TableRole::Changes
        ]
    );
    assert_eq!(
        on(Side::Client),
        [
            TableRole::Rejected,
            TableRole::Projection,
            TableRole::ClientAcks,
            TableRole::LocalIntents,
            TableRole::LocalProjection,
            TableRole::LocalSequence,
            TableRole::LocalRejections,
            TableRole::LocalCursor
        ]
    );
}

fn projection_sql(table: &str) -> (String, String) {
    let cols: Vec<_> = Todo::COLUMNS
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect();
    let marks: Vec<_> = (0..cols.len()).map(|i| format!("?{}", i + 5)).collect();
    (
        format!(
            "INSERT INTO {table} (id, state, version, owner_id, updated_at, {}) VALUES (?1, ?2, ?3, ?4, 0, {})",
            cols.join(", "),
            marks.join(", ")
        ),
        format!("SELECT {} FROM {table} WHERE id = ?1", cols.join(", ")),
    )
}

#[test]
fn a_projection_row_round_trips_through_sqlite() {
    let (_dir, conn) = sqlite_file();
    conn.execute_batch(&Schema::of::<Todo>().ddl(Dialect::Sqlite, Side::Client))
        .unwrap();
    let todo = Todo {
        title: "Ship it ✓".into(),
        completed: true,
        estimate: Some(2.5),
        labels: vec!["a".into(), "b \"quoted\"".into()],
        priority: -3,
    };
    let (insert, select) = projection_sql("todo_projection_local");
    let mut params: Vec<SqlValue> = vec![
        SqlValue::Text("e1".into()),
        SqlValue::Text("Active".into()),
        SqlValue::Integer(1),
        SqlValue::Text("alice".into()),
    ];
    params.extend(todo.to_row().unwrap());
    conn.execute(&insert, params_from_iter(&params)).unwrap();
    let read = |id: &str| -> Vec<SqlValue> {
        conn.query_row(&select, [id], |r| {
            (0..Todo::COLUMNS.len())
                .map(|i| r.get::<_, SqlValue>(i))
                .collect()
        })
        .unwrap()
    };
    assert_eq!(Todo::from_row(read("e1")).unwrap(), todo);

    // A todo without an estimate stores NULL and reads back as None.
    let none = Todo {
        estimate: None,
        ..todo.clone()
    };
    params.truncate(4);
    params[0] = SqlValue::Text("e2".into());
    params.extend(none.to_row().unwrap());
    conn.execute(&insert, params_from_iter(&params)).unwrap();
    assert_eq!(read("e2")[2], SqlValue::Null);
    assert_eq!(Todo::from_row(read("e2")).unwrap(), none);
}

#[test]
fn malformed_rows_are_typed_errors() {
    let good = Todo::default().to_row().unwrap();
    let short = good[..3].to_vec();
    assert_eq!(
        Todo::from_row(short).unwrap_err(),
        RowError::Arity {
            domain: "todo",
            expected: 5,
            found: 3
        }
    );
    let mut wrong = good.clone();
    wrong[1] = SqlValue::Text("yes".into());
    assert_eq!(
        Todo::from_row(wrong).unwrap_err(),
        RowError::Column {
            domain: "todo",
            column: "completed",
            source: ValueError::WrongType {
                expected: ColumnType::Integer,
                found: "TEXT"
            },
        }
    );
    let mut not_bool = good.clone();
    not_bool[1] = SqlValue::Integer(7);
    assert!(matches!(
        Todo::from_row(not_bool),
        Err(RowError::Column {
            column: "completed",
            source: ValueError::OutOfRange { value: 7, .. },
            ..
        })
    ));
    let mut bad_json = good.clone();
    bad_json[3] = SqlValue::Text("[1, 2".into());
    let err = Todo::from_row(bad_json).unwrap_err();
    assert!(
        matches!(
            &err,
            RowError::Column {
                column: "labels",
                source: ValueError::Json(_),
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("column `todo.labels`: invalid JSON"),
        "{err}"
    );
    let mut overflow = good;
    overflow[4] = SqlValue::Integer(i64::MAX);
    assert!(matches!(
        Todo::from_row(overflow),
        Err(RowError::Column {
            column: "priority_level",
            source: ValueError::OutOfRange {
                rust_type: "i32",
                ..
            },
            ..
        })
    ));
}

#[test]
fn combining_domains_reports_a_name_collision() {
    const FIELDS: &[ColumnDef] = &[];
    let ok = Schema::builder()
        .domain::<Todo>()
        .tables_of("project", FIELDS)
        .build()
        .unwrap();
    assert_eq!(ok.tables().len(), 22);
    let err: SchemaError = Schema::builder()
        .domain::<Todo>()
        .tables_of("todo", FIELDS)
        .build()
        .unwrap_err();
    assert_eq!(
        (err.table.as_str(), err.first, err.second),
        ("todo_intent_events", "todo", "todo")
    );
    assert!(
        err.to_string()
            .contains("both domain `todo` and domain `todo`")
    );
}

#[tokio::test]
async fn postgres_ddl_executes_idempotently() {
    let Some(url) = postgres::url() else { return };
    let (client, schema) = postgres::fresh_schema(&url, "ddl").await;
    let ddl = Schema::of::<Todo>().ddl(Dialect::Postgres, Side::Server);
    client.batch_execute(&ddl).await.unwrap();
    client
        .batch_execute(&ddl)
        .await
        .expect("running the DDL twice is harmless");
    let rows = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
            &[&schema],
        )
        .await
        .unwrap();
    let tables: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let mut expected: Vec<_> = Schema::of::<Todo>()
        .tables_on(Side::Server)
        .map(|t| t.name.clone())
        .collect();
    expected.sort();
    assert_eq!(tables, expected);
    let types = client
        .query(
            "SELECT column_name::text, data_type::text, is_nullable::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = 'todo_projection' ORDER BY ordinal_position",
            &[&schema],
        )
        .await
        .unwrap();
    let types: Vec<(String, String, String)> = types
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(types[4], ("decided".into(), "text".into(), "NO".into()));
    assert_eq!(
        types[7],
        ("estimate".into(), "double precision".into(), "YES".into())
    );
    assert_eq!(types[6], ("completed".into(), "bigint".into(), "NO".into()));
    // The unique (client_id, seq) constraint is real: a duplicate upload cannot be stored twice.
    client
        .execute(
            "INSERT INTO todo_intent_events (id, entity_id, client_id, user_id, seq, event_type, event_version, payload, created_at, received_at) \
             VALUES ('i1', 'e', 'c', 'u', 1, 'TOGGLE', 1, '{}', 0, 0)",
            &[],
        )
        .await
        .unwrap();
    let dup = client
        .execute(
            "INSERT INTO todo_intent_events (id, entity_id, client_id, user_id, seq, event_type, event_version, payload, created_at, received_at) \
             VALUES ('i2', 'e', 'c', 'u', 1, 'TOGGLE', 1, '{}', 0, 0)",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(
        dup.code(),
        Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
    );
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}
