//! The runtime's dependency direction, as drawn in `docs/architecture.md`:
//! data → bus/cluster → hub → handles → router/system/connection → server.
//!
//! Reads `src/**/*.rs`, collects every `crate::…` path outside comments and strings,
//! resolves it to the module it names (through the crate root's `pub use` lines for
//! root items such as `crate::Server`) and fails on a reference from a module to a
//! higher layer. Every module must be placed in a layer. `super::` paths are not
//! followed: they stay inside a module and its submodules.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

mod common;
use common::rust_files;

/// Layers, lowest first. A module is placed by the longest prefix listed.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "data",
        &[
            "auth::token",
            "auth::user",
            "clients",
            "cluster::view",
            "config",
            "contract",
            "events",
            "frame",
            "health",
            "limits",
            "lock",
            "metrics",
            "outbox",
            "flow",
            "protocol",
            "push",
            "read_stage",
            "rooms",
            "route",
            "route_stats",
            "state",
            "trace",
            "util",
        ],
    ),
    (
        "bus/cluster",
        &["bus", "cluster", "history", "redis_target"],
    ),
    ("hub", &["hub", "presence"]),
    ("handles", &["handles", "hooks", "service", "ws_service"]),
    (
        "router/system/connection",
        &[
            "auth",
            "client",
            "client_list",
            "connection",
            "contract::collect",
            "admin",
            "router",
            "subscribers",
            "system",
            "upgrade",
        ],
    ),
    (
        "server",
        &[
            "accept",
            "admin::page",
            "contract::serve",
            "scrape",
            "server",
        ],
    ),
    ("test", &["test"]),
];

/// Back edges that remain, each with its reason. An entry that is no longer needed
/// fails the test too, so the list only shrinks.
const KNOWN_BACK_EDGES: &[(&str, &str, &str)] = &[];

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    let mut best: Option<(usize, usize, &'static str)> = None;
    for (i, (name, prefixes)) in LAYERS.iter().enumerate() {
        for p in prefixes.iter() {
            let hit = module == *p || module.starts_with(&format!("{p}::"));
            if hit && best.is_none_or(|(len, _, _)| p.len() > len) {
                best = Some((p.len(), i, name));
            }
        }
    }
    best.map(|(_, i, name)| (i, name))
}

/// `src/a/b.rs` → `a::b`, `src/a/mod.rs` → `a`, `src/lib.rs` → ``.
fn module_path(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

/// The text without `//` comments (doc comments and their examples included) and
/// without string literals' contents, so neither can make an edge.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = '\0';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_str {
                if c == '"' && prev != '\\' {
                    in_str = false;
                }
                prev = if prev == '\\' && c == '\\' { '\0' } else { c };
                continue;
            }
            if c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\'' {
                in_str = true;
                prev = '\0';
                out.push(' ');
                continue;
            }
            out.push(c);
            prev = c;
        }
        out.push('\n');
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path that starts with `head::` in `code`, as its segments.
fn paths_after<'a>(code: &'a str, head: &str) -> Vec<Vec<&'a str>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(pos) = code[from..].find(head) {
        let start = from + pos;
        from = start + head.len();
        let before = code[..start].chars().next_back();
        if before.is_some_and(|c| is_ident(c) || c == '$' || c == ':') {
            continue;
        }
        let rest = &code[from..];
        assert!(
            !rest.starts_with('{'),
            "write `use {head}module::…` once per module, not `{head}{{…}}`"
        );
        let mut segs = Vec::new();
        let mut s = rest;
        loop {
            let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
            if end == 0 {
                break;
            }
            segs.push(&s[..end]);
            s = &s[end..];
            if let Some(next) = s.strip_prefix("::") {
                s = next;
            } else {
                break;
            }
        }
        found.push(segs);
    }
    found
}

/// Root items re-exported by `lib.rs` (`pub use module::{A, B};`) → their module.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let code = code_only(lib);
    let mut map = BTreeMap::new();
    let mut rest = code.as_str();
    while let Some(pos) = rest.find("pub use ") {
        let stmt_start = pos + "pub use ".len();
        let end = rest[stmt_start..].find(';').unwrap() + stmt_start;
        let stmt: String = rest[stmt_start..end].split_whitespace().collect();
        rest = &rest[end..];
        let (module, items) = match stmt.split_once("::{") {
            Some((m, items)) => (m.to_owned(), items.trim_end_matches('}').to_owned()),
            None => match stmt.rsplit_once("::") {
                Some((m, item)) => (m.to_owned(), item.to_owned()),
                None => continue,
            },
        };
        for item in items.split(',').filter(|i| !i.is_empty()) {
            let name = item.rsplit("::").next().unwrap();
            let prefix = item.rsplit_once("::").map(|(p, _)| format!("::{p}"));
            map.insert(
                name.to_owned(),
                format!("{module}{}", prefix.unwrap_or_default()),
            );
        }
    }
    map
}

