//! Parsing `#[machine(…)]` and the state attributes `#[initial]`, `#[final_state]`, `#[on(…)]`.

use proc_macro2::Span;
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Token, bracketed};

use crate::diagnostics::{did_you_mean, error};

/// The keys `#[on(…)]` accepts after its event and target.
const ON_KEYS: [&str; 4] = ["guard", "server_guard", "reason", "assign"];

/// `first::rest::…`, with `first` already read: for a hint about a qualified name.
fn parse_rest_of_path(first: syn::Ident, input: ParseStream<'_>) -> syn::Result<syn::Path> {
    let mut path = syn::Path::from(first);
    while input.peek(Token![::]) {
        path.segments.push_punct(input.parse()?);
        path.segments
            .push_value(syn::PathSegment::from(input.parse::<syn::Ident>()?));
    }
    Ok(path)
}

/// `#[machine(domain = Todo, event = TodoEvent)]`, both optional here so that a missing one
/// is reported with a hint and the other can still serve the fallback.
#[derive(Default)]
pub struct MachineArgs {
    /// The `#[derive(Domain)]` struct the machine changes.
    pub domain: Option<syn::Type>,
    /// The `#[derive(Event)]` enum the machine consumes.
    pub event: Option<syn::Path>,
    /// Whether a key was misspelt or unknown: then a missing key is most likely that one, and
    /// is not reported a second time.
    pub unknown_key: bool,
}

/// The keys `#[machine(…)]` accepts.
const MACHINE_KEYS: [&str; 2] = ["domain", "event"];

impl MachineArgs {
    /// Reads the keys one by one, so that one bad key does not discard the good ones.
    pub fn parse(args: proc_macro2::TokenStream, errors: &mut darling::error::Accumulator) -> Self {
        let mut out = Self::default();
        let list = match darling::ast::NestedMeta::parse_meta_list(args) {
            Ok(list) => list,
            Err(e) => {
                errors.push(error(
                    e.span(),
                    e,
                    "write `#[machine(domain = Todo, event = TodoEvent)]`",
                ));
                out.unknown_key = true;
                return out;
            }
        };
        for item in list {
            let darling::ast::NestedMeta::Meta(syn::Meta::NameValue(nv)) = &item else {
                errors.push(error(
                    item.span(),
                    "expected `key = value` in `#[machine(…)]`",
                    "write `#[machine(domain = Todo, event = TodoEvent)]`",
                ));
                out.unknown_key = true;
                continue;
            };
            let key = nv
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let value = nv.value.to_token_stream();
            match key.as_str() {
                "domain" => match syn::parse2(value) {
                    Ok(ty) => out.domain = Some(ty),
                    Err(e) => errors.push(error(
                        e.span(),
                        "expected the domain type",
                        "write `domain = Todo`",
                    )),
                },
                "event" => match syn::parse2(value) {
                    Ok(path) => out.event = Some(path),
                    Err(e) => errors.push(error(
                        e.span(),
                        "expected the event enum's path",
                        "write `event = TodoEvent`",
                    )),
                },
                _ => {
                    out.unknown_key = true;
                    errors.push(error(
                        nv.path.span(),
                        format!("unknown key `{}` in `#[machine(…)]`", nv.path.to_token_stream()),
                        format!(
                            "{}the keys are `domain` and `event`: `#[machine(domain = Todo, event = TodoEvent)]`",
                            did_you_mean(&key, MACHINE_KEYS)
                        ),
                    ));
                }
            }
        }
        out
    }
}

/// One state (an enum variant) as written.
pub struct StateInput {
    pub ident: syn::Ident,
    pub initial: Option<Span>,
    pub final_state: Option<Span>,
    /// `#[parent(P)]`: the compound state this one is a child of.
    pub parent: Option<syn::Ident>,
    pub on: Vec<OnInput>,
    /// `#[always(…)]` transitions, in written order.
    pub always: Vec<OnInput>,
    /// `#[entry(a, b)]` actions, and where the first `#[entry]` was written.
    pub entry: Vec<syn::Expr>,
    pub entry_span: Option<Span>,
    /// `#[exit(a, b)]` actions.
    pub exit: Vec<syn::Expr>,
}

/// `#[on(Event => Target, guard = g, reason = "…", guard = not(h), assign = a)]`.
pub struct OnInput {
    pub span: Span,
    pub event: syn::Ident,
    pub target: Option<syn::Ident>,
    /// Every guard in written order; all must pass.
    pub guards: Vec<GuardInput>,
    pub assigns: Vec<syn::Expr>,
    /// An eventless `#[always(…)]` transition (its `event` is a placeholder).
    pub always: bool,
}

