//! The exit order, in one place: which pending handler runs next.
//!
//! Every handler has a [`Rank`]; the pending handler with the greatest rank runs
//! next, and [`handlers`](crate::handlers) lists them by the same comparison. A rank
//! is the priority, then when the handler was registered: `#[on_exit]` functions
//! count as registered before `main`, in declaration order, and dynamic handlers in
//! the order of the numbers their registrations took (see `registry::stamp`): a
//! registration that happened after another has the greater one.
//!
//! Static handlers get their declaration position at compile time, as an
//! [`OrderKey`] that the attribute computes.

use std::cmp::Ordering;

/// Where a handler stands in the exit order; greater runs first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rank {
    pub(crate) priority: i32,
    pub(crate) registered: Registered,
}

/// When a handler was registered, oldest first in `Ord`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Registered {
    /// An `#[on_exit]` function: its place in declaration order (see
    /// [`OrderKey`]), counted from the first declared.
    BeforeMain(usize),
    /// A dynamic handler: the number its registration took.
    AtRunTime(u64),
}

impl Ord for Rank {
    /// Higher priority first, then newer first: that is the whole ordering rule.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.priority, self.registered).cmp(&(other.priority, other.registered))
    }
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A static handler's declaration position, packed into one integer so that sorting
/// compares integers: priority, then a hash of the crate's name and file path, then
/// line, column, and the order in which the compiler expanded the attributes (which
/// tells apart handlers that one `macro_rules!` call declares: they share its line
/// and column). Built only by the macro, at compile time.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct OrderKey(u128);

/// Where a static handler is declared, as the macro sees it. Built only by the macro.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Source<'a> {
    /// `module_path!()`: its first segment is the crate's name.
    pub module_path: &'a str,
    /// `file!()`.
    pub file: &'a str,
    /// `CARGO_MANIFEST_DIR`, the package's directory.
    pub manifest_dir: Option<&'a str>,
    /// `OUT_DIR`, where a build script writes the files it generates.
    pub out_dir: Option<&'a str>,
    /// The compiler's working directory, which a relative `file!()` is relative to.
    pub working_dir: &'a str,
}

/// Line, column and expansion sequence share 64 bits; beyond their widths they
/// saturate, and the next field still orders what they leave tied.
const LINE_BITS: u32 = 24;
const COLUMN_BITS: u32 = 20;
const SEQUENCE_BITS: u32 = 20;

impl OrderKey {
    #[doc(hidden)]
    pub const fn new(priority: i32, source: Source, line: u32, column: u32, sequence: u32) -> Self {
        // Flipping the sign bit orders i32s as u32s.
        let priority = (priority as u32 ^ (1 << 31)) as u128;
        let source = source_hash(source) as u128;
        let position = (saturate(line, LINE_BITS) as u128) << (COLUMN_BITS + SEQUENCE_BITS)
            | (saturate(column, COLUMN_BITS) as u128) << SEQUENCE_BITS
            | saturate(sequence, SEQUENCE_BITS) as u128;
        OrderKey(priority << 96 | source << 64 | position)
    }

    pub(crate) fn priority(&self) -> i32 {
        ((self.0 >> 96) as u32 ^ (1 << 31)) as i32
    }

    pub(crate) fn line(&self) -> u32 {
        ((self.0 >> (COLUMN_BITS + SEQUENCE_BITS)) as u32) & ((1 << LINE_BITS) - 1)
    }
}

const fn saturate(value: u32, bits: u32) -> u32 {
    let max = (1 << bits) - 1;
    if value > max {
        max
    } else {
        value
    }
}

/// The file's path as it is wherever the build happens: relative to the package for
/// a file of the package (whether `file!()` gave it absolute, for a dependency from a
/// registry, or relative to the workspace, for a member), relative to `OUT_DIR` for a
/// file a build script wrote. `true` for the latter.
const fn portable_path<'a>(source: &Source<'a>) -> (bool, &'a str) {
    let file = source.file;
    if let Some(out_dir) = source.out_dir {
        if let Some(relative) = strip_dir(file, out_dir.as_bytes()) {
            return (true, relative);
        }
    }
    let Some(manifest_dir) = source.manifest_dir else {
        return (false, file);
    };
    if let Some(relative) = strip_dir(file, manifest_dir.as_bytes()) {
        return (false, relative);
    }
    // A relative `file!()` is relative to the working directory, the workspace's root:
    // the package is `<working dir>/<member>`, and the file `<member>/<path>`.
    let (manifest, working) = (manifest_dir.as_bytes(), source.working_dir.as_bytes());
    if manifest.len() > working.len() + 1
        && starts_with(manifest, working)
        && is_separator(manifest[working.len()])
    {
        let (_, member) = manifest.split_at(working.len() + 1);
        if let Some(relative) = strip_dir(file, member) {
            return (false, relative);
        }
    }
    (false, file)
}

/// `file` without `dir` and the separator after it, if it is in `dir`.
const fn strip_dir<'a>(file: &'a str, dir: &[u8]) -> Option<&'a str> {
    let bytes = file.as_bytes();
    if bytes.len() <= dir.len() + 1 || !starts_with(bytes, dir) || !is_separator(bytes[dir.len()]) {
        return None;
    }
    // The cut is after an ASCII separator, so the rest is valid UTF-8.
    match std::str::from_utf8(bytes.split_at(dir.len() + 1).1) {
        Ok(relative) => Some(relative),
        Err(_) => None,
    }
}

