//! Compile-time checks of the macros: every mistake is one readable error on the right token.
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test --test ui` and review it.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
