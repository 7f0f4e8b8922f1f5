//! What the backend answers for each failure: pure mapping from an error to the
//! [`ErrorBody`] (and so the HTTP status) the contract asks for.

use sai::server::IngestError;

use crate::auth::AuthError;
use crate::wire::{ErrorBody, ErrorCode, SequenceTaken};

/// The answer to an upload that ingestion refused or could not store.
pub(crate) fn ingest_refusal(e: &IngestError) -> ErrorBody {
    let code = match e {
        IngestError::Malformed { .. } => ErrorCode::MalformedIntent,
        IngestError::WrongUser { .. } => ErrorCode::WrongUser,
        IngestError::Unauthorized { .. } => ErrorCode::ClientOfAnotherUser,
        IngestError::IdConflict { .. } => ErrorCode::IdConflict,
        IngestError::SequenceTaken { .. } => ErrorCode::SequenceTaken,
        IngestError::InvalidIdentity { .. } => ErrorCode::InvalidIdentity,
        IngestError::Store(s) if s.is_transient() => ErrorCode::StoreUnavailable,
        // A permanent database error, or a kind this version does not know: a 5xx, so the
        // device keeps the batch and retries rather than dropping what may be fine data.
        _ => ErrorCode::StoreFailed,
    };
    let sequence_taken = match e {
        IngestError::SequenceTaken {
            client_id,
            seq,
            intent_id,
            ..
        } => Some(SequenceTaken {
            client_id: client_id.clone(),
            seq: *seq,
            intent_id: *intent_id,
        }),
        _ => None,
    };
    ErrorBody {
        code,
        message: e.to_string(),
        sequence_taken,
    }
}

/// The answer to a request whose token does not verify: 401, or 503 when the key server
/// failed (not the token's fault).
pub(crate) fn auth_refusal(e: &AuthError) -> ErrorBody {
    let code = if e.is_transient() {
        ErrorCode::StoreUnavailable
    } else {
        ErrorCode::Unauthenticated
    };
    ErrorBody {
        code,
        message: e.to_string(),
        sequence_taken: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sai::server::StoreError;

    #[test]
    fn refusals_are_4xx_and_store_failures_5xx() {
        let cases = [
            (
                IngestError::Unauthorized {
                    client_id: "c".into(),
                    user_id: "u".into(),
                },
                403,
            ),
            (
                IngestError::InvalidIdentity {
                    field: "client_id",
                    problem: "empty".into(),
                },
                422,
            ),
            (
                IngestError::Store(StoreError::Transient("gone".into())),
                503,
            ),
            (IngestError::Store(StoreError::Malformed("odd".into())), 500),
        ];
        for (e, status) in cases {
            assert_eq!(ingest_refusal(&e).code.status(), status, "{e}");
        }
    }

    #[test]
    fn a_taken_sequence_says_which_to_renumber_past() {
        let intent_id = uuid::Uuid::now_v7();
        let body = ingest_refusal(&IngestError::SequenceTaken {
            client_id: "c".into(),
            seq: 7,
            intent_id,
            stored_intent_id: uuid::Uuid::now_v7(),
        });
        assert_eq!(body.code, ErrorCode::SequenceTaken);
        assert_eq!(
            body.sequence_taken,
            Some(SequenceTaken {
                client_id: "c".into(),
                seq: 7,
                intent_id
            })
        );
    }
}
