//! Validation and lowering: the written states become a table of candidate groups.

use quote::ToTokens;
use syn::spanned::Spanned;

use super::parse::{OnInput, StateInput};
use crate::diagnostics::{checkpoint, did_you_mean, error};

pub struct State {
    pub ident: syn::Ident,
    /// The stored name: the path from the top-level state, `Parent.Child`.
    pub path: String,
    pub is_final: bool,
    pub parent: Option<usize>,
    pub initial_child: Option<usize>,
    /// `#[entry(…)]` and `#[exit(…)]` actions, in written order.
    pub entry: Vec<Named>,
    pub exit: Vec<Named>,
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
    pub server_only: bool,
    pub reason: String,
}

impl GuardSpec {
    /// The guard as written, for comparing candidates: `not(f)` or `f`.
    fn text(&self) -> String {
        let expr = self.expr.to_token_stream().to_string();
        let expr = if self.negated {
            format!("not({expr})")
        } else {
            expr
        };
        if self.server_only {
            format!("server_guard = {expr}")
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
    /// The state's eventless `#[always(…)]` candidates (`event` is a placeholder).
    pub always: bool,
    pub rows: Vec<Row>,
}

pub struct Model {
    pub states: Vec<State>,
    pub initial: usize,
    pub groups: Vec<Group>,
}

fn named(expr: &syn::Expr, what: &str) -> Named {
    Named {
        name: name_of(expr, what),
        expr: expr.clone(),
    }
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

    // The hierarchy: `#[parent(P)]` makes a state a child of the compound state `P`.
    let mut parents: Vec<Option<usize>> = vec![None; inputs.len()];
    for (i, state) in inputs.iter().enumerate() {
        let Some(p) = &state.parent else { continue };
        match index_of(p) {
            Some(pi) if pi == i => errors.push(error(
                p.span(),
                format!("state `{}` cannot be its own parent", names[i]),
                "name the compound state that contains it, or remove `#[parent(…)]`",
            )),
            Some(pi) => parents[i] = Some(pi),
            None => errors.push(error(
                p.span(),
                format!("unknown parent state `{p}`"),
                format!(
                    "{}the states are `{}`",
                    did_you_mean(&p.to_string(), names.iter().map(String::as_str)),
                    names.join("`, `")
                ),
            )),
        }
    }
    // A loop of parents would make every state in it its own ancestor.
    for i in 0..inputs.len() {
        let mut at = parents[i];
        let mut steps = 0;
        while let Some(p) = at {
            steps += 1;
            if p == i || steps > inputs.len() {
                let p_ident = inputs[i].parent.as_ref().expect("has a parent");
                errors.push(error(
                    p_ident.span(),
                    format!("the parents of `{}` loop back to it", names[i]),
                    "compound states nest like a tree: one of them must be top-level",
                ));
                parents[i] = None;
                break;
            }
            at = parents[p];
        }
    }
    let has_children = |i: usize| parents.contains(&Some(i));
    for (i, state) in inputs.iter().enumerate() {
        if let (Some(span), true) = (state.final_state, has_children(i)) {
            errors.push(error(
                span,
                format!("compound state `{}` cannot be final", names[i]),
                "only an atomic, top-level state can be final; remove `#[final_state]` here",
            ));
        }
        if let (Some(span), Some(p)) = (state.final_state, parents[i]) {
            errors.push(error(
                span,
                format!("state `{}` inside `{}` cannot be final", names[i], names[p]),
                "only a top-level state ends the entity (XState's nested final states and `onDone` are not supported); move it out of its parent",
            ));
        }
    }
    // Initial children: exactly one among the children of each compound state.
    let mut initial_child: Vec<Option<usize>> = vec![None; inputs.len()];
    for p in (0..inputs.len()).filter(|&p| has_children(p)) {
        let children: Vec<usize> = (0..inputs.len())
            .filter(|&c| parents[c] == Some(p))
            .collect();
        let marked: Vec<usize> = children
            .iter()
            .copied()
            .filter(|&c| inputs[c].initial.is_some())
            .collect();
        match marked.as_slice() {
            [] => errors.push(error(
                inputs[p].ident.span(),
                format!("compound state `{}` has no initial child", names[p]),
                format!(
                    "mark the child it enters first with `#[initial]`, e.g. on `{}`",
                    names[children[0]]
                ),
            )),
            [first, rest @ ..] => {
                initial_child[p] = Some(*first);
                for &c in rest {
                    errors.push(error(
                        inputs[c].initial.expect("filtered on initial"),
                        format!("`{}` is marked `#[initial]`, but so is its sibling `{}`", names[c], names[*first]),
                        format!("`{}` has exactly one initial child; remove one of the `#[initial]` attributes", names[p]),
                    ));
                }
            }
        }
    }
    let resolve = |mut s: usize| {
        let mut steps = 0;
        while let Some(c) = initial_child[s] {
            s = c;
            steps += 1;
            if steps > inputs.len() {
                break;
            }
        }
        s
    };
    let ancestry = |s: usize| {
        let mut chain = vec![s];
        let mut at = s;
        while let Some(p) = parents[at] {
            if chain.contains(&p) {
                break;
            }
            chain.push(p);
            at = p;
        }
        chain
    };
    let paths: Vec<String> = (0..inputs.len())
        .map(|s| {
            let mut chain: Vec<&str> = ancestry(s).iter().map(|&a| names[a].as_str()).collect();
            chain.reverse();
            chain.join(".")
        })
        .collect();

    let initials: Vec<usize> = (0..inputs.len())
        // A state with a `#[parent]` that did not resolve is not top-level either.
        .filter(|&i| inputs[i].initial.is_some() && inputs[i].parent.is_none())
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

    // The states an entity is in before its first event: the initial state and, if it is
    // compound, its initial descendants.
    let initial_chain = initials
        .first()
        .map_or_else(Vec::new, |&i| ancestry(resolve(i)));

    let mut groups: Vec<Group> = Vec::new();
    for (si, state) in inputs.iter().enumerate() {
        if initial_chain.contains(&si) {
            let what = if !state.always.is_empty() {
                Some((
                    "`#[always(…)]`",
                    state.always[0].span,
                    "an entity is created by its first event, and the step for it runs the `always` transitions of the state it reaches; move this check to the transitions leaving the initial state",
                ))
            } else {
                state.entry_span.map(|s| ("`#[entry(…)]`", s, "XState would run it before any event, when the entity does not exist yet; give the field its starting value in the domain's `Default` instead"))
            };
            if let Some((attr, at, help)) = what {
                errors.push(error(
                    at,
                    format!("the initial state `{}` cannot have {attr}", names[si]),
                    help,
                ));
            }
        }
        if state.final_state.is_some() {
            for on in &state.always {
                errors.push(error(
                    on.span,
                    format!("final state `{}` cannot have `always` transitions", names[si]),
                    "an entity in a final state is done; remove this `#[always(…)]` or `#[final_state]`",
                ));
            }
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
        for on in state.on.iter().chain(&state.always) {
            let Some(row) = errors.handle(lower_row(on, &names, &index_of)) else {
                continue;
            };
            let existing = groups[first_group..]
                .iter_mut()
                .find(|g| g.always == on.always && g.event == on.event);
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
                    always: on.always,
                    rows: vec![row],
                }),
            }
        }
    }

