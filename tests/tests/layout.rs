//! The folder map in `docs/architecture.md` is the layout's contract: each crate may import
//! only the posmate crates its row names. This test reads the map and every crate's
//! `Cargo.toml`, so the map cannot drift from what cargo actually builds — and the outside
//! world (`sim/`) cannot start depending on the phone unnoticed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// `folder → the posmate crates (by folder) it may import`, from the map's table.
fn folder_map() -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(workspace().join("docs/architecture.md"))
        .expect("docs/architecture.md");
    let section = doc
        .split("## Folder map")
        .nth(1)
        .expect("docs/architecture.md has a '## Folder map' section");
    let mut map = BTreeMap::new();
    for line in section.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (folder, imports) = (cells[1], cells[3]);
        if !folder.starts_with("`") || !folder.ends_with("/`") {
            continue; // the header, its rule, and rows that are not one crate
        }
        let folder = folder.trim_matches('`').trim_end_matches('/').to_string();
        let allowed = if imports == "everything above" {
            map.keys().cloned().collect()
        } else {
            imports
                .split(',')
                .map(|c| c.trim().trim_matches('`').to_string())
                .filter(|c| !c.is_empty() && c != "nothing of posmate" && c != "—")
                .collect()
        };
        map.insert(folder, allowed);
    }
    map
}

/// The folders of the posmate crates `folder/Cargo.toml` depends on (any section).
fn imports(folder: &str) -> BTreeSet<String> {
    let manifest = std::fs::read_to_string(workspace().join(folder).join("Cargo.toml"))
        .unwrap_or_else(|e| panic!("{folder}/Cargo.toml: {e}"));
    let by_crate: BTreeMap<&str, &str> = [
        ("posmate-proto", "proto"),
        ("posmate-acquirer-api", "acquirer-api"),
        ("posmate-core", "core"),
        ("posmate-sim", "sim"),
        ("posmate-sim-world", "sim-world"),
        ("posmate-sim-ble", "sim-ble"),
        ("posmate-sandbox", "sandbox"),
    ]
    .into_iter()
    .collect();
    manifest
        .lines()
        .filter_map(|l| l.split(['=', '.', ' ']).next())
        .filter_map(|name| by_crate.get(name.trim()).map(|f| f.to_string()))
        .collect()
}

#[test]
fn every_crate_imports_only_what_the_folder_map_allows() {
    let map = folder_map();
    for crate_folder in [
        "proto",
        "acquirer-api",
        "core",
        "sim",
        "sim-world",
        "sim-ble",
        "sandbox",
        "bindings",
        "cli",
        "tests",
        "ble-tests",
        "fuzz",
        "xtask",
    ] {
        let allowed = map.get(crate_folder).unwrap_or_else(|| {
            panic!("docs/architecture.md's folder map has no `{crate_folder}/` row")
        });
        let actual = imports(crate_folder);
        let extra: Vec<_> = actual.difference(allowed).collect();
        assert!(
            extra.is_empty(),
            "{crate_folder}/ imports {extra:?}, which the folder map does not allow"
        );
    }
}

#[test]
fn the_outside_world_builds_without_the_phone() {
    let sim = imports("sim");
    assert!(
        !sim.contains("core") && !sim.contains("sim-world"),
        "{sim:?}"
    );
    assert_eq!(
        folder_map()["sim"],
        ["proto", "acquirer-api"].map(String::from).into(),
    );
    // The sandbox acquirer is the outside world too: a network peer of the phone.
    let sandbox = imports("sandbox");
    assert!(
        !sandbox.contains("core") && !sandbox.contains("sim-world"),
        "{sandbox:?}"
    );
}
