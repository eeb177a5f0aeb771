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
    write_handlers_in_files(out_dir);
    println!("cargo::rerun-if-changed=build.rs");
}

/// How many files `static_on_exit_files` spreads its exit functions over.
const FILES: usize = 10;

/// The same `#[on_exit]` functions in `FILES` modules of their own files, as a program
/// whose handlers come from several files or crates has them: the linker lays out
/// each file's in order, and the runtime then sorts.
fn write_handlers_in_files(out_dir: &Path) {
    let per_file = STATIC_HANDLERS / FILES;
    let mut root = format!(
        "/// How many exit functions these files declare.\nconst HANDLERS: usize = {};\n",
        per_file * FILES
    );
    for file in 0..FILES {
        let path = out_dir.join(format!("on_exit_handlers_{file}.rs"));
        let mut source = String::from("use super::PROBE;\n");
        for index in 0..per_file {
            writeln!(
                source,
                "#[atexit::on_exit]\nfn handler_{index:04}() {{\n    PROBE.hit();\n}}"
            )
            .expect("writing to a String cannot fail");
        }
        fs::write(&path, source).expect("OUT_DIR is writable");
        writeln!(
            root,
            "#[path = {:?}]\nmod file_{file};",
            path.display().to_string()
        )
        .expect("writing to a String cannot fail");
    }
    fs::write(out_dir.join("on_exit_handlers_in_files.rs"), root).expect("OUT_DIR is writable");
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
