//! Code the example shares with the browser test.
pub mod todo_app;
