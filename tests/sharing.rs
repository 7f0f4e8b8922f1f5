//! Sharing, decided by the server: a shared list (`#[domain(shared)]`) on real SQLite and
//! PostgreSQL servers (the PostgreSQL part is skipped when `SAI_TEST_POSTGRES_URL` is unset).
//!
//! The timeline: alice creates a list and invites bob as an editor; bob joins and his edit is
//! accepted; carol, no member, is rejected `not_member` and downloads nothing of the list;
//! alice demotes bob to viewer and his edit queued meanwhile is rejected `read_only`; alice
//! removes bob, and bob's intents racing the removal are decided in the order the server saw
//! them. Guards see the member's role (only an owner archives). A rebuild of the projections
//! from the log restores the members.

use sai::membership::{MemberEvent, Members, Role};
use sai::schema::Schema;
use sai::server::{EventProcessor, PostgresStore, ServerStore, SqliteStore, Tally, ingest};
use sai::sync::{SyncRow, postgres_rows_for_user, sqlite_rows_for_user};
use sai::{Intent, RawIntent, SqlValue, Uuid};
use sai_suite::{List, ListEvent};

/// Users' clients, each numbering its own intents.
#[derive(Default)]
struct Clients {
    seqs: std::collections::HashMap<String, u64>,
}

impl Clients {
    fn next(&mut self, user: &str) -> (String, u64) {
        let seq = self.seqs.entry(user.to_owned()).or_default();
        *seq += 1;
        (format!("{user}-phone"), *seq)
    }

    fn edit(&mut self, list: Uuid, user: &str, event: ListEvent) -> RawIntent {
        let (client, seq) = self.next(user);
        Intent::new(list, client, user, seq, event, 0)
            .to_raw()
            .unwrap()
    }

    fn member(&mut self, list: Uuid, user: &str, event: MemberEvent) -> RawIntent {
        let (client, seq) = self.next(user);
        event.to_raw(list, client, user, seq, 0)
    }
}

fn item(name: &str) -> ListEvent {
    ListEvent::AddItem { item: name.into() }
}

/// Ingests `intents` of `user` and decides everything pending; returns the tally.
async fn send<S: ServerStore<Domain = List>>(
    p: &mut EventProcessor<S>,
    user: &str,
    intents: &[RawIntent],
) -> Tally {
    ingest(p.store_mut(), user, intents).await.unwrap();
    p.process_pending().await
}

/// The rejection code of `intent` among a user's downloaded rows, if it was rejected.
fn code_in(rows: &[SyncRow], intent: &RawIntent) -> Option<String> {
    let row = rows
        .iter()
        .find(|r| r.table == "list_intent_events_rejected" && r.id == intent.id.to_string())?;
    row.columns.iter().find_map(|(name, v)| match (name, v) {
        (&"code", SqlValue::Text(code)) => Some(code.clone()),
        _ => None,
    })
}

async fn members_of<S: ServerStore<Domain = List>>(
    p: &mut EventProcessor<S>,
    list: Uuid,
) -> Members {
    let stored = p.store_mut().projection(list).await.unwrap().unwrap();
    match stored.fields.last() {
        Some(SqlValue::Text(json)) => Members::from_json(json).unwrap(),
        other => panic!("members column reads {other:?}"),
    }
}

