//! Validation and lowering: the written states become a table of candidate groups.

use quote::ToTokens;
use syn::spanned::Spanned;

use super::parse::{OnInput, StateInput};
use crate::diagnostics::{checkpoint, did_you_mean, error};

pub struct State {
    pub ident: syn::Ident,
    pub is_final: bool,
}

/// A named guard or assign expression.
pub struct Named {
    pub name: String,
    pub expr: syn::Expr,
}

/// A guard of a candidate: `name` or `not(name)`, with the reason reported when it fails.
pub struct GuardSpec {
    pub name: String,
    pub expr: syn::Expr,
    pub negated: bool,
    pub reason: String,
}

impl GuardSpec {
    /// The guard as written, for comparing candidates: `not(f)` or `f`.
    fn text(&self) -> String {
        let expr = self.expr.to_token_stream().to_string();
        if self.negated {
            format!("not({expr})")
        } else {
            expr
        }
    }
}

/// One candidate transition.
pub struct Row {
    pub target: Option<usize>,
    /// All must pass.
    pub guards: Vec<GuardSpec>,
    pub assigns: Vec<Named>,
}

/// The candidates for one event in one state, in the order written.
pub struct Group {
    pub state: usize,
    pub event: syn::Ident,
    pub rows: Vec<Row>,
}

pub struct Model {
    pub states: Vec<State>,
    pub initial: usize,
    pub groups: Vec<Group>,
}

fn name_of(expr: &syn::Expr, what: &str) -> String {
    match expr {
        syn::Expr::Path(p) => p
            .path
            .segments
            .last()
            .map_or_else(|| what.to_owned(), |s| s.ident.to_string()),
        other => {
            let text = other.to_token_stream().to_string();
            if text.len() <= 40 {
                text
            } else {
                format!("inline {what}")
            }
        }
    }
}

