//! The derives a machine's state enum needs, checked as one bound so that a missing derive is
//! one compile error with the line to add, not one error per missing trait.

use std::fmt::Debug;

/// `Clone + Copy + Debug + PartialEq + Eq`, as one trait. `#[machine]` does not derive these: a
/// derive written above the attribute is expanded apart from it, so the user writes them.
#[diagnostic::on_unimplemented(
    message = "the state enum `{Self}` lacks the derives a machine needs",
    label = "needs `#[derive(Clone, Copy, Debug, PartialEq, Eq)]`",
    note = "`#[machine]` does not derive them: write `#[derive(Clone, Copy, Debug, PartialEq, Eq)]` above or below `#[machine(…)]`, or add the missing ones to the enum's own derive"
)]
pub trait MachineStateDerives: Copy + Eq + Debug {}

impl<T: Copy + Eq + Debug> MachineStateDerives for T {}

// Why a second impl that never applies: with a single impl, rustc checks a type against that
// impl's bounds and reports each missing trait apart (up to five errors, none with the note
// above). With two candidate impls it must weigh both, finds neither applies, and reports
// the trait itself, once.
impl<T: MachineStateDerives> MachineStateDerives for T where for<'a> Never<'a>: Uninhabited {}

/// Has no implementations: the bound above never holds.
pub trait Uninhabited {}

/// The type named by that bound (higher-ranked, so the bound is not rejected as trivially false).
pub struct Never<'a>(std::marker::PhantomData<&'a ()>);