/// Runs the timeline on `store`; `rows(user)` is what the user downloads.
async fn timeline<S, R, F>(store: S, rows: R)
where
    S: ServerStore<Domain = List>,
    R: Fn(&'static str) -> F,
    F: std::future::Future<Output = Vec<SyncRow>>,
{
    let mut p = EventProcessor::new(store);
    p.store_mut().migrate().await.unwrap();
    let mut c = Clients::default();
    let list = Uuid::now_v7();
    let sees_list = |rows: &[SyncRow]| {
        rows.iter()
            .any(|r| r.table == "list_projection" && r.id == list.to_string())
    };

    // Alice creates the list and invites bob as an editor; bob joins and adds an item.
    let create = c.edit(
        list,
        "alice",
        ListEvent::Create {
            title: "groceries".into(),
        },
    );
    let invite = c.member(
        list,
        "alice",
        MemberEvent::Invite {
            user: "bob".into(),
            role: Role::Editor,
        },
    );
    let t = send(&mut p, "alice", &[create, invite]).await;
    assert_eq!((t.accepted, t.rejected), (2, 0));
    assert!(sees_list(&rows("bob").await), "an invitee sees the list");
    let join = c.member(list, "bob", MemberEvent::Join);
    let milk = c.edit(list, "bob", item("milk"));
    let t = send(&mut p, "bob", &[join, milk.clone()]).await;
    assert_eq!((t.accepted, t.rejected), (2, 0), "bob's edit is accepted");
    assert_eq!(
        members_of(&mut p, list).await.role_of("bob"),
        Some(Role::Editor)
    );
    assert!(sees_list(&rows("alice").await) && sees_list(&rows("bob").await));

    // Carol is no member: her edit is rejected and she sees nothing of the list.
    let intrusion = c.edit(list, "carol", item("cake"));
    send(&mut p, "carol", std::slice::from_ref(&intrusion)).await;
    assert_eq!(
        code_in(&rows("carol").await, &intrusion).as_deref(),
        Some("not_member")
    );
    let carols = rows("carol").await;
    assert!(!sees_list(&carols), "carol downloads the list: {carols:?}");
    // Nor may she invite herself.
    let self_invite = c.member(
        list,
        "carol",
        MemberEvent::Invite {
            user: "carol".into(),
            role: Role::Owner,
        },
    );
    send(&mut p, "carol", std::slice::from_ref(&self_invite)).await;
    assert_eq!(
        code_in(&rows("carol").await, &self_invite).as_deref(),
        Some("not_member")
    );
    // Bob, an editor, may not manage members.
    let bobs_invite = c.member(
        list,
        "bob",
        MemberEvent::Invite {
            user: "carol".into(),
            role: Role::Viewer,
        },
    );
    send(&mut p, "bob", std::slice::from_ref(&bobs_invite)).await;
    assert_eq!(
        code_in(&rows("bob").await, &bobs_invite).as_deref(),
        Some("membership_refused")
    );

    // Alice demotes bob to viewer; his edit, queued offline, arrives after it.
    let demote = c.member(
        list,
        "alice",
        MemberEvent::ChangeRole {
            user: "bob".into(),
            role: Role::Viewer,
        },
    );
    send(&mut p, "alice", &[demote]).await;
    let queued = c.edit(list, "bob", item("eggs"));
    send(&mut p, "bob", std::slice::from_ref(&queued)).await;
    assert_eq!(
        code_in(&rows("bob").await, &queued).as_deref(),
        Some("read_only")
    );
    assert!(
        sees_list(&rows("bob").await),
        "a viewer still reads the list"
    );

    // Promoted again, bob races his removal: what the server saw first is decided first.
    let promote = c.member(
        list,
        "alice",
        MemberEvent::ChangeRole {
            user: "bob".into(),
            role: Role::Editor,
        },
    );
    send(&mut p, "alice", &[promote]).await;
    // Guards see the member's role: an editor may not archive, only an owner.
    let archive = c.edit(list, "bob", ListEvent::Archive);
    send(&mut p, "bob", std::slice::from_ref(&archive)).await;
    assert_eq!(
        code_in(&rows("bob").await, &archive).as_deref(),
        Some("guard_failed")
    );
    let before = c.edit(list, "bob", item("bread"));
    send(&mut p, "bob", std::slice::from_ref(&before)).await;
    let remove = c.member(list, "alice", MemberEvent::Remove { user: "bob".into() });
    send(&mut p, "alice", &[remove]).await;
    let after = c.edit(list, "bob", item("butter"));
    send(&mut p, "bob", std::slice::from_ref(&after)).await;
    assert_eq!(
        code_in(&rows("bob").await, &before),
        None,
        "seen before the removal"
    );
    assert_eq!(
        code_in(&rows("bob").await, &after).as_deref(),
        Some("not_member"),
        "seen after the removal"
    );
    let bobs = rows("bob").await;
    assert!(
        !sees_list(&bobs),
        "a removed member still downloads the list"
    );
    // His rejections are still his to download.
    assert!(
        bobs.iter()
            .any(|r| r.table == "list_intent_events_rejected" && r.id == after.id.to_string())
    );

    let stored = p.store_mut().projection(list).await.unwrap().unwrap();
    let members = members_of(&mut p, list).await;
    assert_eq!(members.users().collect::<Vec<_>>(), ["alice"]);
    assert_eq!(
        stored.fields[1],
        SqlValue::Text(r#"["milk","bread"]"#.into())
    );

    // Rebuilt from the log, the row (members included) is the same.
    p.rebuild_projections().await.unwrap();
    let rebuilt = p.store_mut().projection(list).await.unwrap().unwrap();
    assert_eq!(rebuilt, stored);

    // The owner archives it.
    let archive = c.edit(list, "alice", ListEvent::Archive);
    let t = send(&mut p, "alice", &[archive]).await;
    assert_eq!((t.accepted, t.rejected), (1, 0));
    let archived = p.store_mut().projection(list).await.unwrap().unwrap();
    assert_eq!(archived.state, "Archived");
}

#[tokio::test]
async fn sqlite_server_decides_membership_and_hands_members_their_lists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let store = SqliteStore::<List>::open(&path).unwrap();
    let schema = Schema::of::<List>();
    let rows = |user: &'static str| {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let rows = sqlite_rows_for_user(&conn, &schema, user).unwrap();
        async move { rows }
    };
    timeline(store, rows).await;
}

