//! Incremental downloads and the store-agnostic `Loopback`, on both server stores: devices
//! converge page by page, a restarted device resumes at its stored cursor, a removal reaches
//! the device, a device bound to one user refuses a round for another, and on PostgreSQL two
//! decision transactions that commit out of order lose no change for a reader paging by
//! cursor. PostgreSQL parts are skipped when `SAI_TEST_POSTGRES_URL` is unset.

use std::path::Path;

use sai::client::{ClientIdentity, ClientStore, EventSourcedActor};
use sai::schema::Schema;
use sai::server::{EventProcessor, PostgresStore, ServerStore, SqliteStore, ingest};
use sai::sync::{
    Cursor, DeviceError, Loopback, SyncError, SyncRow, device_cursor, postgres_rows_for_user,
    sqlite_rows_for_user, write_page,
};
use sai::{Intent, Uuid};
use sai_suite::{StrictTodoMachine, Todo, TodoEvent, create};

type Round<S> = Loopback<Todo, StrictTodoMachine, S>;

/// Reads a user's full row set from the server, independently of the change log.
enum Server {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
}

impl Server {
    async fn rows(&self, user: &str) -> Vec<SyncRow> {
        let schema = Schema::of::<Todo>();
        let rows = match self {
            Server::Sqlite(c) => sqlite_rows_for_user(c, &schema, user).unwrap(),
            Server::Postgres(c) => postgres_rows_for_user(c, &schema, user).await.unwrap(),
        };
        sorted(rows)
    }

    async fn execute(&self, sql: &str) {
        match self {
            Server::Sqlite(c) => c.execute_batch(sql).unwrap(),
            Server::Postgres(c) => c.batch_execute(sql).await.unwrap(),
        }
    }
}

fn sorted(mut rows: Vec<SyncRow>) -> Vec<SyncRow> {
    rows.sort_by(|a, b| (&a.table, &a.id).cmp(&(&b.table, &b.id)));
    rows
}

/// The device's downloaded tables, read like the server's.
fn device_rows(client: &ClientStore, user: &str) -> Vec<SyncRow> {
    let schema = Schema::of::<Todo>();
    sorted(client.with_connection(|c| sqlite_rows_for_user(c, &schema, user).unwrap()))
}

fn device(path: &Path) -> ClientStore {
    ClientStore::builder().domain::<Todo>().open(path).unwrap()
}

/// Each store under test: SQLite always, PostgreSQL when configured. Calls `body` with a
/// fresh server (its store and an independent reader) and a directory for devices.
macro_rules! on_both_stores {
    ($label:literal, $body:ident) => {{
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let store = SqliteStore::<Todo>::open(&path).unwrap();
        let sync = Round::new(EventProcessor::new(store).with_machine())
            .await
            .unwrap();
        $body(
            sync,
            Server::Sqlite(rusqlite::Connection::open(&path).unwrap()),
            dir.path(),
        )
        .await;

        if let Some(url) = sai_suite::postgres::url() {
            let (admin, schema) = sai_suite::postgres::fresh_schema(&url, $label).await;
            let store = PostgresStore::<Todo>::connect_in_schema(&url, &schema)
                .await
                .unwrap();
            let sync = Round::new(EventProcessor::new(store).with_machine())
                .await
                .unwrap();
            let dir = tempfile::tempdir().unwrap();
            $body(sync, Server::Postgres(admin), dir.path()).await;
        }
    }};
}