/// One guard: `f` or `not(f)`, with the `reason = "…"` written after it.
pub struct GuardInput {
    pub expr: syn::Expr,
    pub negated: bool,
    /// Written `server_guard = …`: checked by the server only.
    pub server_only: bool,
    pub reason: Option<syn::LitStr>,
}

impl GuardInput {
    /// `not(f)` becomes `f` negated; anything else is the check itself.
    fn from_expr(expr: syn::Expr) -> Self {
        if let syn::Expr::Call(call) = &expr
            && call.args.len() == 1
            && matches!(&*call.func, syn::Expr::Path(p) if p.path.is_ident("not"))
        {
            return Self {
                expr: call.args[0].clone(),
                negated: true,
                server_only: false,
                reason: None,
            };
        }
        Self {
            expr,
            negated: false,
            server_only: false,
            reason: None,
        }
    }
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
        if input.peek(Token![::]) {
            let path: syn::Path = parse_rest_of_path(event.clone(), input)?;
            let variant = path.segments.last().map(|s| s.ident.clone());
            return Err(syn::Error::new_spanned(
                &path,
                format!(
                    "write the event variant alone, without its enum\n\n= help: `#[machine(event = …)]` names the enum already: write `{}`",
                    variant.map_or_else(String::new, |v| v.to_string())
                ),
            ));
        }
        if input.peek(Token![->]) {
            let arrow = input.parse::<Token![->]>()?;
            return Err(syn::Error::new(
                arrow.span(),
                "expected `=>` between the event and its target\n\n= help: write `#[on(Open => Opened)]`, with a fat arrow `=>`",
            ));
        }
        let target = if input.peek(Token![=>]) {
            input.parse::<Token![=>]>()?;
            let target = input
                .parse::<syn::Ident>()
                .map_err(|e| syn::Error::new(e.span(), "expected a target state after `=>`\n\n= help: write the state's variant name, e.g. `#[on(Open => Opened)]`"))?;
            if input.peek(Token![::]) {
                let path = parse_rest_of_path(target, input)?;
                let state = path.segments.last().map(|s| s.ident.to_string());
                return Err(syn::Error::new_spanned(
                    &path,
                    format!(
                        "write the target state alone, without its enum\n\n= help: states are variants of this enum: write `{}`",
                        state.unwrap_or_default()
                    ),
                ));
            }
            Some(target)
        } else {
            None
        };
        let mut on = OnInput {
            span,
            event,
            target,
            guards: Vec::new(),
            assigns: Vec::new(),
            always: false,
        };
        parse_keys(input, &mut on, true)?;
        Ok(on)
    }
}

/// `#[always(Target, guard = g, assign = a)]`, or without `Target` for a targetless one.
pub fn parse_always(input: ParseStream<'_>) -> syn::Result<OnInput> {
    let span = input.span();
    let target = if input.peek(syn::Ident) && !input.peek2(Token![=]) {
        let target: syn::Ident = input.parse()?;
        if input.peek(Token![::]) {
            let path = parse_rest_of_path(target, input)?;
            let state = path.segments.last().map(|s| s.ident.to_string());
            return Err(syn::Error::new_spanned(
                &path,
                format!(
                    "write the target state alone, without its enum\n\n= help: states are variants of this enum: write `{}`",
                    state.unwrap_or_default()
                ),
            ));
        }
        Some(target)
    } else {
        None
    };
    let has_target = target.is_some();
    let mut on = OnInput {
        span,
        event: syn::Ident::new("always", span),
        target,
        guards: Vec::new(),
        assigns: Vec::new(),
        always: true,
    };
    parse_keys(input, &mut on, has_target)?;
    Ok(on)
}

