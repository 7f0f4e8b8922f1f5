//! Sharing over HTTP, against PostgreSQL: two devices (`HttpDevice`) and a backend serving a
//! shared list. Membership intents go up with the domain's, the backend's download pages
//! carry each member the list, and a removed member's device drops it.

mod common;

use std::time::Duration;

use sai::client::{ClientIdentity, ClientStore, EventSourcedActor};
use sai::membership::{MemberEvent, Role};
use sai::server::{EventProcessor, PostgresStore, ServerStore};
use sai_http::{HttpDevice, JwtVerifier, SyncBackend, serve};
use sai_suite::{List, ListEvent};
use tokio::sync::oneshot;

use common::{AUDIENCE, SECRET, token};

fn device_store() -> ClientStore {
    ClientStore::builder()
        .domain::<List>()
        .open_in_memory()
        .expect("client store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_share_a_list_over_http_and_a_removed_member_loses_it() {
    let Some(url) = sai_suite::postgres::url() else {
        return;
    };
    let (_admin, schema) = sai_suite::postgres::fresh_schema(&url, "http_sharing").await;
    let connect = || PostgresStore::<List>::connect_in_schema(&url, &schema);
    connect()
        .await
        .expect("connect")
        .migrate()
        .await
        .expect("migrate");
    let backend = SyncBackend::new(
        vec![connect().await.expect("connect")],
        JwtVerifier::hs256(SECRET, AUDIENCE).expect("secret"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    let http = tokio::spawn(serve(listener, backend.router(), async {
        let _ = stopped.await;
    }));
    // The decisions are made here, between rounds, as a worker would.
    let mut worker = EventProcessor::new(connect().await.expect("connect"));

    let (alice_store, bob_store) = (device_store(), device_store());
    let (alice_id, bob_id) = (
        ClientIdentity::new("alice-phone", "alice"),
        ClientIdentity::new("bob-phone", "bob"),
    );
    let alice_dev = HttpDevice::<List>::new(base.clone(), alice_id.clone(), token("alice"));
    let bob_dev = HttpDevice::<List>::new(base.clone(), bob_id.clone(), token("bob"));
    // Upload, decide, download.
    let round =
        async |dev: &HttpDevice<List>, store: &ClientStore, worker: &mut EventProcessor<_>| {
            dev.sync(store).await.expect("sync");
            worker.process_pending().await;
            dev.sync(store).await.expect("sync")
        };

    let alice = EventSourcedActor::<List>::create(&alice_store, alice_id).expect("create");
    alice
        .send(ListEvent::Create {
            title: "groceries".into(),
        })
        .expect("send");
    alice
        .send_membership(MemberEvent::Invite {
            user: "bob".into(),
            role: Role::Editor,
        })
        .expect("invite");
    round(&alice_dev, &alice_store, &mut worker).await;
    assert!(
        alice_store
            .logged_member_intents::<List>()
            .expect("log")
            .is_empty()
    );

    round(&bob_dev, &bob_store, &mut worker).await;
    let list = alice.entity_id();
    let bob = EventSourcedActor::<List>::open(&bob_store, bob_id, list).expect("shared with bob");
    bob.send_membership(MemberEvent::Join).expect("join");
    bob.send(ListEvent::AddItem {
        item: "milk".into(),
    })
    .expect("send");
    round(&bob_dev, &bob_store, &mut worker).await;
    round(&alice_dev, &alice_store, &mut worker).await;
    let seen = alice.projection().expect("read").expect("list");
    assert_eq!(seen.context().items, ["milk"]);
    assert!(!seen.optimistic);

    alice
        .send_membership(MemberEvent::Remove { user: "bob".into() })
        .expect("remove");
    round(&alice_dev, &alice_store, &mut worker).await;
    round(&bob_dev, &bob_store, &mut worker).await;
    assert!(bob_store.projections::<List>().expect("read").is_empty());
    assert!(bob.projection().expect("read").is_none());

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), http)
        .await
        .expect("stops")
        .expect("joins")
        .expect("serves");
}
