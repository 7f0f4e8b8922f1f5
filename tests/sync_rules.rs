//! The generated sync rules pass PowerSync's own validator (`@powersync/service-sync-rules`),
//! run through node when `SAI_SYNC_RULES_VALIDATOR` names `.ci/sync-rules/validate.mjs`
//! (CI installs it); otherwise skipped with a printed reason. With the same package,
//! `.ci/sync-rules/evaluate.mjs` evaluates the rules on a server's rows: each user gets what
//! `sqlite_rows_for_user` selects. sai's own `check_rules` catches naive membership queries.

use std::path::Path;
use std::process::Command;

use sai::powersync::{RulesProblem, SyncRules, check_rules, source_schema};
use sai::schema::Schema;
use sai_suite::{List, Todo};

fn validate(validator: &str, dir: &Path, yaml: &str, schema: &serde_json::Value) -> (bool, String) {
    let rules = dir.join("rules.yaml");
    let source = dir.join("schema.json");
    std::fs::write(&rules, yaml).unwrap();
    std::fs::write(&source, schema.to_string()).unwrap();
    let out = Command::new("node")
        .arg(validator)
        .arg(&rules)
        .arg(&source)
        .output()
        .expect("node runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn generated_rules_pass_the_powersync_validator() {
    let Ok(validator) = std::env::var("SAI_SYNC_RULES_VALIDATOR") else {
        eprintln!("skipped: SAI_SYNC_RULES_VALIDATOR is not set (CI sets it after npm install)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::of::<Todo>();
    let yaml = SyncRules::new(&schema).to_yaml();
    let source = source_schema(&schema, "public");
    let (ok, problems) = validate(&validator, dir.path(), &yaml, &source);
    assert!(
        ok,
        "validator rejected the generated rules:\n{problems}\n{yaml}"
    );

    // The validator is live: a rule naming a column the server does not have fails.
    let broken = yaml.replace("owner_id = bucket", "owner = bucket");
    let (ok, problems) = validate(&validator, dir.path(), &broken, &source);
    assert!(!ok && problems.contains("owner"), "{problems}");
}

#[test]
fn rules_give_each_user_their_rows_at_priority_zero() {
    let schema = Schema::of::<Todo>();
    let yaml = SyncRules::new(&schema).to_yaml();
    assert!(yaml.contains("  sai_todo:\n    priority: 0\n"), "{yaml}");
    assert!(yaml.contains("SELECT * FROM todo_projection WHERE owner_id = bucket.user_id"));
    assert!(
        yaml.contains("SELECT * FROM todo_intent_events_rejected WHERE user_id = bucket.user_id")
    );
    assert!(yaml.contains("SELECT * FROM todo_client_acks WHERE user_id = bucket.user_id"));
    // Server-only and client-only tables are never synced down.
    for table in [
        "todo_intent_events_processed",
        "todo_intent_events_local",
        "todo_projection_local",
    ] {
        assert!(!yaml.contains(table), "{table} leaked into {yaml}");
    }
    assert!(
        SyncRules::new(&schema)
            .with_priority(2)
            .to_yaml()
            .contains("priority: 2")
    );
}

fn todo_and_list() -> Schema {
    Schema::builder()
        .domain::<Todo>()
        .domain::<List>()
        .build()
        .unwrap()
}

#[test]
fn a_shared_domain_gives_each_user_a_bucket_per_group_they_belong_to() {
    let yaml = SyncRules::new(&todo_and_list()).to_yaml();
    assert!(
        yaml.contains(
            "  sai_list_group:\n    priority: 0\n    parameters: SELECT id AS entity_id FROM list_projection WHERE request.user_id() IN json_keys(members)\n    data:\n      - SELECT * FROM list_projection WHERE id = bucket.entity_id\n"
        ),
        "{yaml}"
    );
    // The user's own bucket keeps their rejections and acknowledgements, not the lists.
    assert!(
        !yaml.contains("FROM list_projection WHERE owner_id"),
        "{yaml}"
    );
    assert!(
        yaml.contains("SELECT * FROM list_intent_events_rejected WHERE user_id = bucket.user_id")
    );
    assert_eq!(check_rules(&yaml), Ok(()));
}

#[test]
fn generated_shared_rules_pass_the_powersync_validator() {
    let Ok(validator) = std::env::var("SAI_SYNC_RULES_VALIDATOR") else {
        eprintln!("skipped: SAI_SYNC_RULES_VALIDATOR is not set (CI sets it after npm install)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let schema = todo_and_list();
    let yaml = SyncRules::new(&schema).to_yaml();
    let source = source_schema(&schema, "public");
    let (ok, problems) = validate(&validator, dir.path(), &yaml, &source);
    assert!(
        ok,
        "validator rejected the generated rules:\n{problems}\n{yaml}"
    );

    // A naive membership query that lets any user read any group is valid PowerSync: only
    // sai's own check catches it.
    let naive = naive_rules(&yaml);
    let (ok, problems) = validate(&validator, dir.path(), &naive, &source);
    assert!(ok, "{problems}\n{naive}");
    assert!(check_rules(&naive).is_err());
}

/// The generated rules with the group bucket's parameter query reading every group.
fn naive_rules(yaml: &str) -> String {
    yaml.replace(
        "FROM list_projection WHERE request.user_id() IN json_keys(members)",
        "FROM list_projection",
    )
}

#[test]
fn naive_membership_queries_are_caught() {
    let yaml = SyncRules::new(&todo_and_list()).to_yaml();
    let unbound = |bucket: &str, query: &str| {
        Err(vec![RulesProblem::UnboundParameters {
            bucket: bucket.into(),
            query: query.into(),
        }])
    };
    // Any user reads any group.
    assert_eq!(
        check_rules(&naive_rules(&yaml)),
        unbound(
            "sai_list_group",
            "SELECT id AS entity_id FROM list_projection"
        )
    );
    // A filter that names the user but does not tie the group to them.
    for filter in [
        "request.user_id() IS NOT NULL",
        "request.user_id() IN json_keys(members) OR true",
        "owner_id = request.user_id() OR owner_id IS NOT NULL",
        "members = members",
    ] {
        let query = format!("SELECT id AS entity_id FROM list_projection WHERE {filter}");
        let rules = yaml.replace(
            "SELECT id AS entity_id FROM list_projection WHERE request.user_id() IN json_keys(members)",
            &query,
        );
        assert_eq!(
            check_rules(&rules),
            unbound("sai_list_group", &query),
            "{filter}"
        );
    }
    // A data query that ignores the bucket's parameter hands every member every group.
    let rules = yaml.replace(
        "SELECT * FROM list_projection WHERE id = bucket.entity_id",
        "SELECT * FROM list_projection",
    );
    assert_eq!(
        check_rules(&rules),
        Err(vec![RulesProblem::UnboundData {
            bucket: "sai_list_group".into(),
            query: "SELECT * FROM list_projection".into(),
        }])
    );
    // The owner-only rules of a domain that is not shared pass.
    assert_eq!(
        check_rules(&SyncRules::new(&Schema::of::<Todo>()).to_yaml()),
        Ok(())
    );
}

/// Every row of the server's downloaded tables, as replication hands them to PowerSync.
#[cfg(unix)]
fn all_synced_rows(conn: &rusqlite::Connection, schema: &Schema) -> serde_json::Value {
    use rusqlite::types::Value;
    let mut out = Vec::new();
    for t in schema
        .tables()
        .iter()
        .filter(|t| t.role.sync() == sai::schema::SyncDirection::Down)
    {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{}\"", t.name))
            .unwrap();
        let names: Vec<String> = stmt.column_names().iter().map(|n| n.to_string()).collect();
        let rows = stmt
            .query_map([], |r| {
                let mut row = serde_json::Map::new();
                for (i, name) in names.iter().enumerate() {
                    let v = match r.get::<_, Value>(i)? {
                        Value::Null => serde_json::Value::Null,
                        Value::Integer(n) => n.into(),
                        Value::Real(x) => x.into(),
                        Value::Text(s) => s.into(),
                        Value::Blob(_) => unreachable!("sai stores no blobs"),
                    };
                    row.insert(name.clone(), v);
                }
                Ok(row)
            })
            .unwrap();
        for row in rows {
            out.push(serde_json::json!({ "table": t.name, "row": row.unwrap() }));
        }
    }
    serde_json::Value::Array(out)
}

/// What PowerSync's engine hands each user under `yaml`: `(table, id)` pairs.
#[cfg(unix)]
fn evaluate(
    dir: &Path,
    yaml: &str,
    rows: &serde_json::Value,
    users: &[&str],
) -> std::collections::BTreeMap<String, Vec<(String, String)>> {
    // The script runs beside the validator's `node_modules` (linked into `dir`), so it finds
    // the package wherever the validator was installed.
    let validator = std::env::var("SAI_SYNC_RULES_VALIDATOR").expect("checked by the caller");
    let modules = Path::new(&validator)
        .parent()
        .expect("the validator is a file")
        .join("node_modules");
    let evaluator = dir.join("evaluate.mjs");
    if !evaluator.exists() {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/sync-rules/evaluate.mjs"),
            &evaluator,
        )
        .unwrap();
        std::os::unix::fs::symlink(&modules, dir.join("node_modules")).unwrap();
    }
    let (rules, data) = (dir.join("rules.yaml"), dir.join("rows.json"));
    std::fs::write(&rules, yaml).unwrap();
    std::fs::write(&data, rows.to_string()).unwrap();
    let out = Command::new("node")
        .arg(&evaluator)
        .arg(&rules)
        .arg(&data)
        .args(users)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the evaluator prints JSON")
}

/// The generated rules, evaluated by PowerSync's own engine on a server's real rows, hand
/// each user exactly what `sqlite_rows_for_user` (and so `Loopback`) selects: the groups
/// they belong to and their own rows. A naive membership query, valid for the validator,
/// hands carol a list she does not belong to, and the comparison catches it.
#[cfg(unix)]
#[tokio::test]
async fn powersync_evaluates_the_rules_to_the_rows_sai_selects() {
    use sai::membership::{MemberEvent, Role};
    use sai::server::{EventProcessor, ServerStore, SqliteStore, ingest};
    use sai::sync::sqlite_rows_for_user;
    use sai::{Intent, Uuid};
    use sai_suite::{ListEvent, TodoEvent};

    if std::env::var("SAI_SYNC_RULES_VALIDATOR").is_err() {
        eprintln!("skipped: SAI_SYNC_RULES_VALIDATOR is not set (CI sets it after npm install)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let mut lists = EventProcessor::new(SqliteStore::<List>::open(&path).unwrap());
    lists.store_mut().migrate().await.unwrap();
    let mut todos = EventProcessor::new(SqliteStore::<Todo>::open(&path).unwrap());
    todos.store_mut().migrate().await.unwrap();

    let (hers, carols) = (Uuid::now_v7(), Uuid::now_v7());
    let create = |list, user: &str, seq| {
        Intent::new(
            list,
            format!("{user}-phone"),
            user,
            seq,
            ListEvent::Create {
                title: "groceries".into(),
            },
            0,
        )
        .to_raw()
        .unwrap()
    };
    let invite = MemberEvent::Invite {
        user: "bob".into(),
        role: Role::Editor,
    };
    let uploads = [
        (
            "alice",
            vec![
                create(hers, "alice", 1),
                invite.to_raw(hers, "alice-phone", "alice", 2, 0),
            ],
        ),
        (
            "bob",
            vec![MemberEvent::Join.to_raw(hers, "bob-phone", "bob", 1, 0)],
        ),
        ("carol", vec![create(carols, "carol", 1)]),
        (
            "dave",
            vec![
                Intent::new(hers, "dave-phone", "dave", 1, ListEvent::Archive, 0)
                    .to_raw()
                    .unwrap(),
            ],
        ),
    ];
    for (user, intents) in &uploads {
        ingest(lists.store_mut(), user, intents).await.unwrap();
        lists.process_pending().await;
    }
    let todo = Intent::new(
        Uuid::now_v7(),
        "alice-phone",
        "alice",
        1,
        TodoEvent::Create {
            title: "milk".into(),
        },
        0,
    )
    .to_raw()
    .unwrap();
    ingest(todos.store_mut(), "alice", &[todo]).await.unwrap();
    todos.process_pending().await;

    let schema = todo_and_list();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let rows = all_synced_rows(&conn, &schema);
    let users = ["alice", "bob", "carol", "dave"];
    let yaml = SyncRules::new(&schema).to_yaml();
    let evaluated = evaluate(dir.path(), &yaml, &rows, &users);
    for user in users {
        let mut selected: Vec<(String, String)> = sqlite_rows_for_user(&conn, &schema, user)
            .unwrap()
            .into_iter()
            .map(|r| (r.table, r.id))
            .collect();
        selected.sort();
        assert_eq!(evaluated[user], selected, "{user}");
    }
    let projection = |id: Uuid| ("list_projection".to_owned(), id.to_string());
    assert!(evaluated["bob"].contains(&projection(hers)));
    assert!(!evaluated["dave"].contains(&projection(hers)));

    let naive = evaluate(dir.path(), &naive_rules(&yaml), &rows, &users);
    assert!(
        naive["carol"].contains(&projection(hers)),
        "the naive query hands carol alice's list: the comparison above would fail"
    );
    assert_ne!(naive["carol"], evaluated["carol"]);
}
