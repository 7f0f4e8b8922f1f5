//! Procedural macros for [sai](https://docs.rs/sai). Use them through `sai`, which re-exports
//! them with their reference documentation: `#[derive(sai::Domain)]`, `#[derive(sai::Event)]`
//! and `#[sai::machine]`.
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

// Each macro's reference (attributes, generated items, compile errors, examples) is the
// rustdoc on its re-export in `sai/src/lib.rs`, where the examples run as doctests. Rustdoc
// appends the doc below to it, so it starts with an empty line.

///
/// Defined in `sai-derive`; use it as `sai::Domain`, whose documentation is the reference.
#[proc_macro_derive(Domain, attributes(domain))]
pub fn derive_domain(input: TokenStream) -> TokenStream {
    domain::expand(input.into()).into()
}

///
/// Defined in `sai-derive`; use it as `sai::Event`, whose documentation is the reference.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    event::expand(input.into()).into()
}

///
/// Defined in `sai-derive`; use it as `sai::machine`, whose documentation is the reference.
#[proc_macro_attribute]
pub fn machine(args: TokenStream, input: TokenStream) -> TokenStream {
    machine::expand(args.into(), input.into()).into()
}
