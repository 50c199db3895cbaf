//! The crate graph of docs/ARCHITECTURE.md, checked against `cargo
//! metadata`: which workspace crate may use which, that the pure crates stay
//! free of tokio, that the server links no agent (nor `pty-process`) and
//! that the `airlock` binary links no server (nor axum or SQLite).

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

/// Each workspace crate and the workspace crates it may depend on.
const ALLOWED: &[(&str, &[&str])] = &[
    ("airlock-config", &[]),
    ("airlock-policy", &[]),
    ("airlock-wire", &[]),
    ("airlock-proto", &[]),
    ("airlock-transport", &["airlock-wire", "airlock-proto"]),
    ("airlock-cluster", &["airlock-config", "airlock-proto"]),
    (
        "airlock-agent",
        &["airlock-wire", "airlock-proto", "airlock-transport"],
    ),
    (
        "airlock-agent-sim",
        &["airlock-agent", "airlock-proto", "airlock-transport"],
    ),
    (
        "airlock-server",
        &[
            "airlock-config",
            "airlock-policy",
            "airlock-wire",
            "airlock-proto",
            "airlock-transport",
            "airlock-cluster",
        ],
    ),
    (
        "airlock-cli",
        &[
            "airlock-config",
            "airlock-policy",
            "airlock-wire",
            "airlock-proto",
            "airlock-transport",
            "airlock-agent",
            "airlock-cluster",
        ],
    ),
];

struct Graph {
    names: HashMap<String, String>,
    /// Normal (and build) dependencies by package id.
    deps: HashMap<String, Vec<String>>,
}

impl Graph {
    fn load() -> Graph {
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
        // This host's platform only: other platforms' crates (Windows ones)
        // are not in a fresh machine's cache, and nothing here builds them.
        let version = std::process::Command::new(env!("CARGO"))
            .arg("-vV")
            .output()
            .expect("run cargo -vV");
        let host = String::from_utf8_lossy(&version.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
            .expect("cargo -vV names the host");
        let out = std::process::Command::new(env!("CARGO"))
            .args([
                "metadata",
                "--format-version",
                "1",
                "--offline",
                "--filter-platform",
                &host,
                "--manifest-path",
            ])
            .arg(manifest)
            .output()
            .expect("run cargo metadata");
        assert!(
            out.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
        let names = m["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .map(|p| {
                (
                    p["id"].as_str().unwrap().to_owned(),
                    p["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let deps = m["resolve"]["nodes"]
            .as_array()
            .expect("resolve")
            .iter()
            .map(|n| {
                let normal = n["deps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| {
                        d["dep_kinds"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|k| k["kind"].is_null() || k["kind"].as_str() == Some("build"))
                    })
                    .map(|d| d["pkg"].as_str().unwrap().to_owned())
                    .collect();
                (n["id"].as_str().unwrap().to_owned(), normal)
            })
            .collect();
        Graph { names, deps }
    }

    fn id(&self, name: &str) -> String {
        self.names
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(i, _)| i.clone())
            .unwrap_or_else(|| panic!("no package {name}"))
    }

    fn direct(&self, name: &str) -> BTreeSet<String> {
        self.deps[&self.id(name)]
            .iter()
            .map(|d| self.names[d].clone())
            .collect()
    }

    /// Every package `name` links, directly or not.
    fn links(&self, name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![self.id(name)];
        while let Some(id) = todo.pop() {
            for d in &self.deps[&id] {
                if seen.insert(self.names[d].clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    }
}

#[test]
fn workspace_crates_depend_only_downward() {
    let g = Graph::load();
    let workspace: BTreeSet<&str> = ALLOWED.iter().map(|(n, _)| *n).collect();
    for (name, allowed) in ALLOWED {
        let ours: BTreeSet<String> = g
            .direct(name)
            .into_iter()
            .filter(|d| d.starts_with("airlock-"))
            .collect();
        for d in &ours {
            assert!(
                workspace.contains(d.as_str()),
                "{d} is not in ALLOWED: add it with its layer"
            );
            assert!(
                allowed.contains(&d.as_str()),
                "{name} depends on {d}, which docs/ARCHITECTURE.md's layering does not allow"
            );
        }
    }
    let members: BTreeSet<String> = g
        .names
        .values()
        .filter(|n| n.starts_with("airlock-"))
        .cloned()
        .collect();
    let listed: BTreeSet<String> = workspace.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        members, listed,
        "every workspace crate has a row in ALLOWED"
    );
}

#[test]
fn the_pure_crates_link_no_tokio_and_no_io_crates() {
    let g = Graph::load();
    for name in ["airlock-config", "airlock-policy", "airlock-wire"] {
        let links = g.links(name);
        for io in ["tokio", "mio", "rustls", "rusqlite", "nix"] {
            assert!(!links.contains(io), "{name} links {io}");
        }
    }
    assert!(
        !g.links("airlock-proto").contains("tokio"),
        "airlock-proto links tokio"
    );
}

#[test]
fn the_server_links_no_agent_and_the_cli_links_no_server() {
    let g = Graph::load();
    let server = g.links("airlock-server");
    for no in ["airlock-agent", "pty-process"] {
        assert!(!server.contains(no), "airlock-server links {no}");
    }
    let cli = g.links("airlock-cli");
    for no in ["airlock-server", "axum", "rusqlite", "r2d2"] {
        assert!(!cli.contains(no), "the airlock binary links {no}");
    }
}
