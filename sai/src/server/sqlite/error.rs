//! rusqlite errors as [`StoreError`]s: a busy or locked database is worth a retry, a value
//! too big is refused (see [`StoreError::refuses_a_value`]), and the text carries SQLite's
//! message and result code.

use rusqlite::ErrorCode;

use std::error::Error as _;

use super::super::error::{DatabaseError, StoreError};

/// The error with SQLite's result code (and extended code), and each cause.
fn describe(e: &rusqlite::Error) -> (String, Option<String>) {
    let mut text = e.to_string();
    if let rusqlite::Error::SqliteFailure(failure, _) = e {
        text.push_str(&format!(
            " (SQLite {:?}, extended code {})",
            failure.code, failure.extended_code
        ));
        // Its source is the same code again, as text.
        return (text, Some(format!("{:?}", failure.code)));
    }
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    (text, None)
}

/// Converts rusqlite errors, classifying a busy or locked database as transient.
pub(super) trait Db<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(|e| {
            let transient = matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
            );
            let value_refused = e.sqlite_error_code() == Some(ErrorCode::TooBig);
            let (text, code) = describe(&e);
            let mut error = DatabaseError::new(text, code, Box::new(e));
            if value_refused {
                error = error.refusing_a_value();
            }
            let error = Box::new(error);
            if transient {
                StoreError::Transient(error)
            } else {
                StoreError::Database(error)
            }
        })
    }
}
