//! The library's layers hold (docs/design.md §7): every `use crate::…`, `crate::…` and `super::…`
//! path in `crates/rewind/src`, with the crate root's re-exports resolved, points to the same
//! layer or a lower one, the edges inside a layer form no cycle, and no path inside the crate
//! goes through the root's re-exports (they are for users). Test modules
//! (`#[cfg(test)] mod tests`) may reach anywhere and are left out; so is the root's `Error`,
//! which gathers every layer's error for the caller.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../rewind/src");

/// The layers, top down (docs/design.md §7.1), by the first segment of a module path.
const LAYERS: &[(&str, u8)] = &[
    ("experiments", 5),
    ("pipeline", 4),
    ("steps", 3),
    ("sgd", 2),
    ("perturb", 2),
    ("momentum", 2),
    ("model", 1),
    ("data", 0),
    ("grid", 0),
    ("rng", 0),
    ("names", 0),
    ("output", 0),
    ("progress", 0),
];

/// Folders whose files are concepts of their own (`steps::null`, `model::backend`, …).
const FOLDERS: &[&str] = &["experiments", "pipeline", "steps", "model", "data"];

fn layer(node: &[String]) -> Option<u8> {
    let first = node.first()?;
    LAYERS.iter().find(|(n, _)| n == first).map(|&(_, l)| l)
}

/// Every `.rs` file below `dir` with its module path (`steps/codec/mod.rs` → `steps::codec`).
fn modules(dir: &Path, prefix: &[String], out: &mut Vec<(Vec<String>, PathBuf)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("the library's sources are readable")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mut module = prefix.to_vec();
        if path.is_dir() {
            module.push(name);
            modules(&path, &module, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            if name != "mod" && name != "lib" {
                module.push(name);
            }
            out.push((module, path));
        }
    }
}

/// The source with comments, string and character literals blanked, and the test module cut.
fn code_of(text: &str) -> String {
    let code = blank(text);
    let Some(at) = code.find("#[cfg(test)]\nmod tests {") else {
        return code;
    };
    let open = at + code[at..].find('{').unwrap_or(0);
    let mut depth = 0;
    for (i, c) in code[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => continue,
        }
        if depth == 0 {
            return format!("{}{}", &code[..at], &code[open + i + 1..]);
        }
    }
    code[..at].to_string()
}

