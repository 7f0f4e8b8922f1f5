//! Schema migration policy: what to change in an existing table so that it matches the
//! domain's [`TableDef`]. Pure: the stores read their catalog into [`ExistingColumn`]s, call
//! [`plan_migration`] and apply the [`MigrationPlan`] in the same transaction, so a refusal
//! changes nothing.
//!
//! What is automatic: a column the table lacks is added when rows that exist can take a
//! value for it (a nullable column takes `NULL`, a column with a default takes the default).
//! What is refused: a new required column without a default, a column whose stored type
//! differs from the domain's, and a column the domain no longer has that is still required
//! (every insert, which leaves it out, would fail). Columns the domain no longer has but
//! that accept `NULL` are kept, with their data.

use super::ddl::quote;
use super::{Column, Dialect, TableDef};

/// A column as the database catalog describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExistingColumn {
    /// Column name.
    pub name: String,
    /// The declared type as the catalog spells it (`INTEGER`, `bigint`, …).
    pub declared_type: String,
    /// Whether `NULL` is allowed.
    pub nullable: bool,
    /// Whether the column has a default value.
    pub has_default: bool,
}

/// One change to a table.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MigrationStep {
    /// Add a column the table lacks; existing rows take `NULL` or the column's default.
    AddColumn(Column),
}

/// The changes that bring one existing table to the domain's layout; empty when it matches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrationPlan {
    /// The table changed.
    pub table: String,
    /// The changes, in order.
    pub steps: Vec<MigrationStep>,
}

impl MigrationPlan {
    /// Whether the table already matches.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The statements that apply the plan, one per step.
    pub fn statements(&self, dialect: Dialect) -> Vec<String> {
        self.steps
            .iter()
            .map(|step| match step {
                MigrationStep::AddColumn(c) => {
                    let ty = match dialect {
                        Dialect::Sqlite => c.ty.sqlite(),
                        Dialect::Postgres => c.ty.postgres(),
                    };
                    // A required column is only planned with a default, which fills the
                    // existing rows, so `NOT NULL` holds for them too.
                    let constraint = if c.nullable { "" } else { " NOT NULL" };
                    let default = c
                        .default
                        .map(|d| format!(" DEFAULT {d}"))
                        .unwrap_or_default();
                    format!(
                        "ALTER TABLE {} ADD COLUMN {} {ty}{constraint}{default}",
                        quote(&self.table),
                        quote(c.name)
                    )
                }
            })
            .collect()
    }
}

/// A change the migration refuses to make; nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// A new column is required and has no default: existing rows would have no value.
    #[error(
        "new column `{table}.{column}` is required and has no default, so existing rows would \
         have no value; make the field an `Option` (existing rows read `None`)"
    )]
    NewRequiredColumn {
        /// The table.
        table: String,
        /// The new column.
        column: &'static str,
    },
    /// The stored column has another type than the domain declares.
    #[error(
        "column `{table}.{column}` is stored as {found} but the domain declares {expected}; \
         changing the type of a column with data is refused: add a new field with the new \
         type instead"
    )]
    TypeChanged {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The stored type, as the catalog spells it.
        found: String,
        /// The type the domain declares.
        expected: &'static str,
    },
    /// A column the domain no longer has is still required, so every insert would fail.
    #[error(
        "column `{table}.{column}` is no longer in the domain but is required (NOT NULL \
         without a default), so new rows could not be written; keep the field, or drop the \
         column by hand (ALTER TABLE … DROP COLUMN …)"
    )]
    RemovedRequiredColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
}

