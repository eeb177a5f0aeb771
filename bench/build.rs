//! Writes the 1,000 exit functions of the `static_on_exit` and `static_dtor` programs.
//!
//! Generated rather than expanded by `macro_rules!` so that every handler has its own
//! source line, as hand-written ones would: the atexit runtime orders static handlers
//! by declaration position, and identical positions would make that sort unrealistic.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

/// How many exit functions each static program declares.
const STATIC_HANDLERS: usize = 1000;

fn main() {
    let out_dir = env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let out_dir = Path::new(&out_dir);
    write_handlers(&out_dir.join("on_exit_handlers.rs"), "#[atexit::on_exit]");
    write_handlers(&out_dir.join("dtor_handlers.rs"), "#[dtor::dtor(unsafe)]");
    println!("cargo::rerun-if-changed=build.rs");
}

/// Every handler does the same work in both programs: it counts itself on `PROBE`, a
/// static the including program defines, so only the dispatch differs.
fn write_handlers(path: &Path, attribute: &str) {
    let mut source = format!("/// How many exit functions this file declares.\nconst HANDLERS: usize = {STATIC_HANDLERS};\n");
    for index in 0..STATIC_HANDLERS {
        writeln!(
            source,
            "{attribute}\nfn handler_{index:04}() {{\n    PROBE.hit();\n}}"
        )
        .expect("writing to a String cannot fail");
    }
    fs::write(path, source).expect("OUT_DIR is writable");
}