async fn two_devices_converge<S: ServerStore<Domain = Todo>>(
    sync: Round<S>,
    server: Server,
    dir: &Path,
) {
    // Pages of two entries: every round reads several pages.
    let mut sync = sync.with_page_limit(2);
    let (phone_store, laptop_store) = (device(&dir.join("phone")), device(&dir.join("laptop")));
    let bob_store = device(&dir.join("bob"));
    let phone =
        EventSourcedActor::<Todo>::create(&phone_store, ClientIdentity::new("phone", "alice"))
            .unwrap();
    phone.send(create("Buy milk")).unwrap();
    for title in ["a", "b", "c"] {
        EventSourcedActor::<Todo>::create(&phone_store, ClientIdentity::new("phone", "alice"))
            .unwrap()
            .send(create(title))
            .unwrap();
    }
    let bobs =
        EventSourcedActor::<Todo>::create(&bob_store, ClientIdentity::new("bob-1", "bob")).unwrap();
    bobs.send(create("his")).unwrap();
    sync.sync(&phone_store, "alice").await.unwrap();
    sync.sync(&bob_store, "bob").await.unwrap();
    sync.sync(&laptop_store, "alice").await.unwrap();
    let laptop = EventSourcedActor::<Todo>::open(
        &laptop_store,
        ClientIdentity::new("laptop", "alice"),
        phone.entity_id(),
    )
    .unwrap();
    phone
        .send(TodoEvent::Rename {
            title: "Buy oat milk".into(),
        })
        .unwrap();
    laptop
        .send(TodoEvent::Estimate { hours: Some(80.0) })
        .unwrap();
    for s in [&laptop_store, &phone_store, &laptop_store, &phone_store] {
        sync.sync(s, "alice").await.unwrap();
    }

    let (p, l) = (
        phone.projection().unwrap().unwrap(),
        laptop.projection().unwrap().unwrap(),
    );
    assert_eq!(p.snapshot, l.snapshot);
    assert!(!p.optimistic && !l.optimistic);
    assert_eq!(p.context().title, "Buy oat milk");
    assert_eq!(
        laptop.rejections().unwrap().len(),
        1,
        "the estimate was refused"
    );
    // Each device holds exactly what a full download would give, and nothing of Bob's.
    let alice = server.rows("alice").await;
    assert_eq!(
        alice.len(),
        4 + 1 + 2,
        "projections, the rejection, two acks"
    );
    assert_eq!(device_rows(&phone_store, "alice"), alice);
    assert_eq!(device_rows(&laptop_store, "alice"), alice);
    assert!(device_rows(&phone_store, "bob").is_empty());
    assert_eq!(device_rows(&bob_store, "bob"), server.rows("bob").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_converge_page_by_page_on_both_stores() {
    on_both_stores!("incr_converge", two_devices_converge);
}

async fn restart_mid_download<S: ServerStore<Domain = Todo>>(
    mut sync: Round<S>,
    server: Server,
    dir: &Path,
) {
    let path = dir.join("phone");
    let writer = device(&dir.join("writer"));
    for i in 0..5 {
        EventSourcedActor::<Todo>::create(&writer, ClientIdentity::new("writer", "alice"))
            .unwrap()
            .send(create(&format!("todo {i}")))
            .unwrap();
    }
    sync.sync(&writer, "alice").await.unwrap();

    // A fresh device reads one page of two (fewer than the six changes), then stops.
    let phone = device(&path);
    sync.upload(&phone, "alice").await.unwrap();
    let first = sync
        .processor_mut()
        .store_mut()
        .changes_for_user("alice", Cursor::START, 2)
        .await
        .unwrap();
    assert_eq!(first.rows.len(), 2);
    assert!(
        first.more,
        "a page limit smaller than the changes leaves more"
    );
    write_page::<Todo>(&phone, "alice", &first).unwrap();
    drop(phone);

    // Reopened, it is where it stopped, and a page read for another cursor is refused.
    let phone = device(&path);
    assert_eq!(
        device_cursor::<Todo>(&phone).unwrap(),
        Some(("alice".to_owned(), first.next))
    );
    assert_eq!(device_rows(&phone, "alice").len(), 2);
    assert!(matches!(
        write_page::<Todo>(&phone, "alice", &first),
        Err(DeviceError::OutOfOrder { .. })
    ));
    // A page that moves the cursor back (a reset or restored server log) and a page naming
    // a table the device does not download are refused, and write nothing.
    let mut rewinding = sync
        .processor_mut()
        .store_mut()
        .changes_for_user("alice", first.next, 2)
        .await
        .unwrap();
    rewinding.next = Cursor::START;
    assert!(matches!(
        write_page::<Todo>(&phone, "alice", &rewinding),
        Err(DeviceError::Rewinds { .. })
    ));
    let mut foreign = sync
        .processor_mut()
        .store_mut()
        .changes_for_user("alice", first.next, 2)
        .await
        .unwrap();
    foreign.rows[1].table = "not_downloaded".to_owned();
    assert!(matches!(
        write_page::<Todo>(&phone, "alice", &foreign),
        Err(DeviceError::UnknownTable(t)) if t == "not_downloaded"
    ));
    assert_eq!(device_rows(&phone, "alice").len(), 2);
    assert_eq!(
        device_cursor::<Todo>(&phone).unwrap(),
        Some(("alice".to_owned(), first.next))
    );
    // A page for alice on a device whose log holds bob's intent is refused, though the
    // device never synced (nothing bound it yet).
    let bobs = device(&dir.join("bobs"));
    EventSourcedActor::<Todo>::create(&bobs, ClientIdentity::new("bobs", "bob"))
        .unwrap()
        .send(create("bob's"))
        .unwrap();
    assert!(matches!(
        write_page::<Todo>(&bobs, "alice", &foreign),
        Err(DeviceError::WrongUser { device, .. }) if device == "bob"
    ));
    sync.download(&phone, "alice").await.unwrap();
    assert_eq!(device_rows(&phone, "alice"), server.rows("alice").await);
    let (_, cursor) = device_cursor::<Todo>(&phone).unwrap().unwrap();
    assert!(cursor > first.next);

    // Nothing changed: the next round reads an empty page and stays put.
    let page = sync
        .processor_mut()
        .store_mut()
        .changes_for_user("alice", cursor, 100)
        .await
        .unwrap();
    assert!(page.rows.is_empty() && page.removals.is_empty() && !page.more);
    assert_eq!(page.next, cursor);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_device_resumes_at_its_stored_cursor() {
    on_both_stores!("incr_restart", restart_mid_download);
}

async fn removal_reaches_the_device<S: ServerStore<Domain = Todo>>(
    mut sync: Round<S>,
    server: Server,
    dir: &Path,
) {
    let phone = device(&dir.join("phone"));
    let (kept, dropped) = (
        EventSourcedActor::<Todo>::create(&phone, ClientIdentity::new("phone", "alice")).unwrap(),
        EventSourcedActor::<Todo>::create(&phone, ClientIdentity::new("phone", "alice")).unwrap(),
    );
    kept.send(create("kept")).unwrap();
    dropped.send(create("dropped")).unwrap();
    sync.sync(&phone, "alice").await.unwrap();
    assert_eq!(phone.projections::<Todo>().unwrap().len(), 2);

    // An operator removes an entity from the archive and rebuilds the projections: the
    // rebuild deletes its row, and the device learns of it through a removal entry.
    server
        .execute(&format!(
            "DELETE FROM todo_intent_events_processed WHERE entity_id = '{}'",
            dropped.entity_id()
        ))
        .await;
    sync.processor_mut().rebuild_projections().await.unwrap();
    sync.download(&phone, "alice").await.unwrap();
    let left: Vec<Uuid> = phone
        .projections::<Todo>()
        .unwrap()
        .iter()
        .map(|p| p.entity_id)
        .collect();
    assert_eq!(left, [kept.entity_id()]);
    assert_eq!(device_rows(&phone, "alice"), server.rows("alice").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_projection_is_removed_on_the_device() {
    on_both_stores!("incr_removal", removal_reaches_the_device);
}

async fn another_user_is_refused<S: ServerStore<Domain = Todo>>(
    mut sync: Round<S>,
    _server: Server,
    dir: &Path,
) {
    // A device whose log holds Alice's intents is not synced as Bob: a typed error, and
    // nothing is uploaded (before, the round uploaded nothing and said nothing).
    let phone = device(&dir.join("phone"));
    EventSourcedActor::<Todo>::create(&phone, ClientIdentity::new("phone", "alice"))
        .unwrap()
        .send(create("hers"))
        .unwrap();
    match sync.sync(&phone, "bob").await {
        Err(SyncError::Device(DeviceError::WrongUser { device, requested })) => {
            assert_eq!((device.as_str(), requested.as_str()), ("alice", "bob"));
        }
        other => panic!("expected a wrong-user error, got {other:?}"),
    }
    assert_eq!(
        sync.processor_mut()
            .store_mut()
            .pending_count()
            .await
            .unwrap(),
        0
    );

    // Once bound to Alice (first round), the device refuses Bob's downloads too, even with
    // an empty log.
    sync.sync(&phone, "alice").await.unwrap();
    assert!(phone.logged_intents::<Todo>().unwrap().is_empty());
    assert!(matches!(
        sync.download(&phone, "bob").await,
        Err(SyncError::Device(DeviceError::WrongUser { .. }))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_refuses_a_round_for_another_user() {
    on_both_stores!("incr_user", another_user_is_refused);
}

/// A server database from before the change log: its rows reach a new device all the same
/// (the migration fills the log from the existing rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_from_before_the_change_log_are_downloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    {
        let store = SqliteStore::<Todo>::open(&path).unwrap();
        let mut sync = Round::new(EventProcessor::new(store).with_machine())
            .await
            .unwrap();
        let writer = device(&dir.path().join("writer"));
        for title in ["a", "b"] {
            EventSourcedActor::<Todo>::create(&writer, ClientIdentity::new("w", "alice"))
                .unwrap()
                .send(create(title))
                .unwrap();
        }
        sync.sync(&writer, "alice").await.unwrap();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    // As a database from before the log: no log table, and the layout recorded then.
    conn.execute_batch(
        "DROP TABLE todo_changes; UPDATE sai_schema SET fingerprint = 'before the change log';",
    )
    .unwrap();
    let store = SqliteStore::<Todo>::open(&path).unwrap();
    let mut sync = Round::new(EventProcessor::new(store).with_machine())
        .await
        .unwrap();
    let phone = device(&dir.path().join("phone"));
    sync.download(&phone, "alice").await.unwrap();
    assert_eq!(phone.projections::<Todo>().unwrap().len(), 2);
    assert_eq!(
        device_rows(&phone, "alice"),
        Server::Sqlite(conn).rows("alice").await
    );
}

/// Two decision transactions for one user's entities on PostgreSQL, the first paused after
/// stamping its changes (a trigger waits on a lock the test holds) while the second tries to
/// commit, and a reader pages in between: once both have committed, the reader's next page
/// from its cursor holds whatever the first page did not. With positions taken in one order
/// and committed in another, the first page would carry the second transaction's position
/// and the next page would skip the first transaction's rows for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_transactions_committing_out_of_order_skip_nothing() {
    let Some(url) = sai_suite::postgres::url() else {
        return;
    };
    let (admin, schema) = sai_suite::postgres::fresh_schema(&url, "incr_order").await;
    let connect = || PostgresStore::<Todo>::connect_in_schema(&url, &schema);
    let mut uploader = connect().await.unwrap();
    uploader.migrate().await.unwrap();
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    let raw = |e, client: &str| {
        Intent::new(e, client, "alice", 1, create("t"), 7)
            .to_raw()
            .unwrap()
    };
    ingest(
        &mut uploader,
        "alice",
        &[raw(first, "c1"), raw(second, "c2")],
    )
    .await
    .unwrap();

    // Every connection prepares its statements first: preparing an insert into the change
    // log waits, like the insert, for a transaction that is stamping.
    let (mut one, mut two, mut reader) = (
        connect().await.unwrap(),
        connect().await.unwrap(),
        connect().await.unwrap(),
    );
    for store in [&mut one, &mut two, &mut reader] {
        store.pending_count().await.unwrap();
    }
    // The first entity's stamp waits on advisory lock 4242 while the test holds it.
    admin
        .batch_execute(&format!(
            "CREATE FUNCTION {schema}.hold_stamp() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NEW; END $$; \
             CREATE TRIGGER hold_stamp AFTER INSERT OR UPDATE ON {schema}.todo_changes \
             FOR EACH ROW WHEN (NEW.row_id = '{first}') EXECUTE FUNCTION {schema}.hold_stamp(); \
             SELECT pg_advisory_lock(4242);"
        ))
        .await
        .unwrap();

    let blocked = |pid: i32| {
        let admin = &admin;
        async move {
            admin
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted)",
                    &[&pid],
                )
                .await
                .unwrap()
                .get::<_, bool>(0)
        }
    };
    // Worker one claims the first client's intent (claims go in client order) and stops
    // inside its stamp.
    let one_pid = one.backend_pid().await.unwrap();
    let one = tokio::spawn(async move { EventProcessor::new(one).process_batch(1).await });
    while !blocked(one_pid).await {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Worker two decides the second entity (the first is locked): it waits for the change
    // log, or — without serialised stamping — commits.
    let two_pid = two.backend_pid().await.unwrap();
    let two = tokio::spawn(async move { EventProcessor::new(two).process_batch(1).await });
    while !two.is_finished() && !blocked(two_pid).await {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let early = reader
        .changes_for_user("alice", Cursor::START, 100)
        .await
        .unwrap();
    admin
        .batch_execute("SELECT pg_advisory_unlock(4242)")
        .await
        .unwrap();
    assert_eq!(one.await.unwrap().unwrap().accepted, 1);
    assert_eq!(two.await.unwrap().unwrap().accepted, 1);
    let late = reader
        .changes_for_user("alice", early.next, 100)
        .await
        .unwrap();
    let mut seen: Vec<String> = early
        .rows
        .iter()
        .chain(&late.rows)
        .filter(|r| r.table == "todo_projection")
        .map(|r| r.id.clone())
        .collect();
    seen.sort();
    let mut expected = vec![first.to_string(), second.to_string()];
    expected.sort();
    assert_eq!(
        seen, expected,
        "a reader paging by cursor sees both decisions"
    );
}
