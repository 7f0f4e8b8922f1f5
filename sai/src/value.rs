//! Column values: how entity fields become SQL cells and back.

use std::fmt;

use serde::{Serialize, de::DeserializeOwned};

/// The storage class of a column, common to SQLite, PostgreSQL and PowerSync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// UTF-8 text (also used for JSON-encoded fields).
    Text,
    /// A 64-bit signed integer (booleans are stored as 0 or 1).
    Integer,
    /// A 64-bit float.
    Real,
}

impl ColumnType {
    /// The SQLite type name.
    pub const fn sqlite(self) -> &'static str {
        match self {
            ColumnType::Text => "TEXT",
            ColumnType::Integer => "INTEGER",
            ColumnType::Real => "REAL",
        }
    }

    /// The PostgreSQL type name.
    pub const fn postgres(self) -> &'static str {
        match self {
            ColumnType::Text => "TEXT",
            ColumnType::Integer => "BIGINT",
            ColumnType::Real => "DOUBLE PRECISION",
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sqlite())
    }
}

/// One SQL cell, independent of the database that stores it.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    /// SQL `NULL`.
    Null,
    /// An `INTEGER` / `BIGINT`.
    Integer(i64),
    /// A `REAL` / `DOUBLE PRECISION`.
    Real(f64),
    /// A `TEXT`.
    Text(String),
}

impl SqlValue {
    /// The storage class of this value, or `None` for `NULL`.
    pub fn column_type(&self) -> Option<ColumnType> {
        match self {
            SqlValue::Null => None,
            SqlValue::Integer(_) => Some(ColumnType::Integer),
            SqlValue::Real(_) => Some(ColumnType::Real),
            SqlValue::Text(_) => Some(ColumnType::Text),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            SqlValue::Null => "NULL",
            SqlValue::Integer(_) => "INTEGER",
            SqlValue::Real(_) => "REAL",
            SqlValue::Text(_) => "TEXT",
        }
    }
}

/// Why a cell could not become a field value.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The cell holds another storage class than the column's.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// The storage class the field needs.
        expected: ColumnType,
        /// What the cell held (`NULL`, `INTEGER`, `REAL` or `TEXT`).
        found: &'static str,
    },
    /// The integer does not fit the field's Rust type.
    #[error("integer {value} is out of range for {rust_type}")]
    OutOfRange {
        /// The stored integer.
        value: i64,
        /// The field's Rust type.
        rust_type: &'static str,
    },
    /// A JSON column did not decode into the field's type.
    #[error("invalid JSON: {0}")]
    Json(String),
}

impl ValueError {
    fn wrong(expected: ColumnType, found: &SqlValue) -> Self {
        ValueError::WrongType {
            expected,
            found: found.kind(),
        }
    }
}

/// A Rust type that can be stored in one typed column.
///
/// Implemented for `String`, `bool`, the integer types that fit in an `i64`, `f32`, `f64` and
/// `Option<T>` of those (a nullable column). Implement it for your own newtypes, or mark a field
/// `#[domain(json)]` to store any serde type as JSON text.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a sai column",
    label = "unsupported field type",
    note = "supported: String, bool, i8..i64, u8..u32, f32, f64 and Option<T> of those",
    note = "store any serde type as JSON text with `#[domain(json)]` on the field, or implement `sai::ColumnValue`"
)]
pub trait ColumnValue: Sized {
    /// The column's storage class.
    const COLUMN_TYPE: ColumnType;
    /// Whether the column accepts `NULL`.
    const NULLABLE: bool = false;
    /// Encode into a cell.
    fn to_sql(&self) -> SqlValue;
    /// Decode from a cell.
    fn from_sql(value: SqlValue) -> Result<Self, ValueError>;
}

impl ColumnValue for String {
    const COLUMN_TYPE: ColumnType = ColumnType::Text;
    fn to_sql(&self) -> SqlValue {
        SqlValue::Text(self.clone())
    }
    fn from_sql(value: SqlValue) -> Result<Self, ValueError> {
        match value {
            SqlValue::Text(s) => Ok(s),
            other => Err(ValueError::wrong(ColumnType::Text, &other)),
        }
    }
}

impl ColumnValue for bool {
    const COLUMN_TYPE: ColumnType = ColumnType::Integer;
    fn to_sql(&self) -> SqlValue {
        SqlValue::Integer(i64::from(*self))
    }
    fn from_sql(value: SqlValue) -> Result<Self, ValueError> {
        match value {
            SqlValue::Integer(0) => Ok(false),
            SqlValue::Integer(1) => Ok(true),
            SqlValue::Integer(v) => Err(ValueError::OutOfRange {
                value: v,
                rust_type: "bool",
            }),
            other => Err(ValueError::wrong(ColumnType::Integer, &other)),
        }
    }
}

macro_rules! integer_column {
    ($($t:ty),*) => {$(
        impl ColumnValue for $t {
            const COLUMN_TYPE: ColumnType = ColumnType::Integer;
            fn to_sql(&self) -> SqlValue {
                SqlValue::Integer(i64::from(*self))
            }
            fn from_sql(value: SqlValue) -> Result<Self, ValueError> {
                match value {
                    SqlValue::Integer(v) => <$t>::try_from(v).map_err(|_| ValueError::OutOfRange {
                        value: v,
                        rust_type: stringify!($t),
                    }),
                    other => Err(ValueError::wrong(ColumnType::Integer, &other)),
                }
            }
        }
    )*};
}
integer_column!(i8, i16, i32, i64, u8, u16, u32);

