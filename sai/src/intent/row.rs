//! The one reader of intent rows: the nine intent columns (`id`, then
//! [`INTENT_COLUMNS`](crate::schema::INTENT_COLUMNS)), in that order, from any row a driver
//! hands back. Cells are borrowed, so a well-formed row costs no allocation until owned values
//! are asked for ([`IntentRow::to_raw`], [`IntentRow::decode`]); a malformed row says which
//! column is wrong and how.

use std::fmt;

use uuid::Uuid;

use crate::event::Event;
use crate::value::SqlValue;

use super::{DecodeError, Intent, RawIntent, Timestamp, decode_event};

/// One cell of a row, borrowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
}

impl fmt::Display for Cell<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Null => f.write_str("NULL"),
            Cell::Integer(v) => write!(f, "the integer {v}"),
            Cell::Real(v) => write!(f, "the real {v}"),
            Cell::Text(t) => write!(f, "the text {t:?}"),
        }
    }
}

/// A row whose cells can be borrowed by index.
pub(crate) trait Cells {
    /// The cell at `index`, or why it does not read as a value the library writes (a BLOB,
    /// text that is not UTF-8, a missing column).
    fn cell(&self, index: usize) -> Result<Cell<'_>, String>;

    /// The bytes of a text cell, unchecked for UTF-8 (a parser that accepts only ASCII
    /// checks them anyway), or `None` when the cell is not text.
    fn text_bytes(&self, index: usize) -> Option<&[u8]> {
        match self.cell(index) {
            Ok(Cell::Text(t)) => Some(t.as_bytes()),
            _ => None,
        }
    }
}

impl Cells for rusqlite::Row<'_> {
    fn cell(&self, index: usize) -> Result<Cell<'_>, String> {
        use rusqlite::types::ValueRef;
        match self.get_ref(index).map_err(|e| e.to_string())? {
            ValueRef::Null => Ok(Cell::Null),
            ValueRef::Integer(v) => Ok(Cell::Integer(v)),
            ValueRef::Real(v) => Ok(Cell::Real(v)),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(Cell::Text)
                .map_err(|e| format!("is not UTF-8: {e}")),
            ValueRef::Blob(b) => Err(format!("is a {}-byte BLOB", b.len())),
        }
    }

    fn text_bytes(&self, index: usize) -> Option<&[u8]> {
        match self.get_ref(index) {
            Ok(rusqlite::types::ValueRef::Text(t)) => Some(t),
            _ => None,
        }
    }
}

#[cfg(feature = "postgres")]
impl Cells for tokio_postgres::Row {
    fn cell(&self, index: usize) -> Result<Cell<'_>, String> {
        use tokio_postgres::types::Type;
        let ty = self
            .columns()
            .get(index)
            .ok_or_else(|| format!("is missing (the row has {} columns)", self.len()))?
            .type_();
        let cell = match *ty {
            Type::INT8 => self
                .try_get::<_, Option<i64>>(index)
                .map(|v| v.map(Cell::Integer)),
            Type::INT4 => self
                .try_get::<_, Option<i32>>(index)
                .map(|v| v.map(|v| Cell::Integer(v.into()))),
            Type::INT2 => self
                .try_get::<_, Option<i16>>(index)
                .map(|v| v.map(|v| Cell::Integer(v.into()))),
            Type::FLOAT8 => self
                .try_get::<_, Option<f64>>(index)
                .map(|v| v.map(Cell::Real)),
            Type::FLOAT4 => self
                .try_get::<_, Option<f32>>(index)
                .map(|v| v.map(|v| Cell::Real(v.into()))),
            _ => self
                .try_get::<_, Option<&str>>(index)
                .map(|v| v.map(Cell::Text)),
        };
        cell.map(|v| v.unwrap_or(Cell::Null))
            .map_err(|e| format!("does not read: {e}"))
    }
}

impl Cells for [SqlValue] {
    fn cell(&self, index: usize) -> Result<Cell<'_>, String> {
        match self.get(index) {
            None => Err(format!("is missing (the row has {} columns)", self.len())),
            Some(SqlValue::Null) => Ok(Cell::Null),
            Some(SqlValue::Integer(v)) => Ok(Cell::Integer(*v)),
            Some(SqlValue::Real(v)) => Ok(Cell::Real(*v)),
            Some(SqlValue::Text(t)) => Ok(Cell::Text(t)),
        }
    }
}

