//! Where generated code finds the `atexit` crate: `::atexit`, or the name a crate
//! gave it in its `Cargo.toml` (`my_atexit = { package = "atexit", ... }`). A crate
//! that reaches `atexit` through another crate's re-export says where with
//! `#[on_exit(crate = path)]`; nothing in its manifest could tell.

use std::sync::Mutex;

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

/// `::atexit`, or `::<name>` for a renamed dependency.
pub fn default_path() -> TokenStream {
    let name = renamed_in_manifest().unwrap_or_else(|| "atexit".to_owned());
    let name = Ident::new(&name, Span::call_site());
    quote!(::#name)
}

/// The name the crate being compiled gave `atexit`, if it renamed it and does not
/// also depend on it as `atexit`. Read once per crate: one rustc process compiles one,
/// but a language server's macro expander serves many.
fn renamed_in_manifest() -> Option<String> {
    static READ: Mutex<Option<(String, Option<String>)>> = Mutex::new(None);
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let mut read = READ.lock().unwrap_or_else(|poison| poison.into_inner());
    if let Some((read_dir, name)) = &*read {
        if *read_dir == dir {
            return name.clone();
        }
    }
    let manifest = std::fs::read_to_string(std::path::Path::new(&dir).join("Cargo.toml"));
    let name = manifest.ok().and_then(|manifest| renamed(&manifest));
    *read = Some((dir, name.clone()));
    name
}

/// The dependency key under which `manifest` depends on the package `atexit`, if that
/// is not `atexit` itself. A line-based reading of the two ways a rename is written,
/// `name = { package = "atexit", ... }` in a dependency table and `package = "atexit"`
/// in a `[dependencies.name]` table; anything it does not understand leaves `::atexit`.
fn renamed(manifest: &str) -> Option<String> {
    let mut table = String::new();
    let mut plain = false;
    let mut renamed = None;
    for line in manifest.lines() {
        let line = without_comment(line).trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            table = line
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = unquote(key.trim());
        if is_dependency_table(&table) {
            if names_atexit_package(value) {
                renamed = Some(key.to_owned());
            } else if key == "atexit" {
                plain = true;
            }
        } else if let Some(dependency) = dependency_table(&table) {
            if key == "package" && is_atexit(value) {
                renamed = Some(dependency.to_owned());
            } else if dependency == "atexit" {
                plain = true;
            }
        }
    }
    match renamed {
        Some(name) if !plain && name != "atexit" => Some(name.replace('-', "_")),
        _ => None,
    }
}

/// `[dependencies]`, `[dev-dependencies]`, `[target.'cfg(...)'.dependencies]`: not
/// build dependencies, which the crate's code does not see, nor a workspace's table,
/// which only names what members may inherit.
fn is_dependency_table(table: &str) -> bool {
    !table.starts_with("workspace.")
        && ["dependencies", "dev-dependencies"]
            .iter()
            .any(|kind| table == *kind || table.ends_with(&format!(".{kind}")))
}

/// `line` up to a `#` that is not inside a string.
fn without_comment(line: &str) -> &str {
    let mut quote = None;
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(open), _) if c == open => quote = None,
            (None, '#') => return &line[..at],
            _ => {}
        }
    }
    line
}

/// The `key = value` pairs of an inline table, split at commas outside strings.
fn inline_pairs(table: &str) -> impl Iterator<Item = (&str, &str)> {
    let inner = table.trim().trim_start_matches('{').trim_end_matches('}');
    let mut pairs = Vec::new();
    let (mut quote, mut start) = (None, 0);
    for (at, c) in inner.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(open), _) if c == open => quote = None,
            (None, ',') => {
                pairs.push(&inner[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    pairs.push(&inner[start..]);
    pairs.into_iter().filter_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        Some((unquote(key.trim()), value.trim()))
    })
}

/// `[dependencies.NAME]` and the like: `NAME`.
fn dependency_table(table: &str) -> Option<&str> {
    ["dependencies.", "dev-dependencies."]
        .iter()
        .find_map(|kind| {
            let at = table.rfind(kind)?;
            let before = &table[..at];
            (before.is_empty() || before.ends_with('.')).then(|| unquote(&table[at + kind.len()..]))
        })
}

/// An inline table with `package = "atexit"`.
fn names_atexit_package(value: &str) -> bool {
    value.trim_start().starts_with('{')
        && inline_pairs(value).any(|(key, value)| key == "package" && is_atexit(value))
}

fn is_atexit(value: &str) -> bool {
    unquote(value.trim().trim_end_matches('}').trim()) == "atexit"
}

fn unquote(text: &str) -> &str {
    text.trim_matches(|c| c == '"' || c == '\'')
}

#[cfg(test)]
mod tests {
    use super::renamed;

    #[test]
    fn finds_a_renamed_dependency_written_either_way() {
        let inline = "[package]\nname = \"x\"\n\n[dependencies]\nmy-atexit = { package = \"atexit\", version = \"0.1\" }\n";
        assert_eq!(renamed(inline).as_deref(), Some("my_atexit"));
        let table =
            "[target.'cfg(unix)'.dependencies.my_atexit]\nversion = \"0.1\"\npackage = 'atexit'\n";
        assert_eq!(renamed(table).as_deref(), Some("my_atexit"));
    }

    #[test]
    fn reads_past_comments_and_strings_that_mention_package() {
        let path = "[dependencies] # runtime\nmy_atexit = { path = \"/src/packages/atexit\", package = \"atexit\" } # renamed\n";
        assert_eq!(renamed(path).as_deref(), Some("my_atexit"));
        let table = "[dependencies.my_atexit]\npackage = \"atexit\" # the real name\n";
        assert_eq!(renamed(table).as_deref(), Some("my_atexit"));
        let features = "[dependencies]\nother = { version = \"1\", features = [\"package\"] }\n";
        assert_eq!(renamed(features), None);
        let workspace = "[workspace.dependencies]\nmy_atexit = { package = \"atexit\" }\n";
        assert_eq!(renamed(workspace), None);
    }

    #[test]
    fn leaves_atexit_where_it_is_not_renamed() {
        assert_eq!(renamed("[dependencies]\natexit = \"0.1\"\n"), None);
        assert_eq!(renamed("[dependencies]\nframework = \"1\"\n"), None);
        let both = "[dependencies]\natexit = \"0.1\"\n[dev-dependencies]\nother = { package = \"atexit\", path = \"..\" }\n";
        assert_eq!(renamed(both), None);
        let build = "[build-dependencies]\nmy_atexit = { package = \"atexit\" }\n";
        assert_eq!(renamed(build), None);
    }
}
