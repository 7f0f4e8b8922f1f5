//! Schema migration policy: what to change in an existing table so that it matches the
//! domain's [`TableDef`]. Pure: the stores read their catalog into [`ExistingColumn`]s, call
//! [`plan_migration`] and apply the [`MigrationPlan`] in the same transaction, so a refusal
//! changes nothing.
//!
//! What is automatic: a column the table lacks is added when rows that exist can take a
//! value for it (a nullable column takes `NULL`, a column with a default takes the default).
//! What is declared: a renamed column (the field's `was`), renamed with its data; a removed
//! column to drop (the domain's `dropped`). What is refused: a new required column without a
//! default, a column whose stored type differs from the domain's, a rename whose old and new
//! columns both exist, and a column the domain no longer has that is still required (every
//! insert, which leaves it out, would fail) unless its drop is declared. Other columns the
//! domain no longer has are kept, with their data.

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
    /// Rename a column the domain declares under its previous name (`was`); rows keep their
    /// values.
    RenameColumn {
        /// The name in the table.
        from: String,
        /// The domain's name for it.
        to: &'static str,
    },
    /// Drop a column the domain no longer has and declares dropped, with its data.
    DropColumn(String),
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
        let table = quote(&self.table);
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
                    // The planner refused defaults without a literal.
                    let default = c
                        .default
                        .and_then(|d| d.literal().ok())
                        .map(|d| format!(" DEFAULT {d}"))
                        .unwrap_or_default();
                    format!(
                        "ALTER TABLE {table} ADD COLUMN {} {ty}{constraint}{default}",
                        quote(c.name)
                    )
                }
                MigrationStep::RenameColumn { from, to } => format!(
                    "ALTER TABLE {table} RENAME COLUMN {} TO {}",
                    quote(from),
                    quote(to)
                ),
                MigrationStep::DropColumn(name) => {
                    format!("ALTER TABLE {table} DROP COLUMN {}", quote(name))
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
         have no value; declare one on the field (`#[domain(default)]` for the type's \
         `Default`, or `#[domain(default = …)]`), or make the field an `Option` (existing \
         rows read `None`)"
    )]
    NewRequiredColumn {
        /// The table.
        table: String,
        /// The new column.
        column: &'static str,
    },
    /// A new column's declared default has no SQL literal.
    #[error(
        "the default of new column `{table}.{column}` ({value}) cannot be written as a SQL \
         literal; declare another default (`#[domain(default = …)]`)"
    )]
    UnrepresentableDefault {
        /// The table.
        table: String,
        /// The new column.
        column: &'static str,
        /// The default, as encoded.
        value: String,
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
    /// A field declares its previous column name, but the table has both columns.
    #[error(
        "column `{table}.{to}` was `{from}` (`#[domain(was = \"{from}\")]`), but the table \
         has both columns, so renaming would lose one; drop or rename `{from}` by hand, or \
         remove the `was` declaration"
    )]
    RenameConflict {
        /// The table.
        table: String,
        /// The previous name.
        from: String,
        /// The domain's name.
        to: &'static str,
    },
    /// A column the domain no longer has is still required, so every insert would fail.
    #[error(
        "column `{table}.{column}` is no longer in the domain but is required (NOT NULL \
         without a default), so new rows could not be written; keep the field, or declare \
         the drop on the domain: `#[domain(dropped = [\"{column}\"])]`"
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
    let find = |name: &str| existing.iter().find(|e| e.name == name);
    let type_check = |found: &ExistingColumn, column: &Column| {
        let expected = match dialect {
            Dialect::Sqlite => column.ty.sqlite(),
            Dialect::Postgres => column.ty.postgres(),
        };
        if found.declared_type.eq_ignore_ascii_case(expected) {
            Ok(())
        } else {
            Err(MigrationError::TypeChanged {
                table: table.name.clone(),
                column: found.name.clone(),
                found: found.declared_type.clone(),
                expected,
            })
        }
    };
    // Columns that stay, under their name or a previous one.
    let mut kept: Vec<&str> = Vec::new();
    for column in &table.columns {
        let previous = column.was.and_then(find);
        match (find(column.name), previous) {
            (Some(_), Some(old)) => {
                return Err(MigrationError::RenameConflict {
                    table: table.name.clone(),
                    from: old.name.clone(),
                    to: column.name,
                });
            }
            (Some(found), None) => {
                type_check(found, column)?;
                kept.push(&found.name);
            }
            (None, Some(old)) => {
                type_check(old, column)?;
                kept.push(&old.name);
                plan.steps.push(MigrationStep::RenameColumn {
                    from: old.name.clone(),
                    to: column.name,
                });
            }
            (None, None) => match column.default {
                Some(default) => {
                    if let Err(e) = default.literal() {
                        return Err(MigrationError::UnrepresentableDefault {
                            table: table.name.clone(),
                            column: column.name,
                            value: format!("{:?}", e.0),
                        });
                    }
                    plan.steps.push(MigrationStep::AddColumn(*column));
                }
                None if column.nullable => plan.steps.push(MigrationStep::AddColumn(*column)),
                None => {
                    return Err(MigrationError::NewRequiredColumn {
                        table: table.name.clone(),
                        column: column.name,
                    });
                }
            },
        }
    }
    for found in existing {
        if kept.contains(&found.name.as_str()) {
            continue;
        }
        if table.dropped.contains(&found.name.as_str()) {
            plan.steps
                .push(MigrationStep::DropColumn(found.name.clone()));
        } else if !found.nullable && !found.has_default {
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
    use crate::domain::{ColumnDef, FieldDefault};
    use crate::schema::{TableRole, table};
    use crate::value::{ColumnType, SqlValue};

    fn field(name: &'static str, ty: ColumnType, nullable: bool) -> ColumnDef {
        ColumnDef {
            name,
            field: name,
            ty,
            nullable,
            json: false,
            was: None,
            default: None,
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
            .map(|step| match step {
                MigrationStep::AddColumn(c) => c.name,
                other => panic!("{other:?}"),
            })
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

    fn title_was(old: &'static str) -> ColumnDef {
        ColumnDef {
            was: Some(old),
            ..field("summary", ColumnType::Text, false)
        }
    }

    #[test]
    fn a_declared_rename_is_planned_and_refused_when_both_columns_exist() {
        let v1 = table(
            "ticket",
            &[field("title", ColumnType::Text, false)],
            TableRole::Projection,
        );
        let v2 = table("ticket", &[title_was("title")], TableRole::Projection);
        let plan = plan_migration(Dialect::Sqlite, &v2, &catalog(&v1, &[])).unwrap();
        assert_eq!(
            plan.steps,
            [MigrationStep::RenameColumn {
                from: "title".into(),
                to: "summary"
            }]
        );
        assert_eq!(
            plan.statements(Dialect::Postgres),
            ["ALTER TABLE \"ticket_projection\" RENAME COLUMN \"title\" TO \"summary\""]
        );
        // Already renamed: nothing to do.
        assert!(
            plan_migration(Dialect::Sqlite, &v2, &catalog(&v2, &[]))
                .unwrap()
                .is_empty()
        );
        let mut both = catalog(&v1, &[]);
        both.extend(
            catalog(&v2, &[])
                .into_iter()
                .filter(|c| c.name == "summary"),
        );
        let err = plan_migration(Dialect::Sqlite, &v2, &both).unwrap_err();
        assert_eq!(
            err,
            MigrationError::RenameConflict {
                table: "ticket_projection".into(),
                from: "title".into(),
                to: "summary"
            }
        );
    }

    fn quoted() -> SqlValue {
        SqlValue::Text("it's; DROP TABLE x --".into())
    }

    #[test]
    fn a_required_field_with_a_default_is_added_with_an_escaped_literal() {
        let def = table(
            "ticket",
            &[ColumnDef {
                default: Some(FieldDefault(quoted)),
                ..field("queue", ColumnType::Text, false)
            }],
            TableRole::Projection,
        );
        let plan = plan_migration(Dialect::Sqlite, &def, &catalog(&def, &["queue"])).unwrap();
        assert_eq!(
            plan.statements(Dialect::Sqlite),
            [
                "ALTER TABLE \"ticket_projection\" ADD COLUMN \"queue\" TEXT NOT NULL DEFAULT 'it''s; DROP TABLE x --'"
            ]
        );
        fn nan() -> SqlValue {
            SqlValue::Real(f64::NAN)
        }
        let def = table(
            "ticket",
            &[ColumnDef {
                default: Some(FieldDefault(nan)),
                ..field("ratio", ColumnType::Real, false)
            }],
            TableRole::Projection,
        );
        let err = plan_migration(Dialect::Sqlite, &def, &catalog(&def, &["ratio"])).unwrap_err();
        assert!(
            matches!(
                &err,
                MigrationError::UnrepresentableDefault {
                    column: "ratio",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_required_removed_column_is_dropped_only_when_declared() {
        let v1 = table(
            "ticket",
            &[field("title", ColumnType::Text, false)],
            TableRole::Projection,
        );
        let mut v2 = table("ticket", &[], TableRole::Projection);
        let err = plan_migration(Dialect::Sqlite, &v2, &catalog(&v1, &[])).unwrap_err();
        assert!(
            err.to_string().contains("#[domain(dropped = [\"title\"])]"),
            "{err}"
        );
        v2.dropped = vec!["title"];
        let plan = plan_migration(Dialect::Sqlite, &v2, &catalog(&v1, &[])).unwrap();
        assert_eq!(plan.steps, [MigrationStep::DropColumn("title".into())]);
        assert_eq!(
            plan.statements(Dialect::Sqlite),
            ["ALTER TABLE \"ticket_projection\" DROP COLUMN \"title\""]
        );
    }
}