    // Reachability is only meaningful once every transition resolved; otherwise it would
    // repeat an error already reported as "unreachable state".
    let (mut errors, clean) = checkpoint(errors);
    // A state whose first `always` candidate has no guard always takes it: following those
    // edges round a loop never settles. (Guarded loops are bounded at run time.)
    if clean && parsed_cleanly {
        let next: Vec<Option<usize>> = (0..inputs.len())
            .map(|s| {
                if has_children(s) {
                    return None;
                }
                ancestry(s)
                    .into_iter()
                    .find_map(|a| groups.iter().find(|g| g.always && g.state == a))
                    .and_then(|g| g.rows.first())
                    .filter(|r| r.guards.is_empty())
                    .map(|r| r.target.map_or(s, resolve))
            })
            .collect();
        let mut reported = vec![false; inputs.len()];
        for start in 0..inputs.len() {
            let mut path = vec![start];
            let mut at = start;
            while let Some(n) = next[at] {
                if let Some(pos) = path.iter().position(|&p| p == n) {
                    let cycle = &path[pos..];
                    if cycle.iter().all(|&c| !reported[c]) {
                        let first = cycle
                            .iter()
                            .flat_map(|&c| ancestry(c))
                            .find(|&a| !inputs[a].always.is_empty())
                            .unwrap_or(cycle[0]);
                        for &c in cycle {
                            reported[c] = true;
                        }
                        let mut route: Vec<&str> =
                            cycle.iter().map(|&c| names[c].as_str()).collect();
                        route.push(&names[cycle[0]]);
                        let span = inputs[first]
                            .always
                            .first()
                            .map_or(inputs[first].ident.span(), |a| a.span);
                        errors.push(error(
                            span,
                            format!("`always` transitions loop forever: {}", route.join(" → ")),
                            "none of them has a guard, so each is taken at once; add a guard that turns false once the loop has run (e.g. on a field its assign sets), or target a state outside the loop",
                        ));
                    }
                    break;
                }
                path.push(n);
                at = n;
            }
        }
    }

    if let ([initial], true) = (initials.as_slice(), clean && parsed_cleanly) {
        let mut reached = vec![false; inputs.len()];
        let start = resolve(*initial);
        let mut stack = vec![start];
        reached[start] = true;
        while let Some(s) = stack.pop() {
            let chain = ancestry(s);
            for g in groups.iter().filter(|g| chain.contains(&g.state)) {
                for t in g.rows.iter().filter_map(|r| r.target).map(resolve) {
                    if !reached[t] {
                        reached[t] = true;
                        stack.push(t);
                    }
                }
            }
        }
        // Only atomic states are ever current; a compound one is reached through them.
        for (i, r) in reached.iter().enumerate() {
            if !r && !has_children(i) {
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
            .enumerate()
            .map(|(i, s)| State {
                ident: s.ident.clone(),
                path: paths[i].clone(),
                is_final: s.final_state.is_some(),
                parent: parents[i],
                initial_child: initial_child[i],
                entry: s.entry.iter().map(|a| named(a, "action")).collect(),
                exit: s.exit.iter().map(|a| named(a, "action")).collect(),
            })
            .collect(),
        initial: initials.first().copied().map_or(0, resolve),
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
                server_only: g.server_only,
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
