//! `#[derive(Event)]`: reads serde's tagging so that the type names are the wire tags.

use darling::FromVariant;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;

use crate::diagnostics::error;

#[derive(FromVariant)]
#[darling(attributes(event), forward_attrs(serde))]
struct VariantInput {
    ident: syn::Ident,
    fields: darling::ast::Fields<darling::util::Ignored>,
    attrs: Vec<syn::Attribute>,
    /// Payload version of this variant; 1 unless the payload changed shape.
    version: Option<darling::util::SpannedValue<u32>>,
    /// Turns a stored payload of an older version into the next one.
    upcast: Option<syn::Path>,
}

struct Variant {
    ident: syn::Ident,
    wire: String,
    version: u32,
    upcast: Option<syn::Path>,
}

pub fn expand(input: TokenStream) -> TokenStream {
    let input: syn::DeriveInput = match syn::parse2(input) {
        Ok(d) => d,
        Err(e) => return e.to_compile_error(),
    };
    match validate(&input) {
        Ok(variants) => generate(&input.ident, &variants),
        Err(e) => {
            let errors = e.write_errors();
            let stub = stub(&input);
            quote! { #errors #stub }
        }
    }
}

/// After an error: an `Event` impl that names the variants as written, so that a machine
/// over this enum sees no second error.
fn stub(input: &syn::DeriveInput) -> TokenStream {
    let syn::Data::Enum(data) = &input.data else {
        return TokenStream::new();
    };
    // serde rejects these too and then emits no impl, which the stub's supertraits need.
    let serde_fails = data
        .variants
        .iter()
        .any(|v| matches!(v.fields, syn::Fields::Unnamed(_)))
        || {
            let mut ignored = darling::Error::accumulator();
            let serde = serde_container(&input.attrs, &mut ignored);
            let parse_failed = ignored.finish().is_err();
            parse_failed
                || serde
                    .rename_all
                    .is_some_and(|(rule, _)| RenameRule::parse(&rule).is_none())
        };
    if serde_fails || !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let variants: Vec<Variant> = data
        .variants
        .iter()
        .map(|v| Variant {
            ident: v.ident.clone(),
            wire: v.ident.to_string(),
            version: 1,
            upcast: None,
        })
        .collect();
    generate(&input.ident, &variants)
}

/// serde's container attributes we depend on.
#[derive(Default)]
struct SerdeContainer {
    tag: Option<(String, Span)>,
    content: Option<Span>,
    untagged: Option<Span>,
    rename_all: Option<(String, Span)>,
}

fn serde_container(
    attrs: &[syn::Attribute],
    errors: &mut darling::error::Accumulator,
) -> SerdeContainer {
    let mut out = SerdeContainer::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("tag") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                out.tag = Some((lit.value(), lit.span()));
            } else if meta.path.is_ident("content") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                out.content = Some(lit.span());
            } else if meta.path.is_ident("untagged") {
                out.untagged = Some(meta.path.span());
            } else if meta.path.is_ident("rename_all") {
                if meta.input.peek(syn::token::Paren) {
                    return Err(meta.error(
                        "sai needs one wire name per event: use `rename_all = \"…\"`, not separate serialize/deserialize rules",
                    ));
                }
                let lit: syn::LitStr = meta.value()?.parse()?;
                out.rename_all = Some((lit.value(), lit.span()));
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _content;
                syn::parenthesized!(_content in meta.input);
            }
            Ok(())
        });
        if let Err(e) = parsed {
            errors.push(e.into());
        }
    }
    out
}

fn variant_rename(attrs: &[syn::Attribute]) -> syn::Result<Option<String>> {
    let mut rename = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                if meta.input.peek(syn::token::Paren) {
                    return Err(
                        meta.error("sai needs one wire name per event: use `rename = \"…\"`")
                    );
                }
                let lit: syn::LitStr = meta.value()?.parse()?;
                rename = Some(lit.value());
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _content;
                syn::parenthesized!(_content in meta.input);
            }
            Ok(())
        })?;
    }
    Ok(rename)
}