/// The module `segs` (relative to the crate root) names: its longest prefix that is a
/// module; a root item through the re-export map; `None` for anything else.
fn resolve(
    segs: &[&str],
    modules: &BTreeSet<String>,
    reexports: &BTreeMap<String, String>,
) -> Option<String> {
    for n in (1..=segs.len()).rev() {
        let candidate = segs[..n].join("::");
        if modules.contains(&candidate) {
            return Some(candidate);
        }
    }
    let target = reexports.get(*segs.first()?)?;
    let parts: Vec<&str> = target.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|c| modules.contains(c))
}

/// `(from, to)` → one file and line where the reference is written.
fn edges(src: &Path) -> BTreeMap<(String, String), String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let modules: BTreeSet<String> = files.iter().map(|f| module_path(src, f)).collect();
    let reexports = root_reexports(&fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut edges = BTreeMap::new();
    for file in &files {
        let from = module_path(src, file);
        if from.is_empty() {
            continue; // the crate root declares and re-exports; it is no layer
        }
        let code = code_only(&fs::read_to_string(file).unwrap());
        let refs = paths_after(&code, "crate::");
        for segs in refs {
            let Some(to) = resolve(&segs, &modules, &reexports) else {
                continue;
            };
            if to == from
                || to.starts_with(&format!("{from}::"))
                || from.starts_with(&format!("{to}::"))
            {
                continue; // a module and its own submodules
            }
            let line = code
                .lines()
                .position(|l| l.contains(&segs.join("::")))
                .map(|n| n + 1)
                .unwrap_or(0);
            edges
                .entry((from.clone(), to))
                .or_insert_with(|| format!("{}:{line}", file.display()));
        }
    }
    edges
}

#[test]
fn every_module_depends_only_on_its_own_or_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let unplaced: Vec<String> = files
        .iter()
        .map(|f| module_path(&src, f))
        .filter(|m| !m.is_empty() && layer_of(m).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules without a layer (add them to LAYERS and to docs/architecture.md): {unplaced:?}"
    );

    let edges = edges(&src);
    assert!(
        edges.len() > 50,
        "the scan found only {} edges: is it reading the sources?",
        edges.len()
    );
    let mut back = Vec::new();
    let mut known_used = BTreeSet::new();
    for ((from, to), at) in &edges {
        let (lf, nf) = layer_of(from).unwrap();
        let (lt, nt) = layer_of(to).unwrap();
        if lt <= lf {
            continue;
        }
        if let Some(k) = KNOWN_BACK_EDGES
            .iter()
            .position(|(f, t, _)| f == from && t == to)
        {
            known_used.insert(k);
            continue;
        }
        back.push(format!("{from} ({nf}) -> {to} ({nt}) at {at}"));
    }
    assert!(
        back.is_empty(),
        "references to a higher layer:\n  {}",
        back.join("\n  ")
    );
    let stale: Vec<_> = KNOWN_BACK_EDGES
        .iter()
        .enumerate()
        .filter(|(i, _)| !known_used.contains(i))
        .map(|(_, (f, t, _))| format!("{f} -> {t}"))
        .collect();
    assert!(
        stale.is_empty(),
        "these known back edges are gone; remove them from KNOWN_BACK_EDGES: {stale:?}"
    );
}

#[test]
fn the_scanner_sees_paths_and_ignores_comments_and_strings() {
    let code = code_only(
        "use crate::hub::Hub; // crate::server\n/// [`x`](crate::server::Y)\nlet s = \"crate::server\";\n$crate::server; a::crate::no",
    );
    let found: Vec<Vec<&str>> = paths_after(&code, "crate::");
    assert_eq!(found, vec![vec!["hub", "Hub"]]);
    let lib = "pub use service::{Frame, Server};\npub use bus::RedisBus;\npub mod __private {\n    pub use crate::auth::authorize;\n}";
    let map = root_reexports(lib);
    assert_eq!(map.get("Server").map(String::as_str), Some("service"));
    assert_eq!(map.get("RedisBus").map(String::as_str), Some("bus"));
    assert_eq!(layer_of("auth::user"), Some((0, "data")));
    assert_eq!(
        layer_of("auth::session"),
        Some((4, "router/system/connection"))
    );
    assert_eq!(layer_of("cluster::view"), Some((0, "data")));
    assert_eq!(layer_of("cluster"), Some((1, "bus/cluster")));
}
