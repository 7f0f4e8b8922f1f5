//! Rows of the downloaded tables, independent of the database they come from.

use rusqlite::Connection;
use serde_json::{Map, Value};

use crate::schema::{Dialect, Schema, SyncDirection, TableDef, quote};
use crate::value::SqlValue;

/// One row of a table clients download.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncRow {
    /// The table (same name on server and client).
    pub table: String,
    /// The row's `id`.
    pub id: String,
    /// Every other column, in the table's order.
    pub columns: Vec<(&'static str, SqlValue)>,
}

impl SyncRow {
    /// The columns (without `id`) as a JSON object, the form PowerSync operations carry.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        for (name, value) in &self.columns {
            let v = match value {
                SqlValue::Null => Value::Null,
                SqlValue::Integer(i) => Value::from(*i),
                SqlValue::Real(r) => Value::from(*r),
                SqlValue::Text(t) => Value::from(t.as_str()),
            };
            map.insert((*name).to_owned(), v);
        }
        Value::Object(map)
    }
}

fn downloaded(schema: &Schema) -> impl Iterator<Item = &TableDef> {
    schema
        .tables()
        .iter()
        .filter(|t| t.role.sync() == SyncDirection::Down)
}

/// The table's columns, quoted, as a list.
pub(crate) fn column_list(t: &TableDef) -> String {
    let cols: Vec<String> = t.columns.iter().map(|c| quote(c.name)).collect();
    cols.join(", ")
}

/// A `FROM` item listing the user ids of the `members` JSON of the row aliased `row`, each as
/// `m.key`.
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) fn member_keys(db: Dialect, row: &str) -> String {
    match db {
        Dialect::Sqlite => format!("json_each({row}.\"members\") m"),
        Dialect::Postgres => {
            format!("LATERAL jsonb_object_keys({row}.\"members\"::jsonb) AS m(key)")
        }
    }
}

/// The condition selecting `t`'s rows of the user bound to `placeholder`: the row's user
/// column, or, for a shared domain's projection, membership in its `members` JSON (every
/// member, invited or joined; the creator only while a member).
pub(crate) fn user_filter(t: &TableDef, db: Dialect, placeholder: &str) -> String {
    if t.has_members() {
        return match db {
            Dialect::Sqlite => format!(
                "EXISTS (SELECT 1 FROM json_each({}.\"members\") m WHERE m.\"key\" = {placeholder})",
                quote(&t.name)
            ),
            Dialect::Postgres => format!("(\"members\"::jsonb ? {placeholder})"),
        };
    }
    format!(
        "{} = {placeholder}",
        quote(t.role.user_column().unwrap_or("user_id"))
    )
}

fn select_sql(t: &TableDef, db: Dialect, placeholder: &str) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} ORDER BY \"id\"",
        column_list(t),
        quote(&t.name),
        user_filter(t, db, placeholder),
    )
}

