//! Driver errors as [`StoreError`]s: which SQLSTATEs a retry may cure, which refuse a value
//! (class 22, see [`StoreError::refuses_a_value`]), and a text carrying everything the
//! server said.

use tokio_postgres::error::SqlState;

use std::error::Error as _;

use super::super::error::{DatabaseError, StoreError};

/// Everything the error says: for a server error its severity, message, SQLSTATE, detail,
/// hint and the object concerned; otherwise the driver's text and each cause (the I/O error
/// of a refused connection).
fn describe(e: &tokio_postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        let mut text = e.to_string();
        let mut cause = e.source();
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        return text;
    };
    let mut text = format!(
        "{}: {} (SQLSTATE {})",
        db.severity(),
        db.message(),
        db.code().code()
    );
    let parts = [
        ("detail", db.detail()),
        ("hint", db.hint()),
        ("table", db.table()),
        ("column", db.column()),
        ("constraint", db.constraint()),
        ("where", db.where_()),
    ];
    for (label, value) in parts {
        if let Some(value) = value {
            text.push_str(&format!("; {label}: {value}"));
        }
    }
    text
}

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
    let code = e.code().map(|c| c.code().to_owned());
    // Class 22, data exception: a value of the statement the server cannot take (NUL in
    // text, out of range, too long). Class 23 is not one: the library's own uniqueness
    // guarantees raise it under races, and those are no intent's fault.
    let value_refused = code.as_deref().is_some_and(|c| c.starts_with("22"));
    let mut error = DatabaseError::new(describe(&e), code, Box::new(e));
    if value_refused {
        error = error.refusing_a_value();
    }
    let error = Box::new(error);
    if transient {
        StoreError::Transient(error)
    } else {
        StoreError::Database(error)
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