fn validate(input: &syn::DeriveInput) -> darling::Result<Vec<Variant>> {
    let mut errors = darling::Error::accumulator();
    let ident = &input.ident;
    let syn::Data::Enum(data) = &input.data else {
        return Err(error(
            ident.span(),
            "an event type must be an enum",
            format!(
                "write `enum {ident} {{ Create {{ title: String }}, Toggle }}`: one variant per event"
            ),
        ));
    };
    if !input.generics.params.is_empty() {
        errors.push(error(
            input.generics.span(),
            "an event enum cannot be generic",
            "events are stored and decoded by name; remove the type parameters",
        ));
    }
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("event")) {
        errors.push(error(
            attr.meta.span(),
            "`#[event(…)]` goes on a variant, not on the enum",
            "a version belongs to one event's payload: write `#[event(version = 2)]` above the variant whose fields changed",
        ));
    }
    let serde = serde_container(&input.attrs, &mut errors);
    if let Some(span) = serde.content {
        errors.push(error(
            span,
            format!("event enum `{ident}` is adjacently tagged"),
            "remove `content = …`: sai's wire form keeps the fields beside the tag, `{\"type\":\"CREATE\",\"title\":…}`, as XState events look",
        ));
    } else if let Some(span) = serde.untagged {
        errors.push(error(
            span,
            format!("event enum `{ident}` is untagged"),
            "replace `untagged` with `tag = \"type\"`: events are decoded by their `type`, `{\"type\":\"CREATE\",…}`",
        ));
    }
    match &serde.tag {
        Some((tag, _)) if tag == "type" => {}
        Some((tag, span)) => errors.push(error(
            *span,
            format!("events must be tagged with `type`, found `{tag}`"),
            "use `#[serde(tag = \"type\")]`: the wire form is `{\"type\":\"CREATE\",…}`, as XState events look",
        )),
        None if serde.untagged.is_some() => {}
        None => errors.push(error(
            ident.span(),
            format!("event enum `{ident}` is not internally tagged"),
            "add `#[serde(tag = \"type\", rename_all = \"SCREAMING_SNAKE_CASE\")]` so that events look like `{\"type\":\"CREATE\",…}`",
        )),
    }
    let rule = match &serde.rename_all {
        None => None,
        Some((rule, span)) => match RenameRule::parse(rule) {
            Some(r) => Some(r),
            None => {
                errors.push(error(
                    *span,
                    format!("unknown rename rule `{rule}`"),
                    "use one of serde's rules, e.g. \"SCREAMING_SNAKE_CASE\"",
                ));
                None
            }
        },
    };
    if data.variants.is_empty() {
        errors.push(error(
            ident.span(),
            format!("event enum `{ident}` has no variants"),
            "add one variant per event",
        ));
    }
    let mut variants: Vec<Variant> = Vec::new();
    for v in &data.variants {
        let Some(parsed) = errors.handle(VariantInput::from_variant(v)) else {
            continue;
        };
        if parsed.fields.style == darling::ast::Style::Tuple {
            errors.push(error(
                v.ident.span(),
                format!("event `{}` has unnamed fields", v.ident),
                format!(
                    "internally tagged events need named fields: `{} {{ title: String }}`",
                    v.ident
                ),
            ));
        }
        let wire = match errors.handle(variant_rename(&parsed.attrs).map_err(darling::Error::from))
        {
            Some(Some(name)) => name,
            _ => rule.map_or_else(
                || parsed.ident.to_string(),
                |r| r.apply(&parsed.ident.to_string()),
            ),
        };
        let version = match parsed.version {
            Some(v) if *v == 0 => {
                errors.push(error(
                    v.span(),
                    "event versions start at 1",
                    "use `#[event(version = 1)]` or leave it out",
                ));
                1
            }
            Some(v) => *v,
            None => 1,
        };
        // Only a variant past version 1 has older payloads to upcast.
        let upcast = match parsed.upcast {
            Some(path) if version == 1 => {
                errors.push(error(
                    path.span(),
                    format!("event `{}` is at version 1, so there is nothing to upcast", parsed.ident),
                    "raise the payload's version with the upcaster: `#[event(version = 2, upcast = …)]`",
                ));
                None
            }
            other => other,
        };
        if let Some(other) = variants.iter().find(|o| o.wire == wire) {
            errors.push(error(
                v.ident.span(),
                format!(
                    "events `{}` and `{}` share the wire name `{wire}`",
                    other.ident, v.ident
                ),
                "give one of them another name with `#[serde(rename = \"…\")]`",
            ));
        }
        variants.push(Variant {
            ident: parsed.ident,
            wire,
            version,
            upcast,
        });
    }
    errors.finish_with(variants)
}

