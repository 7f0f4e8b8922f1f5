//! Rules for names that become SQL identifiers.

/// Column names the runtime uses in projection tables: a copy of
/// `sai::schema::RESERVED_COLUMNS`, which a sai unit test reads from this file and compares.
/// Keep it a `&[&str]` literal of plain string literals.
pub const RESERVED_COLUMNS: &[&str] = &[
    "id",
    "state",
    "version",
    "owner_id",
    "decided",
    "members",
    "updated_at",
];

/// PostgreSQL truncates identifiers past 63 bytes.
pub const MAX_IDENT: usize = 63;

/// The longest table suffix (`_intent_events_processed`), so that every table name fits.
pub const MAX_DOMAIN_NAME: usize = MAX_IDENT - "_intent_events_processed".len();

/// `Some(reason)` when `name` is not lower-case snake case starting with a letter or `_`.
pub fn unsafe_reason(name: &str, max: usize) -> Option<String> {
    let Some(first) = name.chars().next() else {
        return Some("it is empty".into());
    };
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Some(if c.is_ascii_uppercase() {
            format!("it contains the upper-case letter `{c}`")
        } else {
            format!("it contains `{c}`")
        });
    }
    if first.is_ascii_digit() {
        return Some(format!("it starts with the digit `{first}`"));
    }
    if name.len() > max {
        return Some(format!(
            "it is {} bytes long, the limit is {max}",
            name.len()
        ));
    }
    None
}

/// `CamelCase` → `camel_case`.
pub fn snake_case(ident: &str) -> String {
    let mut out = String::new();
    for (i, c) in ident.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A safe identifier of at most `max` bytes close to `name`: `"Text Body"` → `text_body`.
pub fn suggest(name: &str, max: usize) -> String {
    let mut out = String::new();
    for c in snake_case(name).chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    let out = out.trim_matches('_');
    let out = match out.chars().next() {
        Some(c) if c.is_ascii_digit() => format!("_{out}"),
        Some(_) => out.to_owned(),
        None => "name".to_owned(),
    };
    // ASCII only by now, so any byte index is a char boundary.
    out[..out.len().min(max)].trim_end_matches('_').to_owned()
}
