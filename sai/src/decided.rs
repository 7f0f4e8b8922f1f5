//! The `decided` column of a projection row: which decisions the row includes.
//!
//! A JSON object mapping each client id that had an intent decided on the entity to
//! `{"through": <its last decided seq on the entity>, "rejected": [<its seqs rejected on the
//! entity>]}`. The server writes it in the same transaction as each decision (an accepted
//! intent, or a rejected one on an entity whose row exists), so a device that holds the row
//! knows exactly which of its intents the row includes, whatever else has or has not
//! arrived. Every rejection on the entity is kept: rejections are rare, and the list is what
//! tells a rejected intent from an accepted one without its rejection row.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a projection row says about one client's intents on its entity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DecidedBy {
    /// The client's last sequence number decided on the entity.
    pub through: u64,
    /// The client's sequence numbers rejected on the entity, ascending.
    #[serde(default)]
    pub rejected: Vec<u64>,
}

/// The `decided` column, decoded: by client id.
pub(crate) type DecidedMap = BTreeMap<String, DecidedBy>;

/// The column's value in a row written before it carried any decision.
pub(crate) const EMPTY: &str = "{}";

/// Decodes the column (an empty text reads as no decision).
pub(crate) fn parse(text: &str) -> Result<DecidedMap, serde_json::Error> {
    if text.trim().is_empty() {
        return Ok(DecidedMap::new());
    }
    serde_json::from_str(text)
}

/// Encodes the column.
pub(crate) fn render(map: &DecidedMap) -> String {
    // A map of strings to integers always encodes.
    serde_json::to_string(map).unwrap_or_else(|_| EMPTY.to_owned())
}

/// Records that `client`'s intent `seq` was decided on the entity (`rejected` or accepted).
pub(crate) fn record(map: &mut DecidedMap, client: &str, seq: u64, rejected: bool) {
    let by = map.entry(client.to_owned()).or_default();
    by.through = by.through.max(seq);
    if rejected && !by.rejected.contains(&seq) {
        by.rejected.push(seq);
        by.rejected.sort_unstable();
    }
}

/// How a projection row's `decided` map settles intent `(client, seq)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Included {
    /// The row includes its acceptance.
    Accepted,
    /// The row says it was rejected.
    Rejected,
    /// The row does not include its decision.
    No,
    /// The row does not name the client: written before the column existed, or no intent
    /// of the client was decided on the entity.
    Unknown,
}

/// What `map` says about intent `(client, seq)`.
pub(crate) fn included(map: &DecidedMap, client: &str, seq: u64) -> Included {
    match map.get(client) {
        None => Included::Unknown,
        Some(by) if by.through < seq => Included::No,
        Some(by) if by.rejected.binary_search(&seq).is_ok() => Included::Rejected,
        Some(_) => Included::Accepted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_reads_back() {
        let mut map = parse(EMPTY).unwrap();
        record(&mut map, "a", 1, false);
        record(&mut map, "a", 3, true);
        record(&mut map, "a", 2, false);
        let map = parse(&render(&map)).unwrap();
        assert_eq!(included(&map, "a", 1), Included::Accepted);
        assert_eq!(included(&map, "a", 3), Included::Rejected);
        assert_eq!(included(&map, "a", 4), Included::No);
        assert_eq!(included(&map, "b", 1), Included::Unknown);
        assert_eq!(map["a"].through, 3);
    }
}
