//! The backend over real HTTP on 127.0.0.1, against PostgreSQL: a device converges through
//! it, and each answer of the upload contract (401, 403, 4xx, 5xx) is given when it should,
//! with what the device then does.

mod common;

use std::sync::Arc;
use std::time::Duration;

use sai::client::{ClientIdentity, ClientStore, EventSourcedActor};
use sai_http::device::completed_uploads;
use sai_http::wire::ErrorCode;
use sai_http::{HttpDevice, RetryPolicy, TransportError};
use sai_suite::{Todo, TodoEvent, create};

use common::*;

fn device_store() -> ClientStore {
    ClientStore::builder()
        .domain::<Todo>()
        .open_in_memory()
        .expect("client store")
}

/// Writes `n` todos offline, each created and toggled: `2n` intents.
fn write_todos(store: &ClientStore, identity: &ClientIdentity, n: usize) {
    for i in 0..n {
        let todo = EventSourcedActor::<Todo>::create(store, identity.clone()).expect("create");
        todo.send(create(&format!("todo {i}"))).expect("send");
        todo.send(TodoEvent::Toggle).expect("send");
    }
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy::new(Duration::from_millis(20), Duration::from_millis(200), 50)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_converges_through_the_backend() {
    let mut setup = Setup::new("http_converge");
    setup.workers = 1;
    let Some(backend) = Backend::start(setup).await else {
        return;
    };
    let store = device_store();
    let identity = ClientIdentity::new("phone", "alice");
    write_todos(&store, &identity, 3);
    let device = HttpDevice::<Todo>::new(backend.base(), identity, token("alice"));

    let first = device.sync(&store).await.expect("sync");
    assert_eq!(first.uploaded.inserted, 6);
    // The worker decides in its own time: sync until the log is empty (bounded).
    let mut rounds = 0;
    while !store.logged_intents::<Todo>().expect("log").is_empty() {
        rounds += 1;
        assert!(rounds < 500, "the device did not converge");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let again = device.sync(&store).await.expect("sync");
        // A repeated upload is stored once.
        assert_eq!(again.uploaded.inserted, 0);
    }
    let todos = store.projections::<Todo>().expect("projections");
    assert_eq!(todos.len(), 3);
    assert!(todos.iter().all(|t| t.context().completed));
    assert_eq!(backend.count("todo_intent_events_processed").await, 6);
    assert_eq!(backend.count("todo_projection").await, 3);
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_that_do_not_verify_get_401_and_write_nothing() {
    let Some(backend) = Backend::start(Setup::new("http_401")).await else {
        return;
    };
    let body = upload_body(&[raw_intent("tablet", "alice", 1, create("a"))]);
    let claims =
        |aud: &str, exp: i64| serde_json::json!({ "sub": "alice", "aud": aud, "exp": exp });
    let cases: [(&str, Option<String>); 8] = [
        ("no token", None),
        (
            "not valid yet",
            Some(hs256(
                SECRET,
                serde_json::json!({ "sub": "alice", "aud": AUDIENCE, "exp": now() + 7200, "nbf": now() + 3600 }),
            )),
        ),
        (
            "expired",
            Some(hs256(SECRET, claims(AUDIENCE, now() - 3600))),
        ),
        (
            "wrongly signed",
            Some(hs256(b"another secret", claims(AUDIENCE, now() + 3600))),
        ),
        (
            "wrong audience",
            Some(hs256(SECRET, claims("someone-else", now() + 3600))),
        ),
        (
            "no audience",
            Some(hs256(
                SECRET,
                serde_json::json!({ "sub": "alice", "exp": now() + 3600 }),
            )),
        ),
        (
            "no user",
            Some(hs256(
                SECRET,
                serde_json::json!({ "aud": AUDIENCE, "exp": now() + 3600 }),
            )),
        ),
        ("not a JWT", Some("not.a.jwt".into())),
    ];
    for (case, token) in &cases {
        let (status, answer) = post(&backend.upload_url(), token.as_deref(), body.clone()).await;
        assert_eq!(status, 401, "{case}: {answer}");
        assert_eq!(answer["code"], "unauthenticated", "{case}: {answer}");
        let download = reqwest::Client::new().get(backend.download_url());
        let download = match token {
            Some(t) => download.bearer_auth(t),
            None => download,
        };
        let status = download.send().await.expect("download").status();
        assert_eq!(status, 401, "{case}: download");
    }
    // The scheme's name is case-insensitive; another scheme carrying a good token is not it.
    for (scheme, want) in [("bearer", 200), ("BEARER", 200), ("Basic", 401)] {
        let status = reqwest::Client::new()
            .get(backend.download_url())
            .header("authorization", format!("{scheme} {}", token("alice")))
            .send()
            .await
            .expect("download")
            .status();
        assert_eq!(status, want, "scheme {scheme}");
    }
    assert_eq!(backend.stored_intents().await, 0);
    assert_eq!(backend.count("todo_client_acks").await, 0);

    // A device with such a token stops its round and keeps its intents.
    let store = device_store();
    let identity = ClientIdentity::new("phone", "alice");
    write_todos(&store, &identity, 1);
    let device = HttpDevice::<Todo>::new(backend.base(), identity, cases[1].1.clone().unwrap());
    let err = device.upload(&store).await.unwrap_err();
    assert!(
        matches!(err, sai_http::TransportError::Unauthenticated(_)),
        "{err}"
    );
    assert_eq!(store.logged_intents::<Todo>().unwrap().len(), 2);
    // …and goes on with a fresh one.
    device.set_token(token("alice"));
    assert_eq!(device.upload(&store).await.expect("upload").inserted, 2);

    // The same token is accepted once valid: the 401s were the token's alone.
    let (status, _) = post(&backend.upload_url(), Some(&token("alice")), body).await;
    assert_eq!(status, 200);
    assert_eq!(backend.stored_intents().await, 3);
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploading_for_another_users_client_gets_403() {
    let Some(backend) = Backend::start(Setup::new("http_403")).await else {
        return;
    };
    let (status, _) = post(
        &backend.upload_url(),
        Some(&token("alice")),
        upload_body(&[raw_intent("alices-phone", "alice", 1, create("a"))]),
    )
    .await;
    assert_eq!(status, 200);
    // Bob claims Alice's client.
    let (status, answer) = post(
        &backend.upload_url(),
        Some(&token("bob")),
        upload_body(&[raw_intent("alices-phone", "bob", 2, create("b"))]),
    )
    .await;
    assert_eq!(
        (status, &answer["code"]),
        (403, &"client_of_another_user".into()),
        "{answer}"
    );
    // Bob's token, intents in Alice's name.
    let (status, answer) = post(
        &backend.upload_url(),
        Some(&token("bob")),
        upload_body(&[raw_intent("bobs-phone", "alice", 1, create("c"))]),
    )
    .await;
    assert_eq!(
        (status, &answer["code"]),
        (403, &"wrong_user".into()),
        "{answer}"
    );
    assert_eq!(backend.stored_intents().await, 1);
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_batch_gets_4xx_and_the_device_completes_it() {
    let Some(backend) = Backend::start(Setup::new("http_4xx")).await else {
        return;
    };
    let alice = token("alice");
    // Not JSON, and JSON of the wrong shape: 400 with a body naming the problem.
    for body in [&b"{not json"[..], br#"{"intents": [{"id": 1}]}"#] {
        let (status, answer) = post(&backend.upload_url(), Some(&alice), body.to_vec()).await;
        assert_eq!(
            (status, &answer["code"]),
            (400, &"malformed_body".into()),
            "{answer}"
        );
        assert!(
            answer["message"].as_str().unwrap().contains("upload body"),
            "{answer}"
        );
    }
    // A well-formed body with a malformed intent: 422.
    let mut bad = raw_intent("phone", "alice", 1, create("a"));
    bad.seq = 0;
    let (status, answer) = post(&backend.upload_url(), Some(&alice), upload_body(&[bad])).await;
    assert_eq!(
        (status, &answer["code"]),
        (422, &"malformed_intent".into()),
        "{answer}"
    );
    assert!(
        answer["message"].as_str().unwrap().contains("seq"),
        "{answer}"
    );

    // A device whose client id the server refuses: its batch is completed, not retried.
    let store = device_store();
    let identity = ClientIdentity::new("x".repeat(201), "alice");
    write_todos(&store, &identity, 2);
    let device = HttpDevice::<Todo>::new(backend.base(), identity, alice.clone());
    let first = device
        .upload(&store)
        .await
        .expect("a 4xx completes, it is no error");
    assert_eq!(first.completed.len(), 4);
    assert!(
        first
            .completed
            .iter()
            .all(|c| c.code == ErrorCode::InvalidIdentity)
    );
    assert_eq!(completed_uploads(&store).unwrap().len(), 4);
    // Completed: never sent again, though its intents stay in the log, undecided.
    let second = device.upload(&store).await.expect("upload");
    assert_eq!((second.batches, second.completed.len()), (0, 0));
    assert_eq!(store.logged_intents::<Todo>().unwrap().len(), 4);
    assert_eq!(backend.stored_intents().await, 0);

    // A 4xx that is not the backend's verdict on the batch (here: no route at that URL, as
    // behind a misconfigured proxy) keeps the batch: an error, nothing completed, and the
    // intents go up once the URL is right.
    let store = device_store();
    let identity = ClientIdentity::new("lost", "alice");
    write_todos(&store, &identity, 1);
    let misdirected = HttpDevice::<Todo>::new(
        format!("{}/no-such-prefix", backend.base()),
        identity.clone(),
        alice.clone(),
    );
    match misdirected.upload(&store).await {
        Err(TransportError::Refused { status: 404, .. }) => {}
        other => panic!("expected the batch kept after a 404, got {other:?}"),
    }
    assert!(completed_uploads(&store).unwrap().is_empty());
    let device = HttpDevice::<Todo>::new(backend.base(), identity, alice.clone());
    let summary = device.upload(&store).await.expect("upload");
    assert_eq!((summary.inserted, summary.completed.len()), (2, 0));
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_database_failure_gets_5xx_and_the_device_retries_to_success() {
    let mut setup = Setup::new("http_5xx");
    // The stores give up on a lock after 50 ms: a locked table is a transient failure.
    setup.store_options = Some("options=-c%20lock_timeout%3D50");
    let Some(backend) = Backend::start(setup).await else {
        return;
    };
    backend
        .admin
        .batch_execute("BEGIN; LOCK TABLE todo_client_acks IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let (status, answer) = post(
        &backend.upload_url(),
        Some(&token("alice")),
        upload_body(&[raw_intent("tablet", "alice", 1, create("a"))]),
    )
    .await;
    assert_eq!(
        (status, &answer["code"]),
        (503, &"store_unavailable".into()),
        "{answer}"
    );

    // A device uploads while the table is still locked; the lock goes once it has retried.
    let store = device_store();
    let identity = ClientIdentity::new("phone", "alice");
    write_todos(&store, &identity, 2);
    let (retried, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let retried = Arc::new(retried);
    let device = HttpDevice::<Todo>::new(backend.base(), identity, token("alice"))
        .with_retry(fast_retries())
        .on_retry(move |event| {
            let _ = retried.send(event.status);
        });
    let upload = tokio::spawn(async move {
        let summary = device.upload(&store).await;
        (summary, store)
    });
    assert_eq!(seen.recv().await, Some(Some(503)));
    backend.admin.batch_execute("COMMIT").await.expect("unlock");
    let (summary, _store) = upload.await.expect("task");
    let summary = summary.expect("retried to success");
    assert!(summary.retries >= 1);
    assert_eq!((summary.inserted, summary.completed.len()), (4, 0));
    assert_eq!(backend.count("todo_intent_events").await, 4);
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_retries_while_no_backend_listens_and_succeeds_once_one_does() {
    let mut setup = Setup::new("http_down");
    setup.workers = 0;
    let Some(backend) = Backend::start(setup).await else {
        return;
    };
    // A port nothing listens on yet: bind it, note it, free it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let store = device_store();
    let identity = ClientIdentity::new("phone", "alice");
    write_todos(&store, &identity, 1);
    let (retried, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let device =
        HttpDevice::<Todo>::new(format!("http://127.0.0.1:{port}"), identity, token("alice"))
            .with_retry(fast_retries())
            .on_retry(move |event| {
                let _ = retried.send(event.status);
            });
    let upload = tokio::spawn(async move { (device.upload(&store).await, store) });
    // A connection failure, no status: then a proxy starts forwarding to the backend.
    assert_eq!(seen.recv().await, Some(None));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let target = backend.addr;
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut outbound = tokio::net::TcpStream::connect(target).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    let (summary, _store) = upload.await.unwrap();
    assert_eq!(summary.expect("retried to success").inserted, 2);
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_gets_413_and_writes_nothing() {
    let mut setup = Setup::new("http_413");
    setup.config = sai_http::BackendConfig::default().with_body_limit(2048);
    let Some(backend) = Backend::start(setup).await else {
        return;
    };
    let intents: Vec<_> = (1..=20)
        .map(|seq| raw_intent("phone", "alice", seq, create(&"x".repeat(100))))
        .collect();
    let (status, answer) = post(
        &backend.upload_url(),
        Some(&token("alice")),
        upload_body(&intents),
    )
    .await;
    assert_eq!(
        (status, &answer["code"]),
        (413, &"body_too_large".into()),
        "{answer}"
    );
    let (status, _) = post(
        &backend.upload_url(),
        Some(&token("alice")),
        upload_body(&intents[..2]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(backend.stored_intents().await, 2);
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_lets_an_upload_in_flight_finish() {
    let mut setup = Setup::new("http_graceful");
    // Names the backend's connections, to tell its upload waiting in the database.
    setup.store_options = Some("application_name=sai_http_graceful");
    let Some(mut backend) = Backend::start(setup).await else {
        return;
    };
    // The upload waits inside its transaction on a locked queue…
    backend
        .admin
        .batch_execute("BEGIN; LOCK TABLE todo_intent_events IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let url = backend.upload_url();
    let upload = tokio::spawn(async move {
        post(
            &url,
            Some(&token("alice")),
            upload_body(&[raw_intent("phone", "alice", 1, create("a"))]),
        )
        .await
    });
    let (watcher, conn) = tokio_postgres::connect(&backend.pg_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut polls = 0;
    loop {
        let waiting: i64 = watcher
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = 'sai_http_graceful'", &[])
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        polls += 1;
        assert!(polls < 1000, "the upload never reached the database");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // …while the server is asked to stop: it stops accepting but ends only once the upload
    // has finished, so whatever stops the process after it loses nothing.
    let server = backend.take_server();
    let queue = format!("{}.todo_intent_events", backend.schema);
    let stored_when_server_ended = tokio::spawn(async move {
        server.await.unwrap().unwrap();
        let n: i64 = watcher
            .query_one(&format!("SELECT count(*) FROM {queue}"), &[])
            .await
            .unwrap()
            .get(0);
        n
    });
    backend.begin_shutdown();
    // Not an assertion on time: a server that did not wait would end during this pause.
    tokio::time::sleep(Duration::from_millis(100)).await;
    backend.admin.batch_execute("COMMIT").await.expect("unlock");
    let (status, answer) = upload.await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(stored_when_server_ended.await.unwrap(), 1);
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_come_in_pages_after_the_cursor_and_a_caught_up_device_gets_nothing() {
    let mut setup = Setup::new("http_pages");
    setup.workers = 1;
    // Small pages: 3 todos make 3 projections, 6 acknowledgement changes and more.
    setup.config = sai_http::BackendConfig::default().with_max_page(2);
    let Some(backend) = Backend::start(setup).await else {
        return;
    };
    let store = device_store();
    let identity = ClientIdentity::new("phone", "alice");
    write_todos(&store, &identity, 3);
    let device = HttpDevice::<Todo>::new(backend.base(), identity, token("alice"));
    device.upload(&store).await.expect("upload");
    let mut rounds = 0;
    while !store.logged_intents::<Todo>().expect("log").is_empty() {
        rounds += 1;
        assert!(rounds < 500, "the device did not converge");
        tokio::time::sleep(Duration::from_millis(20)).await;
        device.download(&store).await.expect("download");
    }
    assert_eq!(store.projections::<Todo>().unwrap().len(), 3);
    // The device's cursor is past every change: asking after it gets an empty page.
    let (_, cursor) = sai::sync::device_cursor::<Todo>(&store).unwrap().unwrap();
    let page: sai_http::wire::DownloadPage = reqwest::Client::new()
        .get(format!(
            "{}?after={}",
            backend.download_url(),
            cursor.position()
        ))
        .bearer_auth(token("alice"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        page.rows.is_empty() && page.removals.is_empty() && !page.more,
        "{page:?}"
    );
    // From the start, a page holds at most the backend's maximum, whatever is asked.
    let page: sai_http::wire::DownloadPage = reqwest::Client::new()
        .get(format!("{}?after=0&limit=1000", backend.download_url()))
        .bearer_auth(token("alice"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        page.rows.len() + page.removals.len() <= 2 && page.more,
        "{page:?}"
    );
    // Another user's cursor walk shows none of Alice's rows.
    let page: sai_http::wire::DownloadPage = reqwest::Client::new()
        .get(format!("{}?after=0", backend.download_url()))
        .bearer_auth(token("bob"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(page.rows.is_empty(), "{page:?}");
    // A query that is not a cursor: 400, naming it.
    let response = reqwest::Client::new()
        .get(format!("{}?after=yesterday", backend.download_url()))
        .bearer_auth(token("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "malformed_query", "{body}");
    backend.stop().await;
}