pub(crate) fn row_from_cells(t: &TableDef, cells: Vec<SqlValue>) -> SyncRow {
    let mut cells = cells.into_iter();
    let id = match cells.next() {
        Some(SqlValue::Text(id)) => id,
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    SyncRow {
        table: t.name.clone(),
        id,
        columns: t.columns[1..].iter().map(|c| c.name).zip(cells).collect(),
    }
}

/// Everything `user` may download from a SQLite server database: what the generated sync
/// rules select. A shared domain's projections are those whose `members` name the user.
pub fn sqlite_rows_for_user(
    conn: &Connection,
    schema: &Schema,
    user: &str,
) -> rusqlite::Result<Vec<SyncRow>> {
    let mut rows = Vec::new();
    for t in downloaded(schema) {
        let mut stmt = conn.prepare_cached(&select_sql(t, Dialect::Sqlite, "?1"))?;
        let found = stmt.query_map([user], |r| {
            (0..t.columns.len())
                .map(|i| r.get::<_, SqlValue>(i))
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        for cells in found {
            rows.push(row_from_cells(t, cells?));
        }
    }
    Ok(rows)
}

/// Everything `user` may download from a PostgreSQL server database (as
/// [`sqlite_rows_for_user`]; `members` is read as `jsonb`).
#[cfg(feature = "postgres")]
pub async fn postgres_rows_for_user(
    client: &tokio_postgres::Client,
    schema: &Schema,
    user: &str,
) -> Result<Vec<SyncRow>, tokio_postgres::Error> {
    let mut rows = Vec::new();
    for t in downloaded(schema) {
        for r in client
            .query(&select_sql(t, Dialect::Postgres, "$1"), &[&user])
            .await?
        {
            // Read as `SqlValue`, as on SQLite: a column of an unexpected type is an error,
            // not a panic.
            let cells = (0..t.columns.len())
                .map(|i| r.try_get::<_, SqlValue>(i))
                .collect::<Result<Vec<_>, _>>()?;
            rows.push(row_from_cells(t, cells));
        }
    }
    Ok(rows)
}

/// Makes a client's downloaded tables hold exactly `rows` (a complete, consistent set, as a
/// PowerSync checkpoint is): call it inside one transaction.
///
/// Each value is written into the device's column of its name, and only the columns the
/// client's table has are written: a device still on an older version of the app ignores the
/// columns a newer server added (its domain does not read them). A row without a value for a
/// column the device requires (a newer server renamed or dropped it) fails with SQLite's
/// `NOT NULL` constraint; [`apply_page`](super::apply_page) says
/// [`DeviceError::ServerAhead`](super::DeviceError::ServerAhead) instead.
pub fn replace_synced_rows(
    conn: &Connection,
    schema: &Schema,
    rows: &[SyncRow],
) -> rusqlite::Result<()> {
    for t in downloaded(schema) {
        conn.execute(&format!("DELETE FROM {}", quote(&t.name)), [])?;
        let device = DeviceTable::read(conn, t)?;
        let mut insert = conn.prepare_cached(&device.insert_sql("INSERT"))?;
        for row in rows.iter().filter(|r| r.table == t.name) {
            let (values, _) = device.values(row);
            insert.execute(rusqlite::params_from_iter(&values))?;
        }
    }
    Ok(())
}

/// One of the device's downloaded tables as it is on disk: the columns of the domain's table
/// that the device's file has, and which of them must hold a value.
pub(crate) struct DeviceTable<'a> {
    table: &'a TableDef,
    /// `(name, required)`, `id` first.
    columns: Vec<(&'static str, bool)>,
}

impl<'a> DeviceTable<'a> {
    /// Reads the table's columns from the device's catalog.
    pub(crate) fn read(conn: &Connection, table: &'a TableDef) -> rusqlite::Result<Self> {
        let catalog = crate::schema::sqlite_catalog(conn, &table.name)?;
        let columns = table
            .columns
            .iter()
            .filter_map(|c| {
                let on_disk = catalog.iter().find(|k| k.name == c.name)?;
                Some((c.name, !on_disk.nullable && !on_disk.has_default))
            })
            .collect();
        Ok(DeviceTable { table, columns })
    }

    /// `{verb} INTO table (columns…) VALUES (?1, …)`.
    pub(crate) fn insert_sql(&self, verb: &str) -> String {
        let names: Vec<String> = self.columns.iter().map(|(n, _)| quote(n)).collect();
        let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
        format!(
            "{verb} INTO {} ({}) VALUES ({})",
            quote(&self.table.name),
            names.join(", "),
            marks.join(", ")
        )
    }

    /// The row's values for [`insert_sql`](Self::insert_sql), each found by its column's
    /// name (a server on another version of the domain may order, add or lack columns),
    /// `NULL` where the row has none; and the first required column left `NULL`, if any.
    pub(crate) fn values(&self, row: &SyncRow) -> (Vec<SqlValue>, Option<&'static str>) {
        let mut missing = None;
        let values = self
            .columns
            .iter()
            .map(|&(name, required)| {
                let value = if name == "id" {
                    SqlValue::Text(row.id.clone())
                } else {
                    row.columns
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map_or(SqlValue::Null, |(_, v)| v.clone())
                };
                if required && value == SqlValue::Null && missing.is_none() {
                    missing = Some(name);
                }
                value
            })
            .collect();
        (values, missing)
    }
}