#[tokio::test]
async fn postgres_server_decides_membership_and_hands_members_their_lists() {
    let Some(url) = sai_suite::postgres::url() else {
        return;
    };
    let (admin, schema_name) = sai_suite::postgres::fresh_schema(&url, "sharing").await;
    let store = PostgresStore::<List>::connect_in_schema(&url, &schema_name)
        .await
        .unwrap();
    let schema = Schema::of::<List>();
    let admin = std::sync::Arc::new(admin);
    let rows = |user: &'static str| {
        let (admin, schema) = (admin.clone(), schema.clone());
        async move { postgres_rows_for_user(&admin, &schema, user).await.unwrap() }
    };
    timeline(store, rows).await;
}

/// The list domain before it was shared: same name, fields and states.
mod before {
    use sai::{Domain, IntentMeta, machine};
    use sai_suite::ListEvent;
    use serde::{Deserialize, Serialize};

    #[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
    #[domain(name = "list", machine = PrivateListMachine)]
    pub struct PrivateList {
        pub title: String,
        #[domain(json)]
        pub items: Vec<String>,
    }

    fn set_title(list: &mut PrivateList, event: &ListEvent, _: &IntentMeta) {
        if let ListEvent::Create { title } = event {
            list.title = title.clone();
        }
    }

    #[machine(domain = PrivateList, event = ListEvent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum PrivateListMachine {
        #[initial]
        #[on(Create => Open, assign = set_title)]
        New,
        #[on(AddItem)]
        #[on(Archive => Archived)]
        Open,
        #[final_state]
        Archived,
    }
}

/// A domain made shared keeps its entities: the migration adds `members` and makes each
/// creator the owner, who then invites as usual.
async fn made_shared<P, S, R, F>(private: P, shared: S, rows: R)
where
    P: ServerStore<Domain = before::PrivateList>,
    S: ServerStore<Domain = List>,
    R: Fn(&'static str) -> F,
    F: std::future::Future<Output = Vec<SyncRow>>,
{
    let list = Uuid::now_v7();
    let mut old = EventProcessor::new(private);
    old.store_mut().migrate().await.unwrap();
    let create = Intent::new(
        list,
        "alice-phone",
        "alice",
        1,
        ListEvent::Create {
            title: "groceries".into(),
        },
        0,
    )
    .to_raw()
    .unwrap();
    ingest(old.store_mut(), "alice", &[create]).await.unwrap();
    assert_eq!(old.process_pending().await.accepted, 1);
    drop(old);

    let mut p = EventProcessor::new(shared);
    p.store_mut().migrate().await.unwrap();
    assert_eq!(
        members_of(&mut p, list).await,
        Members::created_by("alice"),
        "the creator owns the list"
    );
    let sees = |rows: &[SyncRow]| rows.iter().any(|r| r.table == "list_projection");
    assert!(sees(&rows("alice").await));
    let invite = MemberEvent::Invite {
        user: "bob".into(),
        role: Role::Editor,
    }
    .to_raw(list, "alice-phone", "alice", 2, 0);
    let t = send(&mut p, "alice", &[invite]).await;
    assert_eq!((t.accepted, t.rejected), (1, 0));
    assert!(sees(&rows("bob").await));
}

#[tokio::test]
async fn a_sqlite_domain_made_shared_keeps_its_owners() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let schema = Schema::of::<List>();
    let rows = |user: &'static str| {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let rows = sqlite_rows_for_user(&conn, &schema, user).unwrap();
        async move { rows }
    };
    made_shared(
        SqliteStore::<before::PrivateList>::open(&path).unwrap(),
        SqliteStore::<List>::open(&path).unwrap(),
        rows,
    )
    .await;
}

