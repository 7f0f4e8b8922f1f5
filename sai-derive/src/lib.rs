//! Procedural macros for [sai](https://docs.rs/sai). Use them through `sai`, which re-exports
//! them: `#[derive(sai::Domain)]`, `#[derive(sai::Event)]` and `#[sai::machine]`.
//!
//! Each macro is a thin shim over a plain `expand(TokenStream2) -> TokenStream2` that parses,
//! validates (collecting every error, each on the offending token, with a hint), lowers to a
//! small model and generates code. On error the generated items are stubs, so a user sees the
//! real mistake rather than a cascade.

mod diagnostics;
mod domain;
mod event;
mod machine;
mod sql_ident;

use proc_macro::TokenStream;

/// Derives `sai::Domain` for a struct with named fields. See the `sai` crate documentation.
#[proc_macro_derive(Domain, attributes(domain))]
pub fn derive_domain(input: TokenStream) -> TokenStream {
    domain::expand(input.into()).into()
}

/// Derives `sai::Event` for a serde enum tagged `#[serde(tag = "type")]`.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    event::expand(input.into()).into()
}

/// Turns an enum of states into a `sai::Machine` with a static transition table.
#[proc_macro_attribute]
pub fn machine(args: TokenStream, input: TokenStream) -> TokenStream {
    machine::expand(args.into(), input.into()).into()
}
