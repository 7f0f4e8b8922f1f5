//! Which values every store can hold. Pure and store-independent, so that SQLite and
//! PostgreSQL reject the same intents: a value one store refuses (PostgreSQL's text cannot
//! hold NUL) or silently changes (SQLite stores a NaN real as NULL) is refused for all.

use crate::domain::ColumnDef;
use crate::value::SqlValue;

/// A projection cell no store can be trusted to hold as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unstorable {
    /// The column.
    pub column: &'static str,
    /// What is wrong with its value.
    pub problem: String,
}

/// The first cell of `row` (in `columns` order) that a store cannot hold, if any.
pub(crate) fn check_row(columns: &[ColumnDef], row: &[SqlValue]) -> Option<Unstorable> {
    columns
        .iter()
        .zip(row)
        .find_map(|(column, cell)| problem(cell).map(|problem| (column.name, problem)))
        .map(|(column, problem)| Unstorable { column, problem })
}

/// Why a cell cannot be stored, if it cannot.
fn problem(cell: &SqlValue) -> Option<String> {
    match cell {
        SqlValue::Text(t) => t
            .find('\0')
            .map(|at| format!("text holds a NUL character (byte {at}), which PostgreSQL refuses")),
        SqlValue::Real(r) if !r.is_finite() => Some(format!(
            "real {r} is not finite (SQLite would store it as NULL)"
        )),
        SqlValue::Null | SqlValue::Integer(_) | SqlValue::Real(_) => None,
    }
}

/// `text` with every NUL replaced by U+FFFD, for messages built from user input.
pub(crate) fn without_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::ColumnType;

    const COLUMNS: &[ColumnDef] = &[
        ColumnDef {
            name: "title",
            field: "title",
            ty: ColumnType::Text,
            nullable: false,
            json: false,
            was: None,
            default: None,
        },
        ColumnDef {
            name: "hours",
            field: "hours",
            ty: ColumnType::Real,
            nullable: true,
            json: false,
            was: None,
            default: None,
        },
    ];

    #[test]
    fn nul_in_text_and_non_finite_reals_are_unstorable() {
        let nul = [SqlValue::Text("a\0b".into()), SqlValue::Null];
        assert_eq!(check_row(COLUMNS, &nul).map(|u| u.column), Some("title"));
        for r in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let row = [SqlValue::Text("ok".into()), SqlValue::Real(r)];
            assert_eq!(check_row(COLUMNS, &row).map(|u| u.column), Some("hours"));
        }
    }

    #[test]
    fn ordinary_values_are_storable() {
        let row = [SqlValue::Text("a\u{1}é".into()), SqlValue::Real(-1.5)];
        assert_eq!(check_row(COLUMNS, &row), None);
        assert_eq!(without_nul("a\0b".into()), "a\u{FFFD}b");
    }
}