#[tokio::test]
async fn a_postgres_domain_made_shared_keeps_its_owners() {
    let Some(url) = sai_suite::postgres::url() else {
        return;
    };
    let (admin, schema_name) = sai_suite::postgres::fresh_schema(&url, "made_shared").await;
    let private = PostgresStore::<before::PrivateList>::connect_in_schema(&url, &schema_name)
        .await
        .unwrap();
    let shared = PostgresStore::<List>::connect_in_schema(&url, &schema_name)
        .await
        .unwrap();
    let schema = Schema::of::<List>();
    let admin = std::sync::Arc::new(admin);
    let rows = |user: &'static str| {
        let (admin, schema) = (admin.clone(), schema.clone());
        async move { postgres_rows_for_user(&admin, &schema, user).await.unwrap() }
    };
    made_shared(private, shared, rows).await;
}

/// Intents racing a membership change in one batch are decided in the order the server
/// stored them (`received_at`), whatever order the claim lists them in: bob's edit stored
/// before his removal is accepted, one stored after it is rejected `not_member` (`decide` is
/// pure, so a replay decides the same).
#[test]
fn a_race_within_one_batch_is_decided_in_the_order_the_server_stored_it() {
    use std::collections::HashMap;

    use sai::server::{Claim, StoredProjection, Writers, decide};
    use sai_suite::ListMachine;

    let mut c = Clients::default();
    let list = Uuid::now_v7();
    let setup = vec![
        c.edit(
            list,
            "alice",
            ListEvent::Create {
                title: "groceries".into(),
            },
        ),
        c.member(
            list,
            "alice",
            MemberEvent::Invite {
                user: "bob".into(),
                role: Role::Editor,
            },
        ),
        c.member(list, "bob", MemberEvent::Join),
    ];
    let d = decide::<ListMachine>(
        Claim {
            intents: setup,
            acks: HashMap::from([("alice-phone".into(), 0), ("bob-phone".into(), 0)]),
            ..Claim::default()
        },
        10,
        Writers::Owner,
    );
    assert_eq!((d.accepted.len(), d.rejected.len()), (3, 0));
    let row = &d.projections[0];
    let stored = StoredProjection {
        state: row.state.to_owned(),
        version: row.version,
        owner_id: row.owner_id.clone(),
        decided: row.decided.clone(),
        fields: row.fields.clone(),
    };

    let edit = c.edit(list, "bob", item("bread"));
    let remove = c.member(list, "alice", MemberEvent::Remove { user: "bob".into() });
    let race = |intents: Vec<RawIntent>, first: Uuid| {
        let received = intents
            .iter()
            .map(|i| (i.id, if i.id == first { 1 } else { 2 }))
            .collect();
        decide::<ListMachine>(
            Claim {
                intents,
                projections: HashMap::from([(list, stored.clone())]),
                acks: HashMap::from([("alice-phone".into(), 2), ("bob-phone".into(), 1)]),
                received,
                ..Claim::default()
            },
            10,
            Writers::Owner,
        )
    };
    // The removal stored first: the edit is rejected, in either claim order.
    let one = race(vec![edit.clone(), remove.clone()], remove.id);
    let other = race(vec![remove.clone(), edit.clone()], remove.id);
    assert_eq!(one, other);
    assert_eq!(one.rejected.len(), 1);
    assert_eq!(
        (one.rejected[0].intent.id, one.rejected[0].code),
        (edit.id, "not_member")
    );
    // The edit stored first: it is accepted, then bob is removed.
    let one = race(vec![edit.clone(), remove.clone()], edit.id);
    let other = race(vec![remove.clone(), edit.clone()], edit.id);
    assert_eq!(one, other);
    assert!(one.rejected.is_empty(), "{:?}", one.rejected);
    assert_eq!(
        one.accepted.iter().map(|a| a.intent.id).collect::<Vec<_>>(),
        [edit.id, remove.id]
    );
}
