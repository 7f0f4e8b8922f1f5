//! Stand-ins that macro expansions use after a reported error, so that code naming the broken
//! item sees no second error. Never used by working code.

use std::marker::PhantomData;

use crate::domain::Domain;
use crate::event::Event;
use crate::machine::{Machine, Transition};

/// An event enum with no events.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum NoEvent {}

impl Event for NoEvent {
    const TYPES: &'static [&'static str] = &[];
    const VARIANTS: &'static [&'static str] = &[];
    const VERSIONS: &'static [u32] = &[];
    fn type_index(&self) -> usize {
        match *self {}
    }
}

/// A machine with no transitions over any domain.
pub struct NoMachine<D>(PhantomData<fn() -> D>);

impl<D> Clone for NoMachine<D> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<D> Copy for NoMachine<D> {}
impl<D> PartialEq for NoMachine<D> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<D> Eq for NoMachine<D> {}
impl<D> std::hash::Hash for NoMachine<D> {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}
impl<D> std::fmt::Debug for NoMachine<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NoMachine")
    }
}

impl<D: Domain> Machine for NoMachine<D> {
    type Domain = D;
    type Event = NoEvent;
    const NAME: &'static str = "";
    const INITIAL: Self = NoMachine(PhantomData);
    const STATES: &'static [Self] = &[];
    const TRANSITIONS: &'static [Transition<Self>] = &[];
    fn name(self) -> &'static str {
        ""
    }
    fn is_final(self) -> bool {
        true
    }
    fn candidates(self, event: &NoEvent) -> &'static [Transition<Self>] {
        match *event {}
    }
}
