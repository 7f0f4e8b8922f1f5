//! The two real backends the behaviour suite runs on: a SQLite file and the PostgreSQL
//! server named by `SAI_TEST_POSTGRES_URL` (each test in its own schema).

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use sai::SqlValue;
use sai::server::{PostgresStore, ServerStore, SqliteStore};
use sai_suite::Todo;
use tokio::task::JoinHandle;

/// A database holding the todo domain's server tables, and what the suite needs from it
/// besides the store: raw reads for checking, raw writes for corrupting, and fault injection.
pub trait Backend: Send + Sync + 'static {
    /// The store under test.
    type Store: ServerStore<Domain = Todo> + 'static;

    /// A new store (a new connection) on the same database.
    fn store(&self) -> impl Future<Output = Self::Store> + Send;

    /// Runs a query and returns its rows as cells.
    fn query(&self, sql: &str) -> impl Future<Output = Vec<Vec<SqlValue>>> + Send;

    /// Runs statements.
    fn execute(&self, sql: &str) -> impl Future<Output = ()> + Send;

    /// SQL creating a trigger that fails any projection write whose title is `CRASH`.
    fn crash_trigger(&self) -> &'static str;

    /// SQL removing that trigger.
    fn drop_crash_trigger(&self) -> &'static str;

    /// Makes the database refuse, as a value it cannot hold, a projection whose `labels`
    /// cell is over 1000 bytes: on PostgreSQL a trigger raises SQLSTATE 22001 (string data
    /// right truncation), on SQLite a trigger makes a value over the store connection's
    /// length limit (SQLITE_TOOBIG). A value the pure check cannot foresee.
    fn refuse_long_labels(&self, store: &mut Self::Store) -> impl Future<Output = ()> + Send;

    /// Makes the store's next decision batch fail transiently once: on PostgreSQL its
    /// connection is terminated in the middle of the batch's writes, on SQLite another
    /// connection holds the write lock for a moment. The handle says whether the fault hit.
    fn inject_transient_fault(
        &self,
        store: &mut Self::Store,
    ) -> impl Future<Output = JoinHandle<bool>> + Send;
}

/// One integer cell.
pub async fn scalar<B: Backend>(b: &B, sql: &str) -> i64 {
    match b.query(sql).await.first().and_then(|r| r.first()) {
        Some(SqlValue::Integer(n)) => *n,
        other => panic!("{sql} returned {other:?}"),
    }
}

/// A SQLite file in a temporary directory.
pub struct Sqlite {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Sqlite {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("server.db");
        let mut store = SqliteStore::<Todo>::open(&path).expect("open");
        store.migrate().await.expect("migrate");
        store.migrate().await.expect("migrate is idempotent");
        Sqlite { _dir: dir, path }
    }

    fn conn(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open(&self.path).expect("open");
        c.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        c
    }
}

impl Backend for Sqlite {
    type Store = SqliteStore<Todo>;

    async fn store(&self) -> Self::Store {
        SqliteStore::open(&self.path).expect("open")
    }

    async fn query(&self, sql: &str) -> Vec<Vec<SqlValue>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql).expect(sql);
        let n = stmt.column_count();
        stmt.query_map([], |row| {
            (0..n).map(|i| row.get::<_, SqlValue>(i)).collect()
        })
        .expect(sql)
        .collect::<rusqlite::Result<_>>()
        .expect(sql)
    }

    async fn execute(&self, sql: &str) {
        self.conn().execute_batch(sql).expect(sql);
    }

    fn crash_trigger(&self) -> &'static str {
        "CREATE TRIGGER crash BEFORE INSERT ON todo_projection WHEN NEW.title = 'CRASH' \
         BEGIN SELECT RAISE(ABORT, 'simulated crash'); END;"
    }

    fn drop_crash_trigger(&self) -> &'static str {
        "DROP TRIGGER crash;"
    }

    async fn refuse_long_labels(&self, store: &mut Self::Store) {
        // A trigger cannot choose its error code, but it can make a value over the
        // connection's length limit, which SQLite refuses with SQLITE_TOOBIG.
        let conn = store.connection();
        conn.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_LENGTH, 100_000)
            .expect("length limit");
        conn.execute_batch(
            "CREATE TRIGGER refuse_long_labels BEFORE INSERT ON todo_projection \
             WHEN length(NEW.labels) > 1000 BEGIN SELECT zeroblob(200000); END; \
             CREATE TRIGGER refuse_long_labels_update BEFORE UPDATE ON todo_projection \
             WHEN length(NEW.labels) > 1000 BEGIN SELECT zeroblob(200000); END;",
        )
        .expect("refusing trigger");
    }

    async fn inject_transient_fault(&self, store: &mut Self::Store) -> JoinHandle<bool> {
        // No waiting on a busy database, so the store sees SQLITE_BUSY while another
        // connection holds the write lock for a moment.
        store
            .connection()
            .busy_timeout(Duration::ZERO)
            .expect("busy timeout");
        let conn = self.conn();
        let (locked, wait) = std::sync::mpsc::channel();
        let handle = tokio::task::spawn_blocking(move || {
            conn.execute_batch("BEGIN IMMEDIATE").expect("lock");
            locked.send(()).expect("signal");
            std::thread::sleep(Duration::from_millis(60));
            conn.execute_batch("COMMIT").expect("unlock");
            true
        });
        wait.recv().expect("locker started");
        handle
    }
}

