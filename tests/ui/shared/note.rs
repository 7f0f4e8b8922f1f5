// The event and machine the domain UI tests name; they are fine, the domain is not.
#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
enum NoteEvent {
    Write { text: String },
}

#[sai::machine(domain = Note, event = NoteEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NoteMachine {
    #[initial]
    #[on(Write)]
    Draft,
}