/// The source with comments, string and character literals blanked.
fn blank(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |e| e + 2);
        } else if let Some(hashes) = raw_string_start(rest) {
            let close = format!("\"{}", "#".repeat(hashes));
            let body = hashes + 2;
            i += body
                + rest[body..]
                    .find(&close)
                    .map_or(rest.len(), |e| e + close.len());
            out.push_str("\"\"");
        } else if rest.starts_with('"') {
            i += 1 + string_end(&text[i + 1..]);
            out.push_str("\"\"");
        } else if let Some(len) = char_literal(rest) {
            i += len;
            out.push_str("' '");
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `r"…"` or `r#"…"#`: the number of hashes.
fn raw_string_start(s: &str) -> Option<usize> {
    let after = s.strip_prefix('r')?;
    let hashes = after.len() - after.trim_start_matches('#').len();
    after[hashes..].starts_with('"').then_some(hashes)
}

/// The length of a string literal's body and its closing quote.
fn string_end(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// A character literal such as `'"'` or `'\''` (not a lifetime): its length.
fn char_literal(s: &str) -> Option<usize> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '\'' {
        return None;
    }
    let (_, c) = chars.next()?;
    if c == '\\' {
        let end = s[2..].find('\'')?;
        return (end <= 10).then_some(end + 3);
    }
    let (at, close) = chars.next()?;
    (close == '\'').then_some(at + 1)
}

/// Expands a use tree such as `a::{b, c::{d, e as f}}` into its paths.
fn expand(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        let mut path = prefix.to_vec();
        let tree = tree.split("as").next().unwrap_or("");
        path.extend(
            tree.split("::")
                .filter(|s| !s.is_empty() && *s != "self" && *s != "*")
                .map(String::from),
        );
        out.push(path);
        return;
    };
    let mut head = prefix.to_vec();
    head.extend(
        tree[..open]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(String::from),
    );
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(&inner[start..i], &head, out);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < inner.len() {
        expand(&inner[start..], &head, out);
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path that starts at `crate` or `super` in `code`, as segments after that root word
/// (with `super` kept, to be resolved against the file's module).
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for root in ["crate::", "super::"] {
        for (at, _) in code.match_indices(root) {
            if code[..at].chars().next_back().is_some_and(is_ident) {
                continue;
            }
            let rest = &code[at..];
            let before = code[..at].trim_end();
            let prefix = vec![root.trim_end_matches(':').to_string()];
            if before.ends_with("use") {
                let end = rest.find(';').unwrap_or(rest.len());
                expand(&rest[root.len()..end], &prefix, &mut out);
            } else {
                let end = rest
                    .find(|c: char| !(is_ident(c) || c == ':'))
                    .unwrap_or(rest.len());
                let mut path = prefix;
                path.extend(
                    rest[root.len()..end]
                        .split("::")
                        .filter(|s| !s.is_empty())
                        .map(String::from),
                );
                out.push(path);
            }
        }
    }
    out
}

/// The root's re-exports: `pub use experiments::{claims, …}` makes `claims` name
/// `experiments::claims`.
fn root_aliases(lib: &str) -> BTreeMap<String, Vec<String>> {
    let code = code_of(lib);
    let mut aliases = BTreeMap::new();
    for (at, _) in code.match_indices("pub use ") {
        let rest = &code[at + "pub use ".len()..];
        let tree = &rest[..rest.find(';').unwrap_or(rest.len())];
        let mut found = Vec::new();
        expand(tree, &[], &mut found);
        for path in found {
            if let Some(last) = path.last() {
                aliases.insert(last.clone(), path.clone());
            }
        }
    }
    aliases
}

/// The concept a path lands in: `steps::codec::hint::X` → `steps::codec`.
fn node(
    path: &[String],
    aliases: &BTreeMap<String, Vec<String>>,
    subs: &BTreeMap<String, BTreeSet<String>>,
) -> Option<Vec<String>> {
    let first = path.first()?;
    let mut path = path.to_vec();
    if let Some(full) = aliases.get(first) {
        path.splice(0..1, full.iter().cloned());
    }
    let known = |s: &String| subs.get(&path[0]).is_some_and(|set| set.contains(s));
    let depth = if FOLDERS.contains(&path[0].as_str()) && path.get(1).is_some_and(known) {
        2
    } else {
        1
    };
    Some(path[..depth].to_vec())
}

/// The module-level dependency edges, each with the file it was read in.
type Edges = BTreeMap<Vec<String>, BTreeMap<Vec<String>, String>>;

/// The text of the crate root, `lib.rs`.
fn lib_of(files: &[(Vec<String>, String, String)]) -> &str {
    files
        .iter()
        .find(|(m, _, _)| m.is_empty())
        .map_or("", |(_, _, t)| t.as_str())
}

fn edges(files: &[(Vec<String>, String, String)]) -> Edges {
    let aliases = root_aliases(lib_of(files));
    let mut subs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, _, _) in files {
        if let [first, second, ..] = module.as_slice() {
            subs.entry(first.clone())
                .or_default()
                .insert(second.clone());
        }
    }
    let mut edges = Edges::new();
    for (module, name, text) in files {
        let Some(from) = node(module, &aliases, &subs) else {
            continue;
        };
        for path in paths(&code_of(text)) {
            let absolute = resolve(module, &path);
            let Some(to) = node(&absolute, &aliases, &subs) else {
                continue;
            };
            if to != from && layer(&to).is_some() {
                edges
                    .entry(from.clone())
                    .or_default()
                    .insert(to, name.clone());
            }
        }
    }
    edges
}