/// A schema of its own on the test PostgreSQL server.
pub struct Postgres {
    url: String,
    schema: String,
    admin: tokio_postgres::Client,
}

impl Postgres {
    /// `None` (test skipped, reason printed) when `SAI_TEST_POSTGRES_URL` is unset.
    pub async fn new(label: &str) -> Option<Self> {
        let url = sai_suite::postgres::url()?;
        let (admin, schema) = sai_suite::postgres::fresh_schema(&url, label).await;
        let mut store = PostgresStore::<Todo>::connect_in_schema(&url, &schema)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        store.migrate().await.expect("migrate is idempotent");
        Some(Postgres { url, schema, admin })
    }
}

impl Backend for Postgres {
    type Store = PostgresStore<Todo>;

    async fn store(&self) -> Self::Store {
        PostgresStore::connect_in_schema(&self.url, &self.schema)
            .await
            .expect("connect")
    }

    async fn query(&self, sql: &str) -> Vec<Vec<SqlValue>> {
        self.admin
            .query(sql, &[])
            .await
            .expect(sql)
            .iter()
            .map(|row| (0..row.len()).map(|i| row.get::<_, SqlValue>(i)).collect())
            .collect()
    }

    async fn execute(&self, sql: &str) {
        self.admin.batch_execute(sql).await.expect(sql);
    }

    fn crash_trigger(&self) -> &'static str {
        "CREATE FUNCTION crash() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.title = 'CRASH' THEN RAISE EXCEPTION 'simulated crash'; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER crash BEFORE INSERT OR UPDATE ON todo_projection \
         FOR EACH ROW EXECUTE FUNCTION crash();"
    }

    fn drop_crash_trigger(&self) -> &'static str {
        "DROP TRIGGER crash ON todo_projection; DROP FUNCTION crash();"
    }

    async fn refuse_long_labels(&self, _: &mut Self::Store) {
        self.execute(
            "CREATE FUNCTION refuse_long_labels() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF length(NEW.labels) > 1000 THEN \
               RAISE EXCEPTION 'labels too long' USING ERRCODE = '22001', DETAIL = 'at most 1000'; \
             END IF; RETURN NEW; END $$; \
             CREATE TRIGGER refuse_long_labels BEFORE INSERT OR UPDATE ON todo_projection \
             FOR EACH ROW EXECUTE FUNCTION refuse_long_labels();",
        )
        .await;
    }

    async fn inject_transient_fault(&self, store: &mut Self::Store) -> JoinHandle<bool> {
        // The batch's first projection write sleeps until the monitor kills its connection,
        // so the batch is caught mid-transaction (after its acknowledgement, delete and
        // archive statements ran) however loaded the machine is. A sequence gates the sleep:
        // `nextval` is not rolled back with the killed transaction, so the retry runs freely.
        self.execute(
            "CREATE SEQUENCE slow_once; \
             CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF nextval('slow_once') = 1 THEN PERFORM pg_sleep(60); END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER slow BEFORE INSERT OR UPDATE ON todo_projection \
             FOR EACH ROW EXECUTE FUNCTION slow();",
        )
        .await;
        let pid = store.backend_pid().await.expect("pid");
        let (admin, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
            while tokio::time::Instant::now() < deadline {
                let sleeping = admin
                    .query(
                        "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event = 'PgSleep'",
                        &[&pid],
                    )
                    .await
                    .expect("pg_stat_activity");
                if !sleeping.is_empty() {
                    admin
                        .execute("SELECT pg_terminate_backend($1)", &[&pid])
                        .await
                        .expect("terminate");
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            false
        })
    }
}
