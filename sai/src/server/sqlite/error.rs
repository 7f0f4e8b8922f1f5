//! rusqlite errors as [`StoreError`]s: a busy or locked database is worth a retry.

use rusqlite::ErrorCode;

use std::error::Error as _;

use super::super::error::{DatabaseError, StoreError};

/// The error with SQLite's result code (and extended code), and each cause.
fn describe(e: &rusqlite::Error) -> (String, Option<String>) {
    let mut text = e.to_string();
    let mut code = None;
    if let rusqlite::Error::SqliteFailure(failure, _) = e {
        text.push_str(&format!(
            " (SQLite {:?}, extended code {})",
            failure.code, failure.extended_code
        ));
        code = Some(format!("{:?}", failure.code));
    }
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(": ");
            text.push_str(&c_text);
        }
        cause = c.source();
    }
    (text, code)
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
            let (text, code) = describe(&e);
            let error = Box::new(DatabaseError::new(text, code, Box::new(e)));
            if transient {
                StoreError::Transient(error)
            } else {
                StoreError::Database(error)
            }
        })
    }
}
