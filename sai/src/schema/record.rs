//! The schema record: which layout each domain's tables were last migrated to.
//!
//! A store keeps one row per domain and side in [`SCHEMA_TABLE`]: the fingerprint of the
//! layout (a hash of every table's columns, types, defaults, renames, drops, constraints and
//! indexes) and a version counting the layouts it has had. `migrate` writes the row in its
//! transaction; when every recorded fingerprint already matches, `migrate` reads only that
//! table and changes nothing (the catalog is not read). Pure: the stores read the rows into
//! [`RecordedSchema`]s and write what [`plan_schema_records`] returns.

use super::{Dialect, Schema, Side, TableDef, quote};

/// The table holding the schema record, in every store (server and device).
pub const SCHEMA_TABLE: &str = "sai_schema";

/// The DDL of [`SCHEMA_TABLE`] (idempotent).
pub fn schema_table_ddl(dialect: Dialect) -> String {
    // `migrated_at` is in milliseconds: PostgreSQL's INTEGER is too small for it.
    let integer = match dialect {
        Dialect::Sqlite => "INTEGER",
        Dialect::Postgres => "BIGINT",
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\n    \"domain\" TEXT NOT NULL,\n    \"side\" TEXT NOT NULL,\n    \
         \"fingerprint\" TEXT NOT NULL,\n    \"version\" {integer} NOT NULL,\n    \
         \"migrated_at\" {integer} NOT NULL,\n    PRIMARY KEY (\"domain\", \"side\")\n);\n",
        quote(SCHEMA_TABLE)
    )
}

/// A row of [`SCHEMA_TABLE`] as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedSchema {
    /// The domain.
    pub domain: String,
    /// The fingerprint of the layout last migrated to.
    pub fingerprint: String,
    /// How many layouts the domain's tables have had (1 for the first).
    pub version: i64,
}

/// A row to write to [`SCHEMA_TABLE`] (insert or replace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaRecord {
    /// The domain.
    pub domain: &'static str,
    /// The fingerprint of its layout now.
    pub fingerprint: String,
    /// Its version now: the recorded one, plus one.
    pub version: i64,
}

impl Side {
    /// The name recorded in [`SCHEMA_TABLE`].
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Client => "client",
        }
    }
}

impl Schema {
    /// Each domain's fingerprint of its tables on `side`, in the order the domains were
    /// added.
    pub fn fingerprints(&self, side: Side) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, Fnv)> = Vec::new();
        for t in self.tables_on(side) {
            let at = match out.iter().position(|(d, _)| *d == t.domain) {
                Some(at) => at,
                None => {
                    out.push((t.domain, Fnv::new()));
                    out.len() - 1
                }
            };
            hash_table(&mut out[at].1, t);
        }
        out.into_iter()
            .map(|(d, h)| (d, format!("{:016x}", h.0)))
            .collect()
    }
}

/// Feeds everything a migration acts on into `h`. Every piece is followed by a separator
/// that no identifier contains, so two layouts never hash the same input.
fn hash_table(h: &mut Fnv, t: &TableDef) {
    h.write(&t.name);
    for c in &t.columns {
        h.write(c.name);
        h.write(c.ty.sqlite());
        h.write(if c.nullable { "null" } else { "not null" });
        let default = c
            .default
            .map(|d| d.literal().unwrap_or_else(|e| format!("{e}")));
        h.write(default.as_deref().unwrap_or("-"));
        h.write(c.was.unwrap_or("-"));
    }
    for cols in t.unique.iter().chain(&t.indexes) {
        h.write(&cols.join(","));
    }
    h.write(&t.dropped.join(","));
}

/// 64-bit FNV-1a: stable across Rust releases and platforms (std's hasher is not).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, piece: &str) {
        for b in piece.bytes().chain([0xff]) {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The rows to write so that `recorded` matches `current` (each domain's fingerprint now):
/// empty when every domain is recorded with its current fingerprint, which makes `migrate`
/// a no-op. A domain whose fingerprint changed, or that was never recorded, gets the next
/// version.
pub fn plan_schema_records(
    recorded: &[RecordedSchema],
    current: &[(&'static str, String)],
) -> Vec<SchemaRecord> {
    current
        .iter()
        .filter_map(|(domain, fingerprint)| {
            let before = recorded.iter().find(|r| r.domain == *domain);
            match before {
                Some(r) if r.fingerprint == *fingerprint => None,
                _ => Some(SchemaRecord {
                    domain,
                    fingerprint: fingerprint.clone(),
                    version: before.map_or(1, |r| r.version + 1),
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ColumnDef;
    use crate::value::ColumnType;

    fn schema(fields: &[ColumnDef]) -> Schema {
        Schema::builder()
            .tables_of("ticket", fields)
            .build()
            .unwrap()
    }

    const TITLE: ColumnDef = ColumnDef {
        name: "title",
        field: "title",
        ty: ColumnType::Text,
        nullable: false,
        json: false,
        was: None,
        default: None,
    };

    #[test]
    fn the_fingerprint_follows_the_layout() {
        let v1 = schema(&[TITLE]).fingerprints(Side::Server);
        assert_eq!(v1, schema(&[TITLE]).fingerprints(Side::Server));
        let renamed = ColumnDef {
            name: "summary",
            was: Some("title"),
            ..TITLE
        };
        let v2 = schema(&[renamed]).fingerprints(Side::Server);
        assert_ne!(v1, v2);
        assert_eq!(v1[0].0, "ticket");
        assert_ne!(
            schema(&[TITLE]).fingerprints(Side::Client),
            v1,
            "each side has its own tables"
        );
    }

    #[test]
    fn records_are_written_only_for_new_or_changed_fingerprints() {
        let current = vec![("ticket", "a".to_owned()), ("user", "b".to_owned())];
        let recorded = |fingerprint: &str| {
            vec![RecordedSchema {
                domain: "ticket".into(),
                fingerprint: fingerprint.into(),
                version: 3,
            }]
        };
        assert_eq!(
            plan_schema_records(&recorded("a"), &current),
            [SchemaRecord {
                domain: "user",
                fingerprint: "b".into(),
                version: 1
            }]
        );
        let changed = plan_schema_records(&recorded("old"), &current[..1]);
        assert_eq!(changed[0].version, 4);
        assert!(plan_schema_records(&recorded("a"), &current[..1]).is_empty());
    }
}