/// The `key = value` pairs after an `#[on(…)]` event and target, or in `#[always(…)]`.
fn parse_keys(input: ParseStream<'_>, on: &mut OnInput, comma_first: bool) -> syn::Result<()> {
    let mut comma_first = comma_first;
    // How many guards the last `guard = …` key wrote: a `reason` explains exactly one.
    let mut last_guards = 0;
    let mut last_key: Option<String> = None;
    while !input.is_empty() {
        if comma_first {
            input.parse::<Token![,]>().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected `,` before the next key\n\n= help: write `#[on(Event => Target, guard = g, reason = \"…\", assign = [a, b])]`",
                )
            })?;
        }
        comma_first = true;
        if input.is_empty() {
            break;
        }
        let key: syn::Ident = input.parse()?;
        if !input.peek(Token![=]) {
            let help = if last_key.as_deref() == Some("assign") {
                format!("several assigns go in brackets: `assign = [first, {key}]`")
            } else {
                "the keys are `guard`, `server_guard`, `reason` and `assign`, each written `key = value`".to_owned()
            };
            return Err(syn::Error::new(
                key.span(),
                format!("expected `key = value`, found `{key}`\n\n= help: {help}"),
            ));
        }
        input.parse::<Token![=]>()?;
        last_key = Some(key.to_string());
        if matches!(
            key.to_string().as_str(),
            "guard" | "server_guard" | "assign"
        ) && input.peek(syn::LitStr)
        {
            let lit: syn::LitStr = input.parse()?;
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "`{key}` takes a function, not a string\n\n= help: drop the quotes: `{key} = {}`",
                    lit.value()
                ),
            ));
        }
        match key.to_string().as_str() {
            "server_guard" if on.always => {
                return Err(syn::Error::new(
                    key.span(),
                    "an `always` transition cannot have a `server_guard`\n\n= help: client and server would take different eventless paths; use `guard = …`",
                ));
            }
            "server_guard" => {
                last_guards = 1;
                let mut guard = GuardInput::from_expr(input.parse()?);
                guard.server_only = true;
                on.guards.push(guard);
            }
            "guard" if input.peek(syn::token::Bracket) => {
                let content;
                bracketed!(content in input);
                let list = content.parse_terminated(syn::Expr::parse, Token![,])?;
                last_guards = list.len();
                on.guards
                    .extend(list.into_iter().map(GuardInput::from_expr));
            }
            "guard" => {
                last_guards = 1;
                on.guards.push(GuardInput::from_expr(input.parse()?));
            }
            "reason" if on.always => {
                let reason: syn::LitStr = input.parse()?;
                return Err(syn::Error::new(
                    reason.span(),
                    "an `always` transition has no `reason`: when its guards fail it is simply not taken\n\n= help: remove `reason = …`",
                ));
            }
            "reason" => {
                let reason: syn::LitStr = input.parse()?;
                let help = match (last_guards, on.guards.last()) {
                    (_, None) => Some(
                        "`reason` explains a failing guard, but this transition has none\n\n= help: add `guard = …` before it, or remove `reason`",
                    ),
                    (1, Some(g)) if g.reason.is_some() => Some(
                        "this guard has a reason already\n\n= help: write one `reason = \"…\"` after each `guard = …`",
                    ),
                    (1, Some(_)) => None,
                    _ => Some(
                        "`reason` explains one guard, but the `guard = […]` before it lists several\n\n= help: write them as pairs: `guard = a, reason = \"…\", guard = b, reason = \"…\"`",
                    ),
                };
                if let Some(message) = help {
                    return Err(syn::Error::new(reason.span(), message));
                }
                if let Some(g) = on.guards.last_mut() {
                    g.reason = Some(reason);
                }
            }
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
                        "unknown key `{other}` in `#[on(…)]`\n\n= help: {}the keys are `guard`, `server_guard`, `reason` and `assign`",
                        did_you_mean(other, ON_KEYS)
                    ),
                ));
            }
        }
    }
    Ok(())
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
        parent: None,
        on: Vec::new(),
        always: Vec::new(),
        entry: Vec::new(),
        entry_span: None,
        exit: Vec::new(),
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
        } else if path.is_ident("parent") {
            match attr.parse_args::<syn::Ident>() {
                Ok(p) => state.parent = Some(p),
                Err(_) => errors.push(error(
                    attr.meta.span(),
                    "expected one state name in `#[parent(…)]`",
                    "write `#[parent(Active)]`: the compound state this state is a child of",
                )),
            }
        } else if path.is_ident("always") {
            match attr.parse_args_with(parse_always) {
                Ok(on) => state.always.push(on),
                Err(e) => errors.push(e.into()),
            }
        } else if path.is_ident("entry") || path.is_ident("exit") {
            let list = attr.parse_args_with(|input: ParseStream<'_>| {
                if input.peek(syn::LitStr) {
                    let lit: syn::LitStr = input.parse()?;
                    return Err(syn::Error::new(
                        lit.span(),
                        format!(
                            "actions are functions, not strings\n\n= help: drop the quotes: `{}`",
                            lit.value()
                        ),
                    ));
                }
                input.parse_terminated(syn::Expr::parse, Token![,])
            });
            match list {
                Ok(list) if path.is_ident("entry") => {
                    state.entry_span.get_or_insert(attr.meta.span());
                    state.entry.extend(list);
                }
                Ok(list) => state.exit.extend(list),
                Err(e) => errors.push(e.into()),
            }
        } else {
            return true;
        }
        false
    });
    state
}
