//! Compile-time checks of `#[on_exit]`: what it refuses, and how it says so.
//!
//! The errors the attribute writes itself are checked with every compiler. The ones
//! rustc writes (a priority of the wrong type, a return type that is not a handler's,
//! a future that is not `Send`) change wording between compiler versions, so their
//! expected output (`tests/ui/rustc_wording`) is that of one version, 1.95, and is
//! checked with that version only.

use std::io::Write;

/// Whether this compiler words its errors as the expected output does.
#[rustversion::stable(1.95)]
const RUSTC_WORDING_PINNED: bool = true;
#[rustversion::not(stable(1.95))]
const RUSTC_WORDING_PINNED: bool = false;

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/ui/pass/*.rs");
    // trybuild builds the cases with the features this test was built with.
    if cfg!(feature = "tokio") {
        cases.pass("tests/ui/with_tokio/*.rs");
    } else {
        cases.compile_fail("tests/ui/without_tokio/*.rs");
    }
    if RUSTC_WORDING_PINNED {
        cases.compile_fail("tests/ui/rustc_wording/*.rs");
        if cfg!(feature = "tokio") {
            cases.compile_fail("tests/ui/rustc_wording/with_tokio/*.rs");
        }
    } else {
        // Written to stderr itself, which the test harness does not capture (it
        // captures `eprintln!`), so that the skip shows whether the test passes.
        let _ = writeln!(
            std::io::stderr(),
            "note: not checking tests/ui/rustc_wording: its expected output is rustc 1.95's"
        );
    }
}
