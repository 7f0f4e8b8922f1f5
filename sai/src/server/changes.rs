//! A page of a user's downloads from change-log entries, the same for every store: the
//! store reads the entries after a position (one more than the limit, to know whether more
//! wait) and looks up each changed row in the same snapshot.

use crate::sync::{ChangePage, Cursor, Removal, SyncRow};

use super::error::StoreError;
use super::sql::to_u64;

/// One change-log entry: `pos, tbl, row_id, removed`.
pub(crate) type ChangeEntry = (i64, String, String, bool);

/// Builds the page from up to `limit + 1` entries in position order; `row` reads a changed
/// row of the user as it is now (`None` if it is gone: its removal entry comes later, or it
/// belongs to another user now, and it is left out).
pub(crate) fn page(
    after: Cursor,
    limit: usize,
    mut entries: Vec<ChangeEntry>,
    mut row: impl FnMut(&str, &str) -> Result<Option<SyncRow>, StoreError>,
) -> Result<ChangePage, StoreError> {
    let more = entries.len() > limit;
    entries.truncate(limit);
    let mut page = ChangePage {
        after,
        next: after,
        more,
        ..ChangePage::default()
    };
    for (pos, table, id, removed) in entries {
        page.next = Cursor::at(to_u64(pos, "change position")?);
        if removed {
            page.removals.push(Removal { table, id });
        } else if let Some(r) = row(&table, &id)? {
            page.rows.push(r);
        }
    }
    Ok(page)
}
