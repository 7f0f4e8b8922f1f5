//! Statement parameters as arrays, one per column: how every write of a batch is one
//! set-based statement over `unnest(…)`, whatever the batch size.

use tokio_postgres::types::ToSql;

use crate::intent::{RawIntent, Timestamp};
use crate::value::{ColumnType, SqlValue};

use super::super::decisions::{AcceptedIntent, AckAdvance, ProjectionWrite, RejectedIntent};
use super::super::error::StoreError;
use super::super::sql::to_i64;

/// A boxed statement parameter.
pub(super) type Param = Box<dyn ToSql + Sync + Send>;

/// Borrows boxed parameters the way a statement takes them.
pub(super) fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// The parameters of `advance_acks` (the first three also of `delete_decided`).
pub(super) fn ack_params(acks: &[AckAdvance], now: Timestamp) -> Result<Vec<Param>, StoreError> {
    Ok(vec![
        Box::new(acks.iter().map(|a| a.client_id.clone()).collect::<Vec<_>>()),
        Box::new(
            acks.iter()
                .map(|a| to_i64(a.from))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Box::new(
            acks.iter()
                .map(|a| to_i64(a.to))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Box::new(now),
    ])
}

/// The parameters of `insert_processed`.
pub(super) fn archive_params(
    accepted: &[AcceptedIntent],
    now: Timestamp,
) -> Result<Vec<Param>, StoreError> {
    let mut params = intent_arrays(accepted.iter().map(|a| &a.intent))?;
    params.push(Box::new(
        accepted.iter().map(|a| a.state).collect::<Vec<_>>(),
    ));
    params.push(Box::new(
        accepted
            .iter()
            .map(|a| to_i64(a.version))
            .collect::<Result<Vec<_>, _>>()?,
    ));
    params.push(Box::new(
        accepted
            .iter()
            .map(|a| a.context.clone())
            .collect::<Vec<_>>(),
    ));
    params.push(Box::new(now));
    Ok(params)
}

/// The parameters of `insert_rejected`.
pub(super) fn rejection_params(
    rejected: &[RejectedIntent],
    now: Timestamp,
) -> Result<Vec<Param>, StoreError> {
    let mut params = intent_arrays(rejected.iter().map(|r| &r.intent))?;
    params.push(Box::new(
        rejected
            .iter()
            .map(|r| r.code.to_owned())
            .collect::<Vec<_>>(),
    ));
    params.push(Box::new(
        rejected
            .iter()
            .map(|r| r.message.clone())
            .collect::<Vec<_>>(),
    ));
    params.push(Box::new(
        rejected
            .iter()
            .map(|r| r.reason.clone())
            .collect::<Vec<_>>(),
    ));
    params.push(Box::new(
        rejected.iter().map(|r| r.state).collect::<Vec<_>>(),
    ));
    params.push(Box::new(now));
    Ok(params)
}

/// The parameters of `upsert_projection`: one array per column.
pub(super) fn projection_params(
    field_types: &[ColumnType],
    projections: &[ProjectionWrite],
    now: Timestamp,
) -> Result<Vec<Param>, StoreError> {
    let field_rows: Vec<&[SqlValue]> = projections.iter().map(|p| p.fields.as_slice()).collect();
    for (p, row) in projections.iter().zip(&field_rows) {
        if row.len() != field_types.len() {
            return Err(StoreError::Malformed(format!(
                "projection of {} has {} field cells, the table has {} columns",
                p.id,
                row.len(),
                field_types.len()
            )));
        }
    }
    let mut projection: Vec<Param> = vec![
        Box::new(
            projections
                .iter()
                .map(|p| p.id.to_string())
                .collect::<Vec<_>>(),
        ),
        Box::new(projections.iter().map(|p| p.state).collect::<Vec<_>>()),
        Box::new(
            projections
                .iter()
                .map(|p| to_i64(p.version))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Box::new(
            projections
                .iter()
                .map(|p| p.owner_id.clone())
                .collect::<Vec<_>>(),
        ),
        Box::new(
            projections
                .iter()
                .map(|p| p.decided.clone())
                .collect::<Vec<_>>(),
        ),
    ];
    for (i, ty) in field_types.iter().enumerate() {
        projection.push(field_array(*ty, i, &field_rows)?);
    }
    projection.push(Box::new(now));
    Ok(projection)
}

/// The nine intent columns as arrays, in [`IntentRow`](crate::intent::row::IntentRow) order.
pub(super) fn intent_arrays<'a>(
    intents: impl Iterator<Item = &'a RawIntent> + Clone,
) -> Result<Vec<Param>, StoreError> {
    let col = |f: fn(&RawIntent) -> String| -> Param {
        Box::new(intents.clone().map(f).collect::<Vec<String>>())
    };
    let seqs = intents
        .clone()
        .map(|i| to_i64(i.seq))
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(vec![
        col(|i| i.id.to_string()),
        col(|i| i.entity_id.to_string()),
        col(|i| i.client_id.clone()),
        col(|i| i.user_id.clone()),
        Box::new(seqs),
        col(|i| i.event_type.clone()),
        Box::new(
            intents
                .clone()
                .map(|i| i64::from(i.event_version))
                .collect::<Vec<i64>>(),
        ),
        col(|i| i.payload.clone()),
        Box::new(intents.map(|i| i.created_at).collect::<Vec<i64>>()),
    ])
}

/// One field column of a batch of projections as a typed array.
fn field_array(ty: ColumnType, index: usize, rows: &[&[SqlValue]]) -> Result<Param, StoreError> {
    let wrong = |v: &SqlValue| {
        StoreError::Malformed(format!("field cell {v:?} does not fit a {ty} column"))
    };
    Ok(match ty {
        ColumnType::Text => Box::new(
            rows.iter()
                .map(|r| match &r[index] {
                    SqlValue::Null => Ok(None),
                    SqlValue::Text(s) => Ok(Some(s.clone())),
                    v => Err(wrong(v)),
                })
                .collect::<Result<Vec<Option<String>>, _>>()?,
        ),
        ColumnType::Integer => Box::new(
            rows.iter()
                .map(|r| match &r[index] {
                    SqlValue::Null => Ok(None),
                    SqlValue::Integer(v) => Ok(Some(*v)),
                    v => Err(wrong(v)),
                })
                .collect::<Result<Vec<Option<i64>>, _>>()?,
        ),
        ColumnType::Real => Box::new(
            rows.iter()
                .map(|r| match &r[index] {
                    SqlValue::Null => Ok(None),
                    SqlValue::Real(v) => Ok(Some(*v)),
                    SqlValue::Integer(v) => Ok(Some(*v as f64)),
                    v => Err(wrong(v)),
                })
                .collect::<Result<Vec<Option<f64>>, _>>()?,
        ),
    })
}
