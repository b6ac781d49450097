//! The shape of the code, checked from its source: which layer each module
//! of `src/` belongs to, that imports only point down (see
//! ARCHITECTURE.md), that no file grows past 450 lines, and that nothing
//! reads the system time outside `clock.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may use its own layer (without a
/// cycle) and the ones below; every top-level module of `src/` is listed.
const LAYERS: &[&[&str]] = &[
    // Pure rules and small shared tools.
    &["domain", "clock", "util", "metrics", "test_hooks"],
    // Adapters: the database and the outside world.
    &["store", "clients"],
    // What sits on adapters: simulated clients, cached answers, settings,
    // the node's boot script.
    &["sandbox", "cache", "config", "bootstrap"],
    // The shared state and the error every use case returns.
    &["app", "error"],
    // Use cases.
    &["ops", "pricing"],
    &["jobs"],
    // Delivery.
    &["web", "scheduler"],
    &["server", "cli"],
];

/// Modules the lowest layers must never name.
const NEVER_FROM_BELOW: &[&str] = &[
    "web",
    "jobs",
    "cache",
    "app",
    "ops",
    "pricing",
    "scheduler",
    "server",
    "cli",
];

fn src() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The top-level module a file of `src/` belongs to (`None`: lib.rs, main.rs).
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// The top-level modules a source text names through `crate::`.
fn uses(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = ident(part.trim());
                if !name.is_empty() && name != "self" {
                    found.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

fn layer_of(m: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&m))
}

/// Module → modules it uses, with one file for each edge (for messages).
fn edges() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let mut g: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for f in rust_files(&src()) {
        let Some(m) = module_of(&f) else { continue };
        let text = std::fs::read_to_string(&f).unwrap();
        let to = g.entry(m.clone()).or_default();
        for u in uses(&text) {
            if u != m {
                to.entry(u).or_insert_with(|| f.clone());
            }
        }
    }
    g
}

#[test]
fn every_module_has_a_layer_and_imports_point_down() {
    let g = edges();
    let unplaced: Vec<&String> = g.keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "modules without a layer (add them to LAYERS and ARCHITECTURE.md): {unplaced:?}"
    );
    let mut up = Vec::new();
    for (from, to) in &g {
        for (m, file) in to {
            let (Some(a), Some(b)) = (layer_of(from), layer_of(m)) else {
                continue;
            };
            if b > a {
                up.push(format!("{from} -> {m} ({})", file.display()));
            }
        }
    }
    // The layering allows none; the bound was three.
    assert!(up.is_empty(), "imports that point up: {up:#?}");
}

#[test]
fn domain_store_and_clients_never_name_what_sits_above_them() {
    let g = edges();
    let mut bad = Vec::new();
    for low in ["domain", "store", "clients"] {
        for (m, file) in g.get(low).into_iter().flatten() {
            if NEVER_FROM_BELOW.contains(&m.as_str()) {
                bad.push(format!("{low} -> {m} ({})", file.display()));
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn there_is_no_import_cycle_between_modules() {
    let g = edges();
    // Depth-first search for a back edge, with the path that closes it.
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeMap<String, PathBuf>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for next in g.get(m).into_iter().flat_map(|t| t.keys()) {
            if let Some(c) = visit(next, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in g.keys() {
        if let Some(cycle) = visit(m, &g, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_layer_check_sees_grouped_and_nested_imports() {
    let found =
        uses("use crate::{app::AppState, web};\nfn f() { crate::jobs::run(); } // crate::cli\n");
    assert_eq!(
        found,
        ["app", "jobs", "web"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}

#[test]
fn no_source_file_is_longer_than_450_lines() {
    let long: Vec<String> = rust_files(&src())
        .into_iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(&f).unwrap().lines().count();
            (n > 450).then(|| format!("{}: {n} lines", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these: {long:#?}");
}

#[test]
fn nothing_reads_the_system_time_outside_the_clock() {
    let mut offenders = Vec::new();
    for path in rust_files(&src()) {
        if path.file_name().unwrap() == "clock.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for needle in [
            "Utc::now",
            "Local::now",
            "SystemTime::now",
            "Instant::now",
            "UNIX_EPOCH",
        ] {
            if text.contains(needle) {
                offenders.push(format!("{}: {needle}", path.display()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:?}");
}
