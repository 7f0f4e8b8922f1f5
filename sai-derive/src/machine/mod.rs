//! `#[machine]`: parse → validate → lower → generate.

mod model;
mod parse;

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::diagnostics::{checkpoint, error};
use model::Model;
use parse::MachineArgs;

pub fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut item: syn::ItemEnum = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(_) => {
            let span = syn::parse2::<syn::Item>(input).map_or_else(|e| e.span(), |i| i.span());
            return error(span, "`#[machine]` goes on an enum of states", "write `#[machine(domain = Todo, event = TodoEvent)] enum TodoMachine { Idle, Active }`")
                .write_errors();
        }
    };
    let mut errors = darling::Error::accumulator();
    let args = MachineArgs::parse(args, &mut errors);
    if args.domain.is_none() && !args.unknown_key {
        errors.push(error(
            proc_macro2::Span::call_site(),
            "missing `domain = …` in `#[machine(…)]`",
            "name the `#[derive(Domain)]` struct this machine changes: `#[machine(domain = Todo, event = TodoEvent)]`",
        ));
    }
    if args.event.is_none() && !args.unknown_key {
        errors.push(error(
            proc_macro2::Span::call_site(),
            "missing `event = …` in `#[machine(…)]`",
            "name the `#[derive(Event)]` enum this machine consumes: `#[machine(domain = Todo, event = TodoEvent)]`",
        ));
    }
    if !item.generics.params.is_empty() {
        errors.push(error(
            item.generics.span(),
            "a machine cannot be generic",
            "remove the type parameters",
        ));
    }
    let states: Vec<_> = item
        .variants
        .iter_mut()
        .map(|v| parse::take_state(v, &mut errors))
        .collect();
    let events: Vec<syn::Ident> = states
        .iter()
        .flat_map(|s| s.on.iter().map(|o| o.event.clone()))
        .collect();
    // Parse errors hide transitions, so the reachability check would report false positives.
    let (mut errors, parsed_cleanly) = checkpoint(errors);
    let model = errors.handle(model::lower(&item.ident, states, parsed_cleanly));
    let errors = errors.finish().err().map(|e| e.write_errors());
    match (args, model, errors) {
        (
            MachineArgs {
                domain: Some(domain),
                event: Some(event),
                ..
            },
            Some(model),
            None,
        ) => {
            let generated = generate(&item, &domain, &event, &model);
            quote! { #item #generated }
        }
        (
            MachineArgs {
                domain: Some(domain),
                event,
                ..
            },
            _,
            errors,
        ) => {
            let stub = stub(&item, &domain, event.as_ref(), &events);
            quote! { #errors #item #stub }
        }
        (_, _, errors) => quote! { #errors #item },
    }
}

fn generate(
    item: &syn::ItemEnum,
    domain: &syn::Type,
    event: &syn::Path,
    model: &Model,
) -> TokenStream {
    let ident = &item.ident;
    let all_ids: Vec<_> = model.states.iter().map(|s| &s.ident).collect();
    let paths: Vec<&str> = model.states.iter().map(|s| s.path.as_str()).collect();
    // The values an entity can be in: the atomic states (a compound one is never current).
    let state_ids: Vec<_> = model
        .states
        .iter()
        .enumerate()
        .filter(|(i, _)| !model.states.iter().any(|c| c.parent == Some(*i)))
        .map(|(_, s)| &s.ident)
        .collect();
    let link = |pick: &dyn Fn(&model::State) -> Option<usize>, method: TokenStream| {
        let arms: Vec<TokenStream> = model
            .states
            .iter()
            .filter_map(|s| {
                let other = &model.states[pick(s)?].ident;
                let state = &s.ident;
                Some(quote! { Self::#state => ::sai::__private::Some(Self::#other), })
            })
            .collect();
        if arms.is_empty() {
            TokenStream::new()
        } else {
            quote! {
                #[allow(unreachable_patterns)]
                fn #method(self) -> ::sai::__private::Option<Self> {
                    match self { #(#arms)* _ => ::sai::__private::None }
                }
            }
        }
    };
    let hierarchy = [
        link(&|s| s.parent, quote! { parent }),
        link(&|s| s.initial_child, quote! { initial_child }),
    ];
    let finals: Vec<_> = model
        .states
        .iter()
        .filter(|s| s.is_final)
        .map(|s| &s.ident)
        .collect();
    let is_final = if finals.is_empty() {
        quote! { false }
    } else {
        quote! { ::core::matches!(self, #(Self::#finals)|*) }
    };
    let initial = &model.states[model.initial].ident;
    let name = ident.to_string();

    let mut rows = Vec::new();
    let mut always_rows = Vec::new();
    let mut arms = Vec::new();
    for group in &model.groups {
        let from = &model.states[group.state].ident;
        let event_variant = &group.event;
        let event_name = event_variant.to_string();
        let event_type = if group.always {
            quote! { "" }
        } else {
            quote! { ::sai::__private::type_of_variant::<#ident>(#event_name) }
        };
        let rows = if group.always {
            &mut always_rows
        } else {
            &mut rows
        };
        let start = rows.len();
        for row in &group.rows {
            let target = match row.target {
                Some(t) => {
                    let t = &model.states[t].ident;
                    quote! { ::sai::__private::Some(#ident::#t) }
                }
                None => quote! { ::sai::__private::None },
            };
            let guards = row.guards.iter().map(|g| {
                let (gname, expr, reason) = (&g.name, &g.expr, &g.reason);
                let (negated, server_only) = (g.negated, g.server_only);
                let check = quote_spanned! {expr.span()=> #expr };
                quote! {
                    ::sai::Guard {
                        name: #gname,
                        reason: #reason,
                        negated: #negated,
                        server_only: #server_only,
                        check: #check,
                    }
                }
            });
            let assigns = row.assigns.iter().map(|a| {
                let (aname, expr) = (&a.name, &a.expr);
                let apply = quote_spanned! {expr.span()=> #expr };
                quote! { ::sai::Assign { name: #aname, apply: #apply } }
            });
            rows.push(quote! {
                ::sai::Transition {
                    from: #ident::#from,
                    event: #event_type,
                    guards: &[#(#guards),*],
                    target: #target,
                    assigns: &[#(#assigns),*],
                }
            });
        }
        let end = rows.len();
        if group.always {
            continue;
        }
        let pattern = quote_spanned! {event_variant.span()=> #event::#event_variant { .. } };
        arms.push(quote! { (Self::#from, #pattern) => &TABLE[#start..#end], });
    }

    let actions = |which: &dyn Fn(&model::State) -> &Vec<model::Named>| {
        let arms: Vec<TokenStream> = model
            .states
            .iter()
            .filter(|s| !which(s).is_empty())
            .map(|s| {
                let state = &s.ident;
                let list = which(s).iter().map(|a| {
                    let (aname, expr) = (&a.name, &a.expr);
                    let apply = quote_spanned! {expr.span()=> #expr };
                    quote! { ::sai::Assign { name: #aname, apply: #apply } }
                });
                quote! { Self::#state => &[#(#list),*], }
            })
            .collect();
        (!arms.is_empty()).then(|| quote! { match self { #(#arms)* _ => &[] } })
    };
    let mut entry_exit = TokenStream::new();
    if let Some(body) = actions(&|s| &s.entry) {
        entry_exit.extend(quote! {
            #[allow(unreachable_patterns)]
            fn entry(self) -> &'static [::sai::Assign<#domain, #event>] { #body }
        });
    }
    if let Some(body) = actions(&|s| &s.exit) {
        entry_exit.extend(quote! {
            #[allow(unreachable_patterns)]
            fn exit(self) -> &'static [::sai::Assign<#domain, #event>] { #body }
        });
    }

    // The table is a free constant rather than `<Self as Machine>::TRANSITIONS`: a path to the
    // trait's items would repeat the missing-derive error once per use.
    quote! {
        const _: () = {
            const TABLE: &[::sai::Transition<#ident>] = &[#(#rows),*];

            #[automatically_derived]
            impl ::sai::Machine for #ident {
                type Domain = #domain;
                type Event = #event;

                const NAME: &'static str = #name;
                const INITIAL: Self = Self::#initial;
                const STATES: &'static [Self] = &[#(Self::#state_ids),*];
                const TRANSITIONS: &'static [::sai::Transition<Self>] = TABLE;
                const ALWAYS: &'static [::sai::Transition<Self>] = &[#(#always_rows),*];

                #entry_exit
                #(#hierarchy)*

                fn name(self) -> &'static str {
                    match self { #(Self::#all_ids => #paths),* }
                }

                fn is_final(self) -> bool {
                    #is_final
                }

                #[allow(unreachable_patterns)]
                fn candidates(self, event: &#event) -> &'static [::sai::Transition<Self>] {
                    match (self, event) {
                        #(#arms)*
                        _ => &[],
                    }
                }
            }
        };
    }
}

/// After an error: an empty machine, so that code using the type sees no second error.
/// The event variants are still checked, so that misspelt events show up in the same pass.
fn stub(
    item: &syn::ItemEnum,
    domain: &syn::Type,
    event: Option<&syn::Path>,
    events: &[syn::Ident],
) -> TokenStream {
    let ident = &item.ident;
    // Only unit variants can be named as values; a data-carrying one is already reported.
    let units: Vec<&syn::Ident> = item
        .variants
        .iter()
        .filter(|v| matches!(v.fields, syn::Fields::Unit))
        .map(|v| &v.ident)
        .collect();
    let initial = match units.first() {
        Some(v) => quote! { Self::#v },
        None => quote! { ::core::panic!("a machine with no states has no initial state") },
    };
    let (event, check) = match event {
        Some(event) => {
            let checks = events
                .iter()
                .map(|e| quote_spanned! {e.span()=> #event::#e { .. } => {} });
            let check = quote! {
                #[allow(unreachable_patterns, dead_code)]
                fn check_events(event: &#event) {
                    match event { #(#checks)* _ => {} }
                }
            };
            (quote! { #event }, check)
        }
        None => (quote! { ::sai::__private::NoEvent }, TokenStream::new()),
    };
    let state_ids = units.iter();
    quote! {
        const _: () = {
            #check
            #[automatically_derived]
            impl ::sai::Machine for #ident {
                type Domain = #domain;
                type Event = #event;
                const NAME: &'static str = "";
                const INITIAL: Self = #initial;
                const STATES: &'static [Self] = &[];
                const TRANSITIONS: &'static [::sai::Transition<Self>] = &[];
                fn name(self) -> &'static str { "" }
                fn is_final(self) -> bool { false }
                fn candidates(self, _: &#event) -> &'static [::sai::Transition<Self>] {
                    let _: &[Self] = &[#(Self::#state_ids),*];
                    &[]
                }
            }
        };
    }
}
