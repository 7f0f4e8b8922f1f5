//! Processes, not tasks: two backend processes (each serving HTTP with its own worker) and two
//! device processes on one PostgreSQL database converge; a backend killed in the middle of an
//! upload loses nothing and stores nothing twice.
//!
//! The processes are this test binary itself, started with `SAI_HTTP_CHILD` set to a role
//! (`backend` or `device`): the `child` test below runs the role and exits. A backend prints
//! `listening on ADDR`; a device prints `converged` once the server decided all its intents.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sai::client::{ClientIdentity, ClientStore, EventSourcedActor};
use sai::prelude::*;
use sai::server::{EventProcessor, PostgresStore, ProcessorConfig, shutdown, wakeup};
use sai_http::{HttpDevice, JwtVerifier, RetryPolicy, SyncBackend, serve};
use sai_suite::{StrictTodoMachine, Todo, TodoEvent, create};

use common::{AUDIENCE, SECRET, token};

const ROLE: &str = "SAI_HTTP_CHILD";

/// Runs a child's role when started as one; as a test of its own, does nothing.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match role.as_str() {
        "backend" => runtime.block_on(backend_role()),
        "device" => runtime.block_on(device_role()),
        other => panic!("unknown role {other}"),
    }
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// A backend process: HTTP on 127.0.0.1 and one worker (none if `WORKERS=0`), until killed.
async fn backend_role() {
    let (url, schema) = (var("PG_URL"), var("PG_SCHEMA"));
    let connect = || PostgresStore::<Todo>::connect_in_schema(&url, &schema);
    let (wake, waiter) = wakeup();
    let (_stop, signal) = shutdown();
    if std::env::var("WORKERS").as_deref() != Ok("0") {
        let mut worker = EventProcessor::new(connect().await.unwrap())
            .with_machine::<StrictTodoMachine>()
            .with_config(ProcessorConfig::default().with_idle_wait(Duration::from_millis(50)))
            .with_wakeup(waiter);
        tokio::spawn(async move { worker.run(signal).await });
    }
    let stores = vec![connect().await.unwrap(), connect().await.unwrap()];
    let backend = SyncBackend::new(
        stores,
        JwtVerifier::hs256(SECRET, AUDIENCE).expect("secret"),
    )
    .with_wakeup(wake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("listening on {}", listener.local_addr().unwrap());
    serve(listener, backend.router(), std::future::pending())
        .await
        .unwrap();
}

/// A device process: writes `TODOS` todos for `USER` under `CLIENT`, then syncs with
/// `SERVER` until its log is empty and it sees `EXPECT` todos.
async fn device_role() {
    let (user, client) = (var("USER_ID"), var("CLIENT_ID"));
    let todos: usize = var("TODOS").parse().unwrap();
    let expect: usize = var("EXPECT").parse().unwrap();
    let store = ClientStore::builder()
        .domain::<Todo>()
        .open_in_memory()
        .unwrap();
    let identity = ClientIdentity::new(&client, &user);
    for i in 0..todos {
        let todo = EventSourcedActor::<Todo>::create(&store, identity.clone()).unwrap();
        todo.send(create(&format!("{client} {i}"))).unwrap();
        todo.send(TodoEvent::Toggle).unwrap();
    }
    let device = HttpDevice::<Todo>::new(var("SERVER"), identity, token(&user));
    for _ in 0..2000 {
        device.sync(&store).await.unwrap();
        if store.logged_intents::<Todo>().unwrap().is_empty()
            && store.projections::<Todo>().unwrap().len() == expect
        {
            println!("converged");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("device {client} did not converge");
}

fn spawn(role: &str, env: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn child")
}

/// Waits for a child's line holding `prefix`; returns what follows it.
fn wait_for_line(child: &mut Child, prefix: &str) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("read child output");
        // libtest prints `test child ... ` before the child's first line.
        if let Some(at) = line.find(prefix) {
            let rest = &line[at + prefix.len()..];
            // Keep draining so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return rest.trim().to_owned();
        }
    }
    panic!("child ended before printing `{prefix}`");
}

struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn schema_for(label: &str) -> Option<(String, String, tokio_postgres::Client)> {
    let url = sai_suite::postgres::url()?;
    let (admin, schema) = sai_suite::postgres::fresh_schema(&url, label).await;
    PostgresStore::<Todo>::connect_in_schema(&url, &schema)
        .await
        .unwrap()
        .migrate()
        .await
        .unwrap();
    Some((url, schema, admin))
}

async fn count(admin: &tokio_postgres::Client, sql: &str) -> i64 {
    admin.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_backend_processes_and_two_device_processes_converge() {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    let Some((url, schema, admin)) = schema_for("http_procs").await else {
        return;
    };
    let db = [("PG_URL", url.clone()), ("PG_SCHEMA", schema.clone())];
    let mut children = Killed(Vec::new());
    let mut servers = Vec::new();
    for _ in 0..2 {
        let mut backend = spawn("backend", &db);
        servers.push(format!(
            "http://{}",
            wait_for_line(&mut backend, "listening on")
        ));
        children.0.push(backend);
    }
    // Both devices are Alice's (two clients): each must end up with both devices' todos.
    let mut devices = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        devices.push(spawn(
            "device",
            &[
                ("USER_ID", "alice".into()),
                ("CLIENT_ID", format!("device-{i}")),
                ("TODOS", "5".into()),
                ("EXPECT", "10".into()),
                ("SERVER", server.clone()),
            ],
        ));
    }
    for mut device in devices {
        let status = tokio::task::spawn_blocking(move || device.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "a device process failed: {status}");
    }
    assert_eq!(
        count(&admin, "SELECT count(*) FROM todo_intent_events_processed").await,
        20
    );
    assert_eq!(
        count(
            &admin,
            "SELECT count(*) FROM todo_projection WHERE completed = 1"
        )
        .await,
        10
    );
    drop(children);
}

/// Forwards TCP connections to whichever backend `target` names: a load balancer.
async fn balancer(target: Arc<Mutex<SocketAddr>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let to = *target.lock().unwrap();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_killed_mid_upload_loses_nothing_and_stores_nothing_twice() {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    let Some((url, schema, admin)) = schema_for("http_kill").await else {
        return;
    };
    let db = [("PG_URL", url.clone()), ("PG_SCHEMA", schema.clone())];
    // The doomed backend has no worker and names its connections, so the test can tell its
    // upload waiting in the database from anything else.
    let mut doomed = spawn(
        "backend",
        &[
            (
                "PG_URL",
                common::with_query(&url, "application_name=doomed"),
            ),
            ("PG_SCHEMA", schema.clone()),
            ("WORKERS", "0".into()),
        ],
    );
    let doomed_addr: SocketAddr = wait_for_line(&mut doomed, "listening on").parse().unwrap();
    let mut survivor = spawn("backend", &db);
    let survivor_addr: SocketAddr = wait_for_line(&mut survivor, "listening on")
        .parse()
        .unwrap();
    let _children = Killed(vec![survivor]);
    let target = Arc::new(Mutex::new(doomed_addr));
    let front = balancer(Arc::clone(&target)).await;

    let store = ClientStore::builder()
        .domain::<Todo>()
        .open_in_memory()
        .unwrap();
    let identity = ClientIdentity::new("phone", "alice");
    for i in 0..20 {
        let todo = EventSourcedActor::<Todo>::create(&store, identity.clone()).unwrap();
        todo.send(create(&format!("todo {i}"))).unwrap();
    }
    // The queue is locked, so the doomed backend's upload transaction waits inside.
    admin
        .batch_execute("BEGIN; LOCK TABLE todo_intent_events IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let device =
        HttpDevice::<Todo>::new(format!("http://{front}"), identity, token("alice")).with_retry(
            RetryPolicy::new(Duration::from_millis(20), Duration::from_millis(200), 100),
        );
    let upload = tokio::spawn(async move { (device.upload(&store).await, device, store) });
    // Wait (bounded) until a transaction of the doomed backend waits on the lock.
    let (watcher, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut polls = 0;
    while count(
        &watcher,
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = 'doomed'",
    )
    .await
        == 0
    {
        polls += 1;
        assert!(polls < 1000, "the upload never reached the database");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Kill it mid-upload, route new connections to the survivor, then free the queue.
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    *target.lock().unwrap() = survivor_addr;
    admin.batch_execute("COMMIT").await.unwrap();

    let (summary, device, store) = upload.await.unwrap();
    let summary = summary.expect("the upload went through the survivor");
    assert!(
        summary.retries >= 1,
        "the killed backend's answer was never seen: {summary:?}"
    );
    assert_eq!(summary.inserted + summary.duplicates, 20);
    // The survivor's worker decides all, each once.
    for _ in 0..1000 {
        device.sync(&store).await.unwrap();
        if store.logged_intents::<Todo>().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        store.logged_intents::<Todo>().unwrap().is_empty(),
        "not every intent was decided"
    );
    assert_eq!(
        count(&admin, "SELECT count(*) FROM todo_intent_events_processed").await,
        20
    );
    // Decided once: nothing also rejected (a second decision of a stored intent would be).
    assert_eq!(
        count(&admin, "SELECT count(*) FROM todo_intent_events_rejected").await,
        0
    );
    assert_eq!(
        count(&admin, "SELECT count(*) FROM todo_intent_events").await,
        0
    );
    assert_eq!(
        count(&admin, "SELECT count(*) FROM todo_projection").await,
        20
    );
}
