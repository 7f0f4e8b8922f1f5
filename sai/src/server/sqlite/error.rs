//! rusqlite errors as [`StoreError`]s: a busy or locked database is worth a retry.

use rusqlite::ErrorCode;

use super::super::error::StoreError;

/// Converts rusqlite errors, classifying a busy or locked database as transient.
pub(super) trait Db<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(|e| match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Transient(Box::new(e))
            }
            _ => StoreError::Database(Box::new(e)),
        })
    }
}
