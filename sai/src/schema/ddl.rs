//! Rendering table descriptions as SQL.

use std::fmt::Write as _;

use super::TableDef;

/// A SQL dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite (client store and embedded server).
    Sqlite,
    /// PostgreSQL (server).
    Postgres,
}

/// Quotes an identifier. Generated names are already checked to be lower-case snake case, so
/// quoting only guards against names that are also keywords (`order`, `group`).
pub(crate) fn quote(ident: &str) -> String {
    format!("\"{ident}\"")
}

pub(super) fn create_table(dialect: Dialect, t: &TableDef) -> String {
    let mut sql = String::new();
    let _ = writeln!(sql, "CREATE TABLE IF NOT EXISTS {} (", quote(&t.name));
    let mut lines: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            let ty = match dialect {
                Dialect::Sqlite => c.ty.sqlite(),
                Dialect::Postgres => c.ty.postgres(),
            };
            let constraint = if c.name == "id" {
                " PRIMARY KEY"
            } else if c.nullable {
                ""
            } else {
                " NOT NULL"
            };
            // An unrepresentable default is refused by the migration planner; a new table
            // needs none (every insert writes every column).
            let default = c
                .default
                .and_then(|d| d.literal().ok())
                .map(|d| format!(" DEFAULT {d}"))
                .unwrap_or_default();
            format!("    {} {ty}{constraint}{default}", quote(c.name))
        })
        .collect();
    for cols in &t.unique {
        lines.push(format!("    UNIQUE ({})", list(cols)));
    }
    let _ = writeln!(sql, "{}", lines.join(",\n"));
    sql.push_str(");\n");
    for cols in &t.indexes {
        let _ = writeln!(
            sql,
            "CREATE INDEX IF NOT EXISTS {} ON {} ({});",
            quote(&format!("{}_{}_idx", t.name, cols.join("_"))),
            quote(&t.name),
            list(cols)
        );
    }
    sql
}

fn list(cols: &[&str]) -> String {
    cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ")
}
