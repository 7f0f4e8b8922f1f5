//! Parsing `#[machine(…)]` and the state attributes `#[initial]`, `#[final_state]`, `#[on(…)]`.

use darling::FromMeta;
use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Token, bracketed};

use crate::diagnostics::error;

/// `#[machine(domain = Todo, event = TodoEvent)]`, both optional here so that a missing one
/// is reported with a hint and the other can still serve the fallback.
#[derive(FromMeta)]
pub struct MachineArgs {
    /// The `#[derive(Domain)]` struct the machine changes.
    pub domain: Option<syn::Type>,
    /// The `#[derive(Event)]` enum the machine consumes.
    pub event: Option<syn::Path>,
}

/// One state (an enum variant) as written.
pub struct StateInput {
    pub ident: syn::Ident,
    pub initial: Option<Span>,
    pub final_state: Option<Span>,
    pub on: Vec<OnInput>,
}

/// `#[on(Event => Target, guard = g, reason = "…", assign = a)]`.
pub struct OnInput {
    pub span: Span,
    pub event: syn::Ident,
    pub target: Option<syn::Ident>,
    pub guard: Option<syn::Expr>,
    pub reason: Option<syn::LitStr>,
    pub assigns: Vec<syn::Expr>,
}

impl Parse for OnInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let span = input.span();
        let event: syn::Ident = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected an event variant\n\n= help: write `#[on(Create => Active)]`, or `#[on(Rename)]` for a targetless transition",
            )
        })?;
        let target = if input.peek(Token![=>]) {
            input.parse::<Token![=>]>()?;
            Some(
                input
                    .parse::<syn::Ident>()
                    .map_err(|e| syn::Error::new(e.span(), "expected a target state after `=>`"))?,
            )
        } else {
            None
        };
        let mut on = OnInput {
            span,
            event,
            target,
            guard: None,
            reason: None,
            assigns: Vec::new(),
        };
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: syn::Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            match key.to_string().as_str() {
                "guard" if on.guard.is_some() => {
                    return Err(syn::Error::new(
                        key.span(),
                        "a transition has at most one guard\n\n= help: combine the checks in one function, or write two `#[on(…)]` candidates",
                    ));
                }
                "guard" => on.guard = Some(input.parse()?),
                "reason" => on.reason = Some(input.parse()?),
                "assign" if input.peek(syn::token::Bracket) => {
                    let content;
                    bracketed!(content in input);
                    let list = content.parse_terminated(syn::Expr::parse, Token![,])?;
                    on.assigns.extend(list);
                }
                "assign" => on.assigns.push(input.parse()?),
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown key `{other}` in `#[on(…)]`\n\n= help: the keys are `guard`, `reason` and `assign`"
                        ),
                    ));
                }
            }
        }
        if on.reason.is_some() && on.guard.is_none() {
            return Err(syn::Error::new(
                on.reason.span(),
                "`reason` explains a failing guard, but this transition has none\n\n= help: add `guard = …` or remove `reason`",
            ));
        }
        Ok(on)
    }
}

/// Reads the sai attributes off a variant and removes them, leaving the user's own.
pub fn take_state(
    variant: &mut syn::Variant,
    errors: &mut darling::error::Accumulator,
) -> StateInput {
    let mut state = StateInput {
        ident: variant.ident.clone(),
        initial: None,
        final_state: None,
        on: Vec::new(),
    };
    if !matches!(variant.fields, syn::Fields::Unit) {
        errors.push(error(
            variant.fields.span(),
            format!("state `{}` carries data", variant.ident),
            "states are plain names; keep entity data in the domain struct's fields",
        ));
    }
    variant.attrs.retain(|attr| {
        let path = attr.path();
        if path.is_ident("initial") {
            if let Err(e) = attr.meta.require_path_only() {
                errors.push(e.into());
            }
            state.initial = Some(attr.meta.span());
        } else if path.is_ident("final_state") {
            if let Err(e) = attr.meta.require_path_only() {
                errors.push(e.into());
            }
            state.final_state = Some(attr.meta.span());
        } else if path.is_ident("on") {
            match attr.parse_args::<OnInput>() {
                Ok(on) => state.on.push(on),
                Err(e) => errors.push(e.into()),
            }
        } else {
            return true;
        }
        false
    });
    state
}
