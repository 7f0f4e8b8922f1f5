//! Error construction: every message names the problem and says how to fix it.

use darling::Error;
use proc_macro2::Span;

/// An error on `span` with a `help:` line.
pub fn error(span: Span, message: impl std::fmt::Display, help: impl std::fmt::Display) -> Error {
    Error::custom(format!("{message}\n\n= help: {help}")).with_span(&span)
}

/// "did you mean `x`?" for the closest candidate, if any is close enough.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`? "))
        .unwrap_or_default()
}

/// Whether any error was collected so far, keeping the errors (darling's own `checkpoint`
/// stops at the first error; here later checks still run, some of them conditionally).
pub fn checkpoint(errors: darling::error::Accumulator) -> (darling::error::Accumulator, bool) {
    match errors.checkpoint() {
        Ok(errors) => (errors, true),
        Err(found) => {
            let mut errors = Error::accumulator();
            errors.push(found);
            (errors, false)
        }
    }
}