/// Plans the changes that bring `existing` (the table's columns in the catalog; empty when
/// the table is new) to `table`'s layout, or refuses with the first unsafe change.
pub fn plan_migration(
    dialect: Dialect,
    table: &TableDef,
    existing: &[ExistingColumn],
) -> Result<MigrationPlan, MigrationError> {
    let mut plan = MigrationPlan {
        table: table.name.clone(),
        steps: Vec::new(),
    };
    if existing.is_empty() {
        // A table that does not exist is created whole by the DDL.
        return Ok(plan);
    }
    for column in &table.columns {
        let expected = match dialect {
            Dialect::Sqlite => column.ty.sqlite(),
            Dialect::Postgres => column.ty.postgres(),
        };
        match existing.iter().find(|e| e.name == column.name) {
            Some(found) => {
                if !found.declared_type.eq_ignore_ascii_case(expected) {
                    return Err(MigrationError::TypeChanged {
                        table: table.name.clone(),
                        column: found.name.clone(),
                        found: found.declared_type.clone(),
                        expected,
                    });
                }
            }
            None if column.nullable || column.default.is_some() => {
                plan.steps.push(MigrationStep::AddColumn(*column));
            }
            None => {
                return Err(MigrationError::NewRequiredColumn {
                    table: table.name.clone(),
                    column: column.name,
                });
            }
        }
    }
    for found in existing {
        let removed = !table.columns.iter().any(|c| c.name == found.name);
        if removed && !found.nullable && !found.has_default {
            return Err(MigrationError::RemovedRequiredColumn {
                table: table.name.clone(),
                column: found.name.clone(),
            });
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ColumnDef;
    use crate::schema::{TableRole, table};
    use crate::value::ColumnType;

    fn field(name: &'static str, ty: ColumnType, nullable: bool) -> ColumnDef {
        ColumnDef {
            name,
            field: name,
            ty,
            nullable,
            json: false,
        }
    }

    /// The catalog of `def` as SQLite would report it, without the columns named in `skip`.
    fn catalog(def: &TableDef, skip: &[&str]) -> Vec<ExistingColumn> {
        def.columns
            .iter()
            .filter(|c| !skip.contains(&c.name))
            .map(|c| ExistingColumn {
                name: c.name.into(),
                declared_type: c.ty.sqlite().into(),
                nullable: c.nullable,
                has_default: c.default.is_some(),
            })
            .collect()
    }

    fn v2() -> TableDef {
        table(
            "ticket",
            &[
                field("title", ColumnType::Text, false),
                field("sla_hours", ColumnType::Integer, true),
            ],
            TableRole::Projection,
        )
    }

    #[test]
    fn a_matching_table_needs_nothing() {
        let def = v2();
        let plan = plan_migration(Dialect::Sqlite, &def, &catalog(&def, &[])).unwrap();
        assert!(plan.is_empty(), "{plan:?}");
    }

    #[test]
    fn an_optional_field_and_the_decided_column_are_added() {
        let def = v2();
        let plan = plan_migration(
            Dialect::Sqlite,
            &def,
            &catalog(&def, &["sla_hours", "decided"]),
        )
        .unwrap();
        let added: Vec<&str> = plan
            .steps
            .iter()
            .map(|MigrationStep::AddColumn(c)| c.name)
            .collect();
        assert_eq!(added, ["decided", "sla_hours"]);
        assert_eq!(
            plan.statements(Dialect::Postgres),
            [
                "ALTER TABLE \"ticket_projection\" ADD COLUMN \"decided\" TEXT NOT NULL DEFAULT '{}'",
                "ALTER TABLE \"ticket_projection\" ADD COLUMN \"sla_hours\" BIGINT",
            ]
        );
    }

    #[test]
    fn a_new_required_field_is_refused_with_its_name() {
        let def = v2();
        let err = plan_migration(Dialect::Sqlite, &def, &catalog(&def, &["title"])).unwrap_err();
        assert_eq!(
            err,
            MigrationError::NewRequiredColumn {
                table: "ticket_projection".into(),
                column: "title"
            }
        );
    }

    #[test]
    fn a_type_change_is_refused() {
        let def = v2();
        let mut existing = catalog(&def, &[]);
        let sla = existing.iter_mut().find(|c| c.name == "sla_hours").unwrap();
        sla.declared_type = "TEXT".into();
        let err = plan_migration(Dialect::Sqlite, &def, &existing).unwrap_err();
        assert!(
            matches!(&err, MigrationError::TypeChanged { column, found, .. }
                if column == "sla_hours" && found == "TEXT"),
            "{err:?}"
        );
    }

    #[test]
    fn postgres_catalog_spellings_match() {
        let def = v2();
        let existing: Vec<ExistingColumn> = def
            .columns
            .iter()
            .map(|c| ExistingColumn {
                name: c.name.into(),
                declared_type: c.ty.postgres().to_lowercase(),
                nullable: c.nullable,
                has_default: c.default.is_some(),
            })
            .collect();
        assert!(
            plan_migration(Dialect::Postgres, &def, &existing)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_removed_field_is_kept_when_nullable_and_refused_when_required() {
        let def = v2();
        let mut existing = catalog(&def, &[]);
        existing.push(ExistingColumn {
            name: "old_note".into(),
            declared_type: "TEXT".into(),
            nullable: true,
            has_default: false,
        });
        assert!(
            plan_migration(Dialect::Sqlite, &def, &existing)
                .unwrap()
                .is_empty()
        );
        existing.last_mut().unwrap().nullable = false;
        let err = plan_migration(Dialect::Sqlite, &def, &existing).unwrap_err();
        assert!(
            matches!(&err, MigrationError::RemovedRequiredColumn { column, .. } if column == "old_note"),
            "{err:?}"
        );
    }
}