/// Why a row does not read as an intent: the column, what is wrong with it, and the row's
/// `id` cell as text (whatever it holds), to find the row.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("intent row `{id}`: `{column}` {detail}")]
pub(crate) struct IntentRowError {
    /// The row's `id` cell, as text.
    pub id: String,
    /// The column that does not read.
    pub column: &'static str,
    /// What is wrong with it.
    pub detail: String,
}

/// The nine intent columns of one row, read in place: uuids parsed, texts borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IntentRow<'a> {
    pub id: Uuid,
    pub entity_id: Uuid,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub seq: u64,
    pub event_type: &'a str,
    pub event_version: u32,
    pub payload: &'a str,
    pub created_at: Timestamp,
}

impl<'a> IntentRow<'a> {
    /// Reads the intent columns at indexes 0 to 8 of `row`, in
    /// [`INTENT_COLUMNS`](crate::schema::INTENT_COLUMNS) order after `id`.
    pub fn read<R: Cells + ?Sized>(row: &'a R) -> Result<Self, IntentRowError> {
        Self::read_with(row, None)
    }

    /// As [`read`](Self::read), for a row its query selected by `entity_id` equal to the
    /// text of `entity_id`: that cell is taken as read rather than parsed again (a UUID
    /// parse per row is a tenth of reading a log).
    pub fn read_of<R: Cells + ?Sized>(row: &'a R, entity_id: Uuid) -> Result<Self, IntentRowError> {
        Self::read_with(row, Some(entity_id))
    }