/// A path from `crate` or `super` made absolute against `module`.
fn resolve(module: &[String], path: &[String]) -> Vec<String> {
    // In `a/b.rs` and in `a/b/mod.rs` alike the module is `a::b`, and super is `a`.
    let mut base = module.to_vec();
    let mut rest = path;
    if rest.first().is_some_and(|s| s == "crate") {
        return rest[1..].to_vec();
    }
    while rest.first().is_some_and(|s| s == "super") {
        base.pop();
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    base
}

/// What breaks the layering: upward edges and cycles inside a layer.
fn violations(files: &[(Vec<String>, String, String)]) -> Vec<String> {
    let edges = edges(files);
    let mut found = Vec::new();
    for (from, tos) in &edges {
        for (to, file) in tos {
            if let (Some(lf), Some(lt)) = (layer(from), layer(to)) {
                if lt > lf {
                    found.push(format!(
                        "{file}: {} (layer {lf}) uses {} (layer {lt}), a higher layer",
                        from.join("::"),
                        to.join("::")
                    ));
                }
            }
        }
    }
    let aliases = root_aliases(lib_of(files));
    for (module, name, text) in files.iter().filter(|(m, _, _)| !m.is_empty()) {
        for path in paths(&code_of(text)) {
            let root = resolve(module, &path);
            if path[0] == "crate" && root.first().is_some_and(|f| aliases.contains_key(f)) {
                found.push(format!(
                    "{name}: crate::{} is the root's re-export; inside the crate use crate::{}",
                    root[0],
                    aliases[&root[0]].join("::")
                ));
            }
        }
    }
    for cycle in cycles(&edges) {
        found.push(format!("a cycle: {}", cycle.join(" → ")));
    }
    found
}

/// The strongly connected components of more than one module (Tarjan).
fn cycles(edges: &Edges) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        edges: &'a Edges,
        index: BTreeMap<&'a Vec<String>, (usize, usize)>,
        stack: Vec<&'a Vec<String>>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a Vec<String>) {
            self.index.insert(v, (self.next, self.next));
            self.next += 1;
            self.stack.push(v);
            for w in self.edges.get(v).into_iter().flat_map(|t| t.keys()) {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.index[w].1.min(self.index[v].1);
                    self.index.get_mut(v).unwrap().1 = low;
                } else if self.stack.contains(&w) {
                    let low = self.index[w].0.min(self.index[v].1);
                    self.index.get_mut(v).unwrap().1 = low;
                }
            }
            if self.index[v].0 == self.index[v].1 {
                let at = self.stack.iter().rposition(|x| *x == v).unwrap();
                let component: Vec<String> = self.stack.drain(at..).map(|m| m.join("::")).collect();
                if component.len() > 1 {
                    self.out.push(component);
                }
            }
        }
    }
    let mut t = Tarjan {
        edges,
        index: BTreeMap::new(),
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.out
}

/// The library's files as (module path, file name, text).
fn library() -> Vec<(Vec<String>, String, String)> {
    let mut found = Vec::new();
    modules(Path::new(SRC), &[], &mut found);
    found
        .into_iter()
        .map(|(module, path)| {
            let name = path
                .strip_prefix(SRC)
                .unwrap_or(&path)
                .display()
                .to_string();
            let text = std::fs::read_to_string(&path).expect("a source file is readable");
            (module, name, text)
        })
        .collect()
}

#[test]
fn the_library_layers_hold() {
    let files = library();
    let lib = &files.iter().find(|(m, _, _)| m.is_empty()).unwrap().2;
    let aliases = root_aliases(lib);
    for name in ["sweep", "verify", "reconstruct", "codec", "null"] {
        assert!(
            aliases.contains_key(name),
            "the root's re-export of {name} was not read"
        );
    }
    assert!(files.len() > 40, "found only {} source files", files.len());
    let found = violations(&files);
    assert!(found.is_empty(), "layering broken:\n{}", found.join("\n"));
}

#[test]
fn an_upward_import_or_a_cycle_is_caught() {
    let with = |module: &[&str], code: &str| {
        let mut files = library();
        let (_, _, text) = files
            .iter_mut()
            .find(|(m, _, _)| m.iter().map(String::as_str).eq(module.iter().copied()))
            .expect("the module exists");
        text.insert_str(0, code);
        violations(&files)
    };
    // An upward import through the root's re-export, as `use crate::plot::Window` once was.
    let up = with(&["steps", "collisions"], "use crate::sweep::Plan;\n");
    assert!(
        up.iter()
            .any(|v| v.contains("crate::sweep is the root's re-export")),
        "{up:?}"
    );
    assert!(
        up.iter()
            .any(|v| v.contains("steps::collisions (layer 3) uses experiments::sweep")),
        "{up:?}"
    );
    // A nested use tree, resolved through `super`.
    let nested = with(&["sgd"], "use super::{grid, pipeline::{verify::X}};\n");
    assert!(
        nested.iter().any(|v| v.contains("uses pipeline::verify")),
        "{nested:?}"
    );
    // A cycle inside the steps layer: the walk back uses the codec, never the reverse.
    let cycle = with(
        &["steps", "codec"],
        "fn f() { crate::reconstruct::analyse(); }\n",
    );
    assert!(
        cycle
            .iter()
            .any(|v| v.starts_with("a cycle") && v.contains("steps::reconstruct")),
        "{cycle:?}"
    );
    // Comments, strings and test modules do not count.
    let quiet = with(
        &["grid"],
        "// use crate::sweep;\nconst S: &str = \"crate::sweep::x\";\n#[cfg(test)]\nmod tests {\n    use crate::sweep;\n}\n",
    );
    assert!(quiet.is_empty(), "{quiet:?}");
}