impl ColumnValue for f64 {
    const COLUMN_TYPE: ColumnType = ColumnType::Real;
    fn to_sql(&self) -> SqlValue {
        SqlValue::Real(*self)
    }
    fn from_sql(value: SqlValue) -> Result<Self, ValueError> {
        match value {
            SqlValue::Real(v) => Ok(v),
            // SQLite stores whole REAL values compactly and may hand them back as integers.
            SqlValue::Integer(v) => Ok(v as f64),
            other => Err(ValueError::wrong(ColumnType::Real, &other)),
        }
    }
}

impl ColumnValue for f32 {
    const COLUMN_TYPE: ColumnType = ColumnType::Real;
    fn to_sql(&self) -> SqlValue {
        SqlValue::Real(f64::from(*self))
    }
    fn from_sql(value: SqlValue) -> Result<Self, ValueError> {
        f64::from_sql(value).map(|v| v as f32)
    }
}

impl<T: ColumnValue> ColumnValue for Option<T> {
    const COLUMN_TYPE: ColumnType = T::COLUMN_TYPE;
    const NULLABLE: bool = true;
    fn to_sql(&self) -> SqlValue {
        match self {
            Some(v) => v.to_sql(),
            None => SqlValue::Null,
        }
    }
    fn from_sql(value: SqlValue) -> Result<Self, ValueError> {
        match value {
            SqlValue::Null => Ok(None),
            v => T::from_sql(v).map(Some),
        }
    }
}

/// Encodes a `#[domain(json)]` field.
pub fn json_to_sql<T: Serialize>(value: &T) -> Result<SqlValue, ValueError> {
    serde_json::to_string(value)
        .map(SqlValue::Text)
        .map_err(|e| ValueError::Json(e.to_string()))
}

/// Decodes a `#[domain(json)]` field.
pub fn json_from_sql<T: DeserializeOwned>(value: SqlValue) -> Result<T, ValueError> {
    match value {
        SqlValue::Text(s) => serde_json::from_str(&s).map_err(|e| ValueError::Json(e.to_string())),
        SqlValue::Null => serde_json::from_value(serde_json::Value::Null)
            .map_err(|e| ValueError::Json(e.to_string())),
        other => Err(ValueError::wrong(ColumnType::Text, &other)),
    }
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            SqlValue::Null => ValueRef::Null,
            SqlValue::Integer(v) => ValueRef::Integer(*v),
            SqlValue::Real(v) => ValueRef::Real(*v),
            SqlValue::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

impl rusqlite::types::FromSql for SqlValue {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        use rusqlite::types::{FromSqlError, ValueRef};
        Ok(match value {
            ValueRef::Null => SqlValue::Null,
            ValueRef::Integer(v) => SqlValue::Integer(v),
            ValueRef::Real(v) => SqlValue::Real(v),
            ValueRef::Text(t) => SqlValue::Text(
                std::str::from_utf8(t)
                    .map_err(|e| FromSqlError::Other(Box::new(e)))?
                    .to_owned(),
            ),
            ValueRef::Blob(_) => return Err(FromSqlError::InvalidType),
        })
    }
}

/// tokio-postgres encodings: a cell reads from and writes to the column types the DDL uses
/// (`TEXT`, `BIGINT`, `DOUBLE PRECISION`) and their narrower relatives.
#[cfg(feature = "postgres")]
mod postgres_types {
    use std::error::Error;

    use bytes::BytesMut;
    use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

    use super::SqlValue;

    type BoxError = Box<dyn Error + Sync + Send>;

    fn is_text(ty: &Type) -> bool {
        matches!(*ty, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME)
    }

    impl<'a> FromSql<'a> for SqlValue {
        fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
            Ok(match *ty {
                Type::INT8 => SqlValue::Integer(i64::from_sql(ty, raw)?),
                Type::INT4 => SqlValue::Integer(i32::from_sql(ty, raw)?.into()),
                Type::INT2 => SqlValue::Integer(i16::from_sql(ty, raw)?.into()),
                Type::BOOL => SqlValue::Integer(bool::from_sql(ty, raw)?.into()),
                Type::FLOAT8 => SqlValue::Real(f64::from_sql(ty, raw)?),
                Type::FLOAT4 => SqlValue::Real(f32::from_sql(ty, raw)?.into()),
                _ => SqlValue::Text(String::from_sql(ty, raw)?),
            })
        }

        fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
            Ok(SqlValue::Null)
        }

        fn accepts(ty: &Type) -> bool {
            is_text(ty)
                || matches!(
                    *ty,
                    Type::INT8 | Type::INT4 | Type::INT2 | Type::BOOL | Type::FLOAT8 | Type::FLOAT4
                )
        }
    }

    impl ToSql for SqlValue {
        fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
            match (self, ty) {
                (SqlValue::Null, _) => Ok(IsNull::Yes),
                (SqlValue::Integer(v), &Type::INT8) => v.to_sql(ty, out),
                (SqlValue::Integer(v), &Type::INT4) => i32::try_from(*v)?.to_sql(ty, out),
                (SqlValue::Integer(v), &Type::INT2) => i16::try_from(*v)?.to_sql(ty, out),
                (SqlValue::Integer(v), &Type::BOOL) => (*v != 0).to_sql(ty, out),
                (SqlValue::Integer(v), &Type::FLOAT8) => (*v as f64).to_sql(ty, out),
                (SqlValue::Real(v), &Type::FLOAT8) => v.to_sql(ty, out),
                (SqlValue::Real(v), &Type::FLOAT4) => (*v as f32).to_sql(ty, out),
                (SqlValue::Text(s), t) if is_text(t) => s.as_str().to_sql(ty, out),
                (v, t) => Err(format!("cannot write {} into a {t} parameter", v.kind()).into()),
            }
        }

        fn accepts(ty: &Type) -> bool {
            <SqlValue as FromSql>::accepts(ty)
        }

        to_sql_checked!();
    }
}