pub fn lower(
    machine: &syn::Ident,
    inputs: Vec<StateInput>,
    parsed_cleanly: bool,
) -> darling::Result<Model> {
    let mut errors = darling::Error::accumulator();
    let names: Vec<String> = inputs.iter().map(|s| s.ident.to_string()).collect();
    let index_of = |ident: &syn::Ident| names.iter().position(|n| ident == n);

    let initials: Vec<usize> = (0..inputs.len())
        .filter(|&i| inputs[i].initial.is_some())
        .collect();
    match initials.as_slice() {
        [] if !inputs.is_empty() => errors.push(error(
            machine.span(),
            format!("machine `{machine}` has no initial state"),
            format!(
                "mark the state an entity starts in with `#[initial]`, e.g. on `{}`",
                names[0]
            ),
        )),
        [] => errors.push(error(
            machine.span(),
            format!("machine `{machine}` has no states"),
            "add one variant per state",
        )),
        [_] => {}
        [first, rest @ ..] => {
            for &i in rest {
                errors.push(error(
                    inputs[i].initial.expect("filtered on initial"),
                    format!("`{}` is marked `#[initial]`, but so is `{}`", names[i], names[*first]),
                    "a machine has exactly one initial state; remove one of the `#[initial]` attributes",
                ));
            }
        }
    }

    for state in &inputs {
        if let (Some(_), Some(final_span)) = (state.initial, state.final_state) {
            errors.push(error(
                final_span,
                format!("state `{}` is both `#[initial]` and `#[final_state]`", state.ident),
                "an entity would start finished and accept no event; remove `#[final_state]`, or mark another state `#[initial]`",
            ));
        }
    }

    let mut groups: Vec<Group> = Vec::new();
    for (si, state) in inputs.iter().enumerate() {
        if state.final_state.is_some() {
            for on in &state.on {
                errors.push(error(
                    on.span,
                    format!("final state `{}` cannot have transitions", names[si]),
                    "an entity in a final state accepts no more events; remove this `#[on(…)]` or `#[final_state]`",
                ));
            }
            continue;
        }
        let first_group = groups.len();
        for on in &state.on {
            let Some(row) = errors.handle(lower_row(on, &names, &index_of)) else {
                continue;
            };
            let existing = groups[first_group..]
                .iter_mut()
                .find(|g| g.event == on.event);
            match existing {
                Some(group) => {
                    // An earlier candidate whose guards are all among this one's passes
                    // whenever this one would, and wins: this one can never be taken.
                    let texts: Vec<String> = row.guards.iter().map(GuardSpec::text).collect();
                    let shadowing = group.rows.iter().find(|earlier| {
                        !earlier.guards.is_empty()
                            && earlier.guards.iter().all(|g| texts.contains(&g.text()))
                    });
                    if let Some(earlier) = shadowing {
                        let checks = earlier
                            .guards
                            .iter()
                            .map(GuardSpec::text)
                            .collect::<Vec<_>>()
                            .join("`, `");
                        errors.push(error(
                            on.guards.first().map_or(on.event.span(), |g| g.expr.span()),
                            format!("this `{}` transition in `{}` can never be taken", on.event, names[si]),
                            format!(
                                "an earlier `{}` transition in this state checks `{checks}`, which this one checks too: whenever this one's guards pass, so do that one's, and it wins; remove this transition or change its guards",
                                on.event
                            ),
                        ));
                    } else if group.rows.iter().any(|r| r.guards.is_empty()) {
                        errors.push(error(
                            on.event.span(),
                            format!("this `{}` transition in `{}` can never be taken", on.event, names[si]),
                            format!(
                                "an earlier `{}` transition in this state has no guard and always wins; give it a guard or remove this one",
                                on.event
                            ),
                        ));
                    }
                    group.rows.push(row);
                }
                None => groups.push(Group {
                    state: si,
                    event: on.event.clone(),
                    rows: vec![row],
                }),
            }
        }
    }

    // Reachability is only meaningful once every transition resolved; otherwise it would
    // repeat an error already reported as "unreachable state".
    let (mut errors, clean) = checkpoint(errors);
    if let ([initial], true) = (initials.as_slice(), clean && parsed_cleanly) {
        let mut reached = vec![false; inputs.len()];
        let mut stack = vec![*initial];
        reached[*initial] = true;
        while let Some(s) = stack.pop() {
            for g in groups.iter().filter(|g| g.state == s) {
                for t in g.rows.iter().filter_map(|r| r.target) {
                    if !reached[t] {
                        reached[t] = true;
                        stack.push(t);
                    }
                }
            }
        }
        for (i, r) in reached.iter().enumerate() {
            if !r {
                errors.push(error(
                    inputs[i].ident.span(),
                    format!("state `{}` is unreachable from the initial state `{}`", names[i], names[*initial]),
                    format!("add a transition into `{}` (e.g. `#[on(Event => {})]` on another state), or remove it", names[i], names[i]),
                ));
            }
        }
    }

    errors.finish_with(Model {
        states: inputs
            .iter()
            .map(|s| State {
                ident: s.ident.clone(),
                is_final: s.final_state.is_some(),
            })
            .collect(),
        initial: initials.first().copied().unwrap_or(0),
        groups,
    })
}

fn lower_row(
    on: &OnInput,
    names: &[String],
    index_of: &impl Fn(&syn::Ident) -> Option<usize>,
) -> darling::Result<Row> {
    let target = match &on.target {
        None => None,
        Some(t) => match index_of(t) {
            Some(i) => Some(i),
            None => {
                return Err(error(
                    t.span(),
                    format!("unknown target state `{t}`"),
                    format!(
                        "{}the states are `{}`",
                        did_you_mean(&t.to_string(), names.iter().map(String::as_str)),
                        names.join("`, `")
                    ),
                ));
            }
        },
    };
    let guards = on
        .guards
        .iter()
        .map(|g| {
            let name = name_of(&g.expr, "guard");
            let written = if g.negated {
                format!("not({name})")
            } else {
                name.clone()
            };
            GuardSpec {
                reason: g
                    .reason
                    .as_ref()
                    .map_or_else(|| format!("guard `{written}` failed"), syn::LitStr::value),
                name,
                expr: g.expr.clone(),
                negated: g.negated,
            }
        })
        .collect();
    Ok(Row {
        target,
        guards,
        assigns: on
            .assigns
            .iter()
            .map(|a| Named {
                name: name_of(a, "assign"),
                expr: a.clone(),
            })
            .collect(),
    })
}