    fn read_with<R: Cells + ?Sized>(
        row: &'a R,
        known_entity: Option<Uuid>,
    ) -> Result<Self, IntentRowError> {
        let bad = |column: &'static str, detail: String| IntentRowError {
            id: match row.cell(0) {
                Ok(Cell::Text(t)) => t.to_owned(),
                Ok(other) => other.to_string(),
                Err(why) => format!("(id {why})"),
            },
            column,
            detail,
        };
        let cell = |index: usize, column: &'static str| row.cell(index).map_err(|e| bad(column, e));
        let text = |index: usize, column: &'static str| match cell(index, column)? {
            Cell::Text(t) => Ok(t),
            other => Err(bad(column, format!("is {other}, expected text"))),
        };
        let int = |index: usize, column: &'static str| match cell(index, column)? {
            Cell::Integer(v) => Ok(v),
            other => Err(bad(column, format!("is {other}, expected an integer"))),
        };
        let uuid = |index: usize, column: &'static str| {
            // Straight from the bytes: the parser accepts only ASCII, so a UTF-8 check
            // first would be paid twice; a cell that is not a UUID is re-read for the error.
            if let Some(parsed) = row
                .text_bytes(index)
                .and_then(|b| Uuid::try_parse_ascii(b).ok())
            {
                return Ok(parsed);
            }
            let t = text(index, column)?;
            Uuid::parse_str(t).map_err(|e| bad(column, format!("is not a UUID ({t:?}): {e}")))
        };
        // In column order, so the first bad column is the one reported.
        let id = uuid(0, "id")?;
        let entity_id = match known_entity {
            Some(known) => known,
            None => uuid(1, "entity_id")?,
        };
        let client_id = text(2, "client_id")?;
        let user_id = text(3, "user_id")?;
        let seq = int(4, "seq")?;
        let seq = u64::try_from(seq)
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| bad("seq", format!("is {seq}, expected 1 or more")))?;
        let event_type = text(5, "event_type")?;
        let event_version = int(6, "event_version")?;
        let event_version = u32::try_from(event_version)
            .map_err(|_| bad("event_version", format!("is {event_version}, out of range")))?;
        Ok(IntentRow {
            id,
            entity_id,
            client_id,
            user_id,
            seq,
            event_type,
            event_version,
            payload: text(7, "payload")?,
            created_at: int(8, "created_at")?,
        })
    }

    /// The owned storage form (what the server stores read).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub fn to_raw(self) -> RawIntent {
        RawIntent {
            id: self.id,
            entity_id: self.entity_id,
            client_id: self.client_id.to_owned(),
            user_id: self.user_id.to_owned(),
            seq: self.seq,
            event_type: self.event_type.to_owned(),
            event_version: self.event_version,
            payload: self.payload.to_owned(),
            created_at: self.created_at,
        }
    }

    /// Decodes straight into a typed intent, with the checks of [`RawIntent::decode`].
    pub fn decode<E: Event>(&self) -> Result<Intent<E>, DecodeError> {
        // An upcast payload is in the current shape: the intent carries the current version,
        // so that re-encoding it (an upload) never labels the new shape with the old number.
        let event = decode_event::<E>(self.event_type, self.event_version, self.payload)?;
        Ok(Intent {
            id: self.id,
            entity_id: self.entity_id,
            client_id: self.client_id.to_owned(),
            user_id: self.user_id.to_owned(),
            seq: self.seq,
            event_version: event.event_version(),
            event,
            created_at: self.created_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells() -> Vec<SqlValue> {
        let text = |s: &str| SqlValue::Text(s.to_owned());
        vec![
            text("0190a7c0-0000-7000-8000-000000000001"),
            text("0190a7c0-0000-7000-8000-000000000002"),
            text("c1"),
            text("u1"),
            SqlValue::Integer(3),
            text("CREATE"),
            SqlValue::Integer(1),
            text("{}"),
            SqlValue::Integer(42),
        ]
    }

    #[test]
    fn a_well_formed_row_reads_in_place() {
        let cells = cells();
        let row = IntentRow::read(cells.as_slice()).unwrap();
        assert_eq!((row.client_id, row.seq, row.created_at), ("c1", 3, 42));
        let raw = row.to_raw();
        assert_eq!((raw.event_type.as_str(), raw.event_version), ("CREATE", 1));
    }

    #[test]
    fn a_malformed_row_names_the_column_and_the_row() {
        let mut cells = cells();
        cells[4] = SqlValue::Integer(0);
        let err = IntentRow::read(cells.as_slice()).unwrap_err();
        assert_eq!(err.column, "seq");
        assert_eq!(err.id, "0190a7c0-0000-7000-8000-000000000001");

        let mut cells = self::cells();
        cells[0] = SqlValue::Text("not-a-uuid".into());
        let err = IntentRow::read(cells.as_slice()).unwrap_err();
        assert_eq!((err.id.as_str(), err.column), ("not-a-uuid", "id"));

        let short = &self::cells()[..5];
        assert_eq!(IntentRow::read(short).unwrap_err().column, "event_type");
    }

    #[test]
    fn sqlite_rows_read_through_the_same_reader() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let sql = "SELECT '0190a7c0-0000-7000-8000-000000000001', \
                   '0190a7c0-0000-7000-8000-000000000002', 'c1', 'u1', 1, 'CREATE', 1, '{}', 5, \
                   X'00'";
        conn.query_row(sql, [], |row| {
            let read = IntentRow::read(row).unwrap();
            assert_eq!((read.user_id, read.seq), ("u1", 1));
            assert!(row.cell(9).unwrap_err().contains("BLOB"));
            Ok(())
        })
        .unwrap();
        // A uuid is parsed from the cell's bytes; one that is not a uuid (here not even
        // UTF-8) is still reported on its column.
        let sql = "SELECT '0190a7c0-0000-7000-8000-000000000001', \
                   CAST(X'0190a7c0ff' AS TEXT), 'c1', 'u1', 1, 'CREATE', 1, '{}', 5";
        conn.query_row(sql, [], |row| {
            let err = IntentRow::read(row).unwrap_err();
            assert_eq!(err.column, "entity_id");
            assert!(err.detail.contains("UTF-8"), "{}", err.detail);
            // Selected by its entity: that cell is not read again.
            let entity = Uuid::from_u128(7);
            assert_eq!(IntentRow::read_of(row, entity).unwrap().entity_id, entity);
            Ok(())
        })
        .unwrap();
    }
}