const fn starts_with(bytes: &[u8], prefix: &[u8]) -> bool {
    if bytes.len() < prefix.len() {
        return false;
    }
    let mut index = 0;
    while index < prefix.len() {
        if bytes[index] != prefix[index] {
            return false;
        }
        index += 1;
    }
    true
}

const fn is_separator(byte: u8) -> bool {
    byte == b'/' || byte == b'\\'
}

/// FNV-1a over the crate name (the first segment of the module path), a separator and
/// the portable file path: the same for every build of the same source. Two files
/// whose hashes collided would only have their handlers interleaved by line, still
/// deterministically.
const fn source_hash(source: Source) -> u32 {
    const PRIME: u32 = 0x0100_0193;
    let mut hash: u32 = 0x811c_9dc5;
    let crate_name = source.module_path.as_bytes();
    let mut index = 0;
    while index < crate_name.len() && crate_name[index] != b':' {
        hash = (hash ^ crate_name[index] as u32).wrapping_mul(PRIME);
        index += 1;
    }
    hash = (hash ^ 0xff).wrapping_mul(PRIME);
    let (generated, file) = portable_path(&source);
    if generated {
        hash = (hash ^ 0xfe).wrapping_mul(PRIME);
    }
    let file = file.as_bytes();
    let mut index = 0;
    while index < file.len() {
        hash = (hash ^ file[index] as u32).wrapping_mul(PRIME);
        index += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(priority: i32, position: usize) -> Rank {
        Rank {
            priority,
            registered: Registered::BeforeMain(position),
        }
    }

    fn dynamic(priority: i32, sequence: u64) -> Rank {
        Rank {
            priority,
            registered: Registered::AtRunTime(sequence),
        }
    }

    #[test]
    fn priority_first_then_newest_with_dynamic_newer_than_declared() {
        let mut ranks = vec![
            declared(0, 0),
            dynamic(0, 7),
            declared(5, 1),
            dynamic(-5, 9),
            declared(0, 2),
            dynamic(0, 8),
            dynamic(5, 3),
            declared(-5, 3),
        ];
        ranks.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(
            ranks,
            [
                dynamic(5, 3),
                declared(5, 1),
                dynamic(0, 8),
                dynamic(0, 7),
                declared(0, 2),
                declared(0, 0),
                dynamic(-5, 9),
                declared(-5, 3),
            ]
        );
    }

    #[test]
    fn extreme_priorities_order_as_integers() {
        assert!(declared(i32::MAX, 0) > dynamic(i32::MAX - 1, u64::MAX));
        assert!(declared(-1, 0) > dynamic(i32::MIN, u64::MAX));
        let key = |priority| OrderKey::new(priority, source("c", None, "f.rs"), 1, 1, 0);
        assert!(key(i32::MIN) < key(-1) && key(-1) < key(0) && key(0) < key(i32::MAX));
        for priority in [i32::MIN, -1, 0, 1, i32::MAX] {
            assert_eq!(key(priority).priority(), priority);
        }
    }

    #[test]
    fn declaration_keys_follow_line_then_column_within_a_file() {
        let key = |line, column, sequence| {
            OrderKey::new(0, source("c::m", None, "src/f.rs"), line, column, sequence)
        };
        assert!(key(3, 9, 5) < key(4, 1, 0));
        assert!(key(4, 1, 5) < key(4, 2, 0));
        assert!(key(4, 2, 0) < key(4, 2, 1), "one macro call's handlers");
        assert_eq!(key(4, 2, 1).line(), 4);
        assert_eq!(key(u32::MAX, u32::MAX, 7).line(), (1 << LINE_BITS) - 1);
        assert!(key(u32::MAX, u32::MAX, 7) < key(u32::MAX, u32::MAX, 8));
    }

    fn source<'a>(
        module_path: &'a str,
        manifest_dir: Option<&'a str>,
        file: &'a str,
    ) -> Source<'a> {
        Source {
            module_path,
            file,
            manifest_dir,
            out_dir: None,
            working_dir: "/elsewhere",
        }
    }

    fn key(source: Source) -> OrderKey {
        OrderKey::new(0, source, 1, 1, 0)
    }

    #[test]
    fn file_paths_are_hashed_relative_to_their_package() {
        let absolute = key(source("c", Some("/home/me/c"), "/home/me/c/src/f.rs"));
        let elsewhere = key(source("c", Some("/build/c"), "/build/c/src/f.rs"));
        let relative = key(source("c", Some("/build/c"), "src/f.rs"));
        assert_eq!(absolute, elsewhere);
        assert_eq!(absolute, relative);
        assert_ne!(absolute, key(source("d", None, "src/f.rs")));
    }

    #[test]
    fn a_workspace_member_hashes_as_the_same_package_built_alone() {
        let alone = key(source("c", Some("/build/c"), "src/f.rs"));
        let member = key(Source {
            working_dir: "/work/space",
            ..source("c", Some("/work/space/crates/c"), "crates/c/src/f.rs")
        });
        assert_eq!(member, alone);
    }

    #[test]
    fn generated_files_hash_the_same_wherever_the_target_directory_is() {
        let generated = |target: &'static str, file: &'static str| {
            key(Source {
                out_dir: Some(target),
                ..source("c", Some("/build/c"), file)
            })
        };
        let here = generated(
            "/build/c/target/debug/build/c-1/out",
            "/build/c/target/debug/build/c-1/out/h.rs",
        );
        let there = generated(
            "/tmp/t/release/build/c-2/out",
            "/tmp/t/release/build/c-2/out/h.rs",
        );
        assert_eq!(here, there);
        assert_ne!(here, key(source("c", Some("/build/c"), "h.rs")));
    }
}
