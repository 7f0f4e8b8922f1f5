//! Driver errors as [`StoreError`]s: which SQLSTATEs a retry may cure.

use tokio_postgres::error::SqlState;

use super::super::error::StoreError;

/// Classifies a driver error: a failed connection, a serialization failure, a deadlock or a
/// lock or shutdown condition may pass on retry; anything else will not.
fn classify(e: tokio_postgres::Error) -> StoreError {
    let transient = match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("08") // connection exception
                || c.starts_with("40") // transaction rollback: serialization failure, deadlock
                || *code == SqlState::LOCK_NOT_AVAILABLE
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::TOO_MANY_CONNECTIONS
        }
        // No SQLSTATE: the connection failed or closed underneath the statement.
        None => {
            e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
        }
    };
    if transient {
        StoreError::Transient(Box::new(e))
    } else {
        StoreError::Database(Box::new(e))
    }
}

/// Converts driver errors through [`classify`].
pub(super) trait Db<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for Result<T, tokio_postgres::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(classify)
    }
}
