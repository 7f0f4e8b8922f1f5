// The machine the domain UI tests name; it is fine, the domain is not.
#[sai::machine(domain = Note, event = NoteEvent)]
enum NoteMachine {
    #[initial]
    #[on(Write)]
    Draft,
}
