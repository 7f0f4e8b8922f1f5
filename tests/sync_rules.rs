//! The generated sync rules pass PowerSync's own validator (`@powersync/service-sync-rules`),
//! run through node when `SAI_SYNC_RULES_VALIDATOR` names `.ci/sync-rules/validate.mjs`
//! (CI installs it); otherwise skipped with a printed reason.

use std::path::Path;
use std::process::Command;

use sai::powersync::{SyncRules, source_schema};
use sai::schema::Schema;
use sai_suite::Todo;

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
