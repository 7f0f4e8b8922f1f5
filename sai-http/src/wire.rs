//! The bodies of the HTTP API, shared by the backend and the device, and the paths they live
//! at. JSON throughout.

use sai::RawIntent;
use sai::SqlValue;
use sai::schema::{Schema, SyncDirection};
use sai::sync::{ChangePage, Cursor, Removal, SyncRow};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The upload endpoint of domain `domain`: `POST` an [`UploadRequest`].
pub fn upload_path(domain: &str) -> String {
    format!("/sai/v1/{domain}/upload")
}

/// The download endpoint of domain `domain`: `GET` it with a [`DownloadQuery`] for a
/// [`DownloadPage`].
pub fn download_path(domain: &str) -> String {
    format!("/sai/v1/{domain}/download")
}

/// One upload: a batch of one client's (or one user's) intents, in per-client sequence order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UploadRequest {
    /// The intents, as the device logged them.
    pub intents: Vec<RawIntent>,
}

/// The answer to a stored upload (2xx).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadResponse {
    /// Intents newly queued.
    pub inserted: usize,
    /// Intents stored already (a repeated upload), skipped now.
    pub duplicates: usize,
}

/// What went wrong, as every non-2xx answer of the API says it (its JSON body).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The kind of problem, stable across versions.
    pub code: ErrorCode,
    /// A human description naming the problem (the intent, the field, the cause).
    pub message: String,
    /// For [`ErrorCode::SequenceTaken`]: the sequence number the device must renumber past.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_taken: Option<SequenceTaken>,
}

/// The (client, seq) an upload reused: the device renumbers its pending intents past it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceTaken {
    /// The client.
    pub client_id: String,
    /// The sequence number taken by another intent.
    pub seq: u64,
    /// The uploaded intent refused.
    pub intent_id: Uuid,
}

/// The kinds of problem the API reports, each with its HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// 401: no bearer token, or one that does not verify (signature, expiry, audience, `sub`).
    Unauthenticated,
    /// 403: a client of the upload is bound to another user.
    ClientOfAnotherUser,
    /// 403: an intent names another user than the token's.
    WrongUser,
    /// 400: the body is not an [`UploadRequest`] (not JSON, a missing or mistyped field).
    MalformedBody,
    /// 400: the query of a download is not a [`DownloadQuery`].
    MalformedQuery,
    /// 413: the body is larger than the backend accepts.
    BodyTooLarge,
    /// 422: an intent's envelope is not one the library could have produced.
    MalformedIntent,
    /// 422: a user or client id is empty, too long or holds a NUL.
    InvalidIdentity,
    /// 422: an intent id clashes with a stored intent, or one (client, seq) has two ids.
    IdConflict,
    /// 409: a (client, seq) of the upload belongs to another intent (a restored or cloned
    /// device); see [`ErrorBody::sequence_taken`].
    SequenceTaken,
    /// 503: the database failed transiently; retry.
    StoreUnavailable,
    /// 500: the database failed; retry later.
    StoreFailed,
}

impl ErrorCode {
    /// The HTTP status this problem is answered with.
    /// Whether a device completes (drops for good) a batch refused with this code: only
    /// the backend's own verdicts that the batch can never be stored. Anything else — a
    /// too-large batch, a proxy's or a wrong URL's 4xx — leaves the batch in the log.
    pub fn completes_batch(self) -> bool {
        matches!(
            self,
            ErrorCode::ClientOfAnotherUser
                | ErrorCode::WrongUser
                | ErrorCode::MalformedBody
                | ErrorCode::MalformedIntent
                | ErrorCode::InvalidIdentity
                | ErrorCode::IdConflict
        )
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorCode::Unauthenticated => 401,
            ErrorCode::ClientOfAnotherUser | ErrorCode::WrongUser => 403,
            ErrorCode::MalformedBody | ErrorCode::MalformedQuery => 400,
            ErrorCode::BodyTooLarge => 413,
            ErrorCode::MalformedIntent | ErrorCode::InvalidIdentity | ErrorCode::IdConflict => 422,
            ErrorCode::SequenceTaken => 409,
            ErrorCode::StoreUnavailable => 503,
            ErrorCode::StoreFailed => 500,
        }
    }
}

/// The query of a download: the changes after `after`, at most `limit` of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadQuery {
    /// The device's cursor ([`Cursor::START`], 0, for a device that never downloaded).
    #[serde(default)]
    pub after: Cursor,
    /// The most changes wanted; the backend caps it (default
    /// [`DEFAULT_PAGE_LIMIT`](sai::sync::DEFAULT_PAGE_LIMIT)).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// One page of a user's changes of one domain after a cursor (a
/// [`ChangePage`] on the wire): the current content of each changed
/// row (the rows PowerSync's sync rules select), the rows removed, and the cursor to ask
/// from next.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DownloadPage {
    /// The cursor the page was read after.
    pub after: Cursor,
    /// Changed rows, each as it is now.
    pub rows: Vec<WireRow>,
    /// Removed rows.
    pub removals: Vec<WireRemoval>,
    /// The cursor after this page.
    pub next: Cursor,
    /// Whether more changes wait after `next`.
    pub more: bool,
}

/// A row the device must delete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRemoval {
    /// The table.
    pub table: String,
    /// The row's `id`.
    pub id: String,
}

