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
/// line, then column. Built only by the macro, at compile time.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct OrderKey(u128);

impl OrderKey {
    #[doc(hidden)]
    pub const fn new(
        priority: i32,
        module_path: &str,
        manifest_dir: Option<&str>,
        file: &str,
        line: u32,
        column: u32,
    ) -> Self {
        // Flipping the sign bit orders i32s as u32s.
        let priority = (priority as u32 ^ (1 << 31)) as u128;
        let source = source_hash(module_path, package_relative(file, manifest_dir)) as u128;
        OrderKey(priority << 96 | source << 64 | (line as u128) << 32 | column as u128)
    }

    pub(crate) fn priority(&self) -> i32 {
        ((self.0 >> 96) as u32 ^ (1 << 31)) as i32
    }

    pub(crate) fn line(&self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// `file!()` is absolute for a dependency from a registry or a git checkout; relative
/// to its package, it is the same on every machine.
const fn package_relative<'a>(file: &'a str, manifest_dir: Option<&str>) -> &'a str {
    let Some(dir) = manifest_dir else {
        return file;
    };
    let (file_bytes, dir_bytes) = (file.as_bytes(), dir.as_bytes());
    if file_bytes.len() <= dir_bytes.len() + 1 || file_bytes[dir_bytes.len()] != b'/' {
        return file;
    }
    let mut index = 0;
    while index < dir_bytes.len() {
        if file_bytes[index] != dir_bytes[index] {
            return file;
        }
        index += 1;
    }
    // The cut is after an ASCII '/', so the rest is valid UTF-8.
    match std::str::from_utf8(file_bytes.split_at(dir_bytes.len() + 1).1) {
        Ok(relative) => relative,
        Err(_) => file,
    }
}

/// FNV-1a over the crate name (the first segment of the module path), a separator and
/// the file path: the same for every build of the same source. Two files whose hashes
/// collided would only have their handlers interleaved by line, still deterministically.
const fn source_hash(module_path: &str, file: &str) -> u32 {
    const PRIME: u32 = 0x0100_0193;
    let mut hash: u32 = 0x811c_9dc5;
    let crate_name = module_path.as_bytes();
    let mut index = 0;
    while index < crate_name.len() && crate_name[index] != b':' {
        hash = (hash ^ crate_name[index] as u32).wrapping_mul(PRIME);
        index += 1;
    }
    hash = (hash ^ 0xff).wrapping_mul(PRIME);
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
        let key = |priority| OrderKey::new(priority, "c", None, "f.rs", 1, 1);
        assert!(key(i32::MIN) < key(-1) && key(-1) < key(0) && key(0) < key(i32::MAX));
        for priority in [i32::MIN, -1, 0, 1, i32::MAX] {
            assert_eq!(key(priority).priority(), priority);
        }
    }

    #[test]
    fn declaration_keys_follow_line_then_column_within_a_file() {
        let key = |line, column| OrderKey::new(0, "c::m", None, "src/f.rs", line, column);
        assert!(key(3, 9) < key(4, 1));
        assert!(key(4, 1) < key(4, 2));
        assert_eq!(key(4, 2).line(), 4);
    }

    #[test]
    fn file_paths_are_hashed_relative_to_their_package() {
        let absolute = OrderKey::new(0, "c", Some("/home/me/c"), "/home/me/c/src/f.rs", 1, 1);
        let elsewhere = OrderKey::new(0, "c", Some("/build/c"), "/build/c/src/f.rs", 1, 1);
        let relative = OrderKey::new(0, "c", Some("/build/c"), "src/f.rs", 1, 1);
        assert_eq!(absolute, elsewhere);
        assert_eq!(absolute, relative);
        assert_ne!(absolute, OrderKey::new(0, "d", None, "src/f.rs", 1, 1));
    }
}