fn generate(ident: &syn::Ident, variants: &[Variant]) -> TokenStream {
    let types = variants.iter().map(|v| &v.wire);
    let names = variants.iter().map(|v| v.ident.to_string());
    let versions = variants.iter().map(|v| v.version);
    let arms = variants.iter().enumerate().map(|(i, v)| {
        let vid = &v.ident;
        quote! { Self::#vid { .. } => #i }
    });
    let upcasts = variants.iter().enumerate().filter_map(|(i, v)| {
        let path = v.upcast.as_ref()?;
        // The annotated binding checks the upcaster's signature where the user named it.
        Some(quote::quote_spanned! {path.span()=>
            #i => {
                let upcast: fn(u32, ::sai::__private::JsonValue)
                    -> ::sai::__private::Result<::sai::__private::JsonValue, ::std::string::String> = #path;
                ::sai::__private::Some(upcast(from, payload))
            }
        })
    });
    quote! {
        const _: () = {
            #[automatically_derived]
            impl ::sai::Event for #ident {
                const TYPES: &'static [&'static str] = &[#(#types),*];
                const VARIANTS: &'static [&'static str] = &[#(#names),*];
                const VERSIONS: &'static [u32] = &[#(#versions),*];

                fn type_index(&self) -> usize {
                    match self { #(#arms),* }
                }

                #[allow(unused_variables)]
                fn upcast(
                    index: usize,
                    from: u32,
                    payload: ::sai::__private::JsonValue,
                ) -> ::sai::__private::Option<
                    ::sai::__private::Result<::sai::__private::JsonValue, ::std::string::String>,
                > {
                    match index {
                        #(#upcasts)*
                        _ => ::sai::__private::None,
                    }
                }
            }
        };
    }
}

/// serde's `rename_all` rules, applied to a PascalCase variant name.
#[derive(Clone, Copy)]
enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

impl RenameRule {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "lowercase" => Self::Lower,
            "UPPERCASE" => Self::Upper,
            "PascalCase" => Self::Pascal,
            "camelCase" => Self::Camel,
            "snake_case" => Self::Snake,
            "SCREAMING_SNAKE_CASE" => Self::ScreamingSnake,
            "kebab-case" => Self::Kebab,
            "SCREAMING-KEBAB-CASE" => Self::ScreamingKebab,
            _ => return None,
        })
    }

    fn apply(self, variant: &str) -> String {
        let snake = crate::sql_ident::snake_case(variant);
        match self {
            Self::Lower => variant.to_ascii_lowercase(),
            Self::Upper => variant.to_ascii_uppercase(),
            Self::Pascal => variant.to_owned(),
            Self::Camel => variant[..1].to_ascii_lowercase() + &variant[1..],
            Self::Snake => snake,
            Self::ScreamingSnake => snake.to_ascii_uppercase(),
            Self::Kebab => snake.replace('_', "-"),
            Self::ScreamingKebab => snake.replace('_', "-").to_ascii_uppercase(),
        }
    }
}