impl From<&ChangePage> for DownloadPage {
    fn from(page: &ChangePage) -> Self {
        DownloadPage {
            after: page.after,
            rows: page.rows.iter().map(WireRow::from).collect(),
            removals: page
                .removals
                .iter()
                .map(|r| WireRemoval {
                    table: r.table.clone(),
                    id: r.id.clone(),
                })
                .collect(),
            next: page.next,
            more: page.more,
        }
    }
}

impl DownloadPage {
    /// The page as a [`ChangePage`] of `schema`'s tables (see [`WireRow::to_sync_row`]).
    pub fn to_change_page(&self, schema: &Schema) -> Result<ChangePage, RowMismatch> {
        Ok(ChangePage {
            after: self.after,
            rows: self
                .rows
                .iter()
                .map(|r| r.to_sync_row(schema))
                .collect::<Result<_, _>>()?,
            removals: self
                .removals
                .iter()
                .map(|r| Removal {
                    table: r.table.clone(),
                    id: r.id.clone(),
                })
                .collect(),
            next: self.next,
            more: self.more,
        })
    }
}

/// A [`SyncRow`] on the wire: its columns as a JSON object (the form PowerSync operations
/// carry), `NULL` as `null`, integers as integers, reals as numbers with a fraction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireRow {
    /// The table.
    pub table: String,
    /// The row's `id`.
    pub id: String,
    /// Every other column.
    pub columns: Map<String, Value>,
}

impl From<&SyncRow> for WireRow {
    fn from(row: &SyncRow) -> Self {
        let Value::Object(columns) = row.to_json() else {
            unreachable!("SyncRow::to_json builds an object")
        };
        WireRow {
            table: row.table.clone(),
            id: row.id.clone(),
            columns,
        }
    }
}

/// Why a downloaded row does not fit the device's schema.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("downloaded row `{id}` of table `{table}`: {problem}")]
pub struct RowMismatch {
    /// The table named.
    pub table: String,
    /// The row.
    pub id: String,
    /// What does not fit.
    pub problem: String,
}

impl WireRow {
    /// The row as a [`SyncRow`] of `schema`'s downloaded table it names, its columns in the
    /// table's order. A column the device's schema lacks (a newer server) is ignored; one
    /// the row lacks is `NULL`.
    pub fn to_sync_row(&self, schema: &Schema) -> Result<SyncRow, RowMismatch> {
        let bad = |problem: String| RowMismatch {
            table: self.table.clone(),
            id: self.id.clone(),
            problem,
        };
        let table = schema
            .tables()
            .iter()
            .find(|t| t.name == self.table && t.role.sync() == SyncDirection::Down)
            .ok_or_else(|| bad("no such downloaded table in this device's schema".into()))?;
        let columns = table.columns[1..]
            .iter()
            .map(|c| {
                let value = match self.columns.get(c.name) {
                    None | Some(Value::Null) => SqlValue::Null,
                    Some(Value::Bool(b)) => SqlValue::Integer(i64::from(*b)),
                    Some(Value::Number(n)) => match n.as_i64() {
                        Some(i) => SqlValue::Integer(i),
                        None => SqlValue::Real(n.as_f64().ok_or_else(|| {
                            bad(format!("column `{}`: {n} is out of range", c.name))
                        })?),
                    },
                    Some(Value::String(s)) => SqlValue::Text(s.clone()),
                    Some(other) => {
                        return Err(bad(format!(
                            "column `{}`: {other} is not a SQL value",
                            c.name
                        )));
                    }
                };
                Ok((c.name, value))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SyncRow {
            table: self.table.clone(),
            id: self.id.clone(),
            columns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sai::schema::TableRole;

    #[test]
    fn a_row_survives_the_wire_with_its_column_types() {
        let schema = Schema::builder().tables_of("todo", &[]).build().unwrap();
        let table = schema
            .tables()
            .iter()
            .find(|t| t.role == TableRole::Projection)
            .unwrap();
        let columns: Vec<(&'static str, SqlValue)> = table.columns[1..]
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let v = match i % 4 {
                    0 => SqlValue::Text(format!("t{i}")),
                    1 => SqlValue::Integer(i as i64),
                    2 => SqlValue::Real(2.0),
                    _ => SqlValue::Null,
                };
                (c.name, v)
            })
            .collect();
        let row = SyncRow {
            table: table.name.clone(),
            id: "r1".into(),
            columns,
        };
        let text = serde_json::to_string(&WireRow::from(&row)).unwrap();
        let back: WireRow = serde_json::from_str(&text).unwrap();
        assert_eq!(back.to_sync_row(&schema).unwrap(), row);
    }

    #[test]
    fn a_row_of_an_unknown_table_is_refused_by_name() {
        let schema = Schema::builder().tables_of("todo", &[]).build().unwrap();
        let row = WireRow {
            table: "todo_intent_events".into(),
            id: "x".into(),
            columns: Map::new(),
        };
        let err = row.to_sync_row(&schema).unwrap_err();
        assert_eq!(err.table, "todo_intent_events");
    }

    #[test]
    fn every_code_has_the_status_of_its_class() {
        assert_eq!(
            serde_json::to_value(ErrorCode::SequenceTaken).unwrap(),
            "sequence_taken"
        );
        for (code, class) in [
            (ErrorCode::Unauthenticated, 4),
            (ErrorCode::MalformedIntent, 4),
            (ErrorCode::StoreUnavailable, 5),
        ] {
            assert_eq!(code.status() / 100, class);
        }
    }
}
