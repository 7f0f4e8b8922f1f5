//! The generated PowerSync client schema, applied by the real `powersync` crate.

use sai::powersync::client_schema;
use sai::schema::{Schema, Side};
use sai_suite::{Todo, powersync::Offline};

#[tokio::test]
async fn the_core_accepts_the_schema_and_gives_each_table_its_role() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::of::<Todo>();
    let ps_schema = client_schema(&schema);
    ps_schema
        .validate()
        .expect("PowerSync validates the schema");
    let names: Vec<_> = ps_schema.tables.iter().map(|t| t.name.as_ref()).collect();
    assert!(
        !names.contains(&"todo_intent_events_processed"),
        "{names:?}"
    );
    // Five synced or outbox tables and four local-only ones (the download cursor included,
    // unused on the PowerSync path).
    assert_eq!(names.len(), 9);

    let db = sai_suite::powersync::open(&dir.path().join("client.db"), ps_schema, Offline);
    let mut writer = db.writer().await.unwrap();
    let tx = writer.transaction().unwrap();
    // One transaction writes the local log and the outbox, as the client store does.
    for table in ["todo_intent_events", "todo_intent_events_local"] {
        tx.execute(
            &format!(
                "INSERT INTO {table} (id, entity_id, client_id, user_id, seq, event_type, event_version, payload, created_at) \
                 VALUES ('i1', 'e1', 'c1', 'alice', 1, 'TOGGLE', 1, '{{\"type\":\"TOGGLE\"}}', 5)"
            ),
            [],
        )
        .unwrap();
    }
    tx.commit().unwrap();

    let count = |sql: &str| -> i64 { writer.query_row(sql, [], |r| r.get(0)).unwrap() };
    // Insert-only: nothing stays readable, the row is queued for upload.
    assert_eq!(count("SELECT count(*) FROM todo_intent_events"), 0);
    assert_eq!(count("SELECT count(*) FROM todo_intent_events_local"), 1);
    assert_eq!(
        count("SELECT seq FROM todo_intent_events_local WHERE id = 'i1'"),
        1
    );
    drop(writer);

    let crud = db
        .next_crud_transaction()
        .await
        .unwrap()
        .expect("one upload transaction");
    assert_eq!(crud.crud.len(), 1, "the local-only log is never uploaded");
    let entry = &crud.crud[0];
    assert_eq!(
        (entry.table.as_str(), entry.id.as_str()),
        ("todo_intent_events", "i1")
    );
    let data = entry.data.as_ref().unwrap();
    assert_eq!(data["event_type"], "TOGGLE");
    assert_eq!(data["seq"], 1);

    // Every table a plain client database has exists here too, under the same name.
    let reader = db.reader().await.unwrap();
    for t in schema.tables_on(Side::Client) {
        let _: i64 = reader
            .query_row(&format!("SELECT count(*) FROM {}", t.name), [], |r| {
                r.get(0)
            })
            .unwrap_or_else(|e| panic!("{}: {e}", t.name));
    }
}
