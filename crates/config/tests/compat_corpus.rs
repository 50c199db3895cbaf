//! Every INI file of the ParallelCluster corpus (copied from
//! /work/shared/compat/parallelcluster, Apache-2.0) parses, and loads
//! through the v2 front end without a panic.

#[path = "support/oracle.rs"]
mod oracle;

use std::fs;
use std::path::{Path, PathBuf};

use airlock_config::ini;
use airlock_config::v2::{LoadOptions, load_str};

/// ParallelCluster's own tests render a few corpus files as Jinja templates
/// first. Render `{% if v %}..{% endif %}` (every variable is set) and
/// `{{ v }}` (replaced by `v`'s name) the same way.
fn render(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("{%") && t.ends_with("%}") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("{{") {
            out.push_str(&rest[..i]);
            match rest[i..].find("}}") {
                Some(j) => {
                    out.push_str(rest[i + 2..i + j].trim());
                    rest = &rest[i + j + 2..];
                }
                None => {
                    out.push_str(&rest[i..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

fn read(p: &Path) -> String {
    let text = fs::read_to_string(p).expect("utf-8 file");
    if text.contains("{%") {
        render(&text)
    } else {
        text
    }
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn ini_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![corpus()];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).expect("corpus directory").flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "ini") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn corpus_is_present() {
    // 14 v2 files, 7 SIT-to-HIT files, 9 converter inputs.
    assert_eq!(ini_files().len(), 30);
}

#[test]
fn every_corpus_ini_parses() {
    for p in ini_files() {
        let text = read(&p);
        if let Err(e) = ini::parse(&text) {
            panic!("{}:{}:{}: {e}", p.display(), e.span.line, e.span.col);
        }
    }
}

#[test]
fn every_corpus_ini_loads_into_a_model_when_its_template_exists() {
    for p in ini_files() {
        let text = read(&p);
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("corpus");
        let r = load_str(&text, &LoadOptions::new(name));
        for d in &r.diagnostics {
            // Rendering must work for every diagnostic.
            assert!(d.to_string().contains(&d.message));
        }
        let has_template = r
            .diagnostics
            .iter()
            .all(|d| !d.message.starts_with("Section '[cluster "));
        if has_template {
            assert!(r.model.is_some(), "{name}: no model");
        }
    }
}

#[test]
fn sit_to_hit_inputs_and_outputs_describe_the_same_queue() {
    let dir = corpus().join("v2-sit-to-hit");
    for case in ["test_slurm_sit_full", "test_slurm_sit_simple"] {
        let read = |suffix: &str| {
            fs::read_to_string(dir.join(format!("{case}__{suffix}.ini"))).expect("file")
        };
        // The converter's tests name the template on the command line.
        let template = case.trim_start_matches("test_").replace('_', "-");
        let opts = |name| LoadOptions {
            template: Some(&template),
            ..LoadOptions::new(name)
        };
        let sit = load_str(&read("pcluster.config"), &opts("sit"))
            .model
            .expect("sit model");
        let hit = load_str(&read("expected_output"), &opts("hit"))
            .model
            .expect("hit model");
        let summary = |m: &airlock_config::ClusterModel| {
            m.queues
                .iter()
                .map(|q| {
                    let cr = &q.compute_resources[0];
                    (
                        q.name.clone(),
                        q.compute_type.value,
                        cr.instance_type.value.clone(),
                        cr.min_count.value,
                        cr.max_count.value,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(summary(&sit), summary(&hit), "{case}");
        assert_eq!(sit.cluster_user.value, hit.cluster_user.value);
    }
}

#[test]
fn every_corpus_ini_reads_as_python_configparser_reads_it() {
    if !oracle::python_available() {
        return;
    }
    for p in ini_files() {
        let text = read(&p);
        assert_eq!(
            oracle::rust(&text),
            oracle::python(&text),
            "{}",
            p.display()
        );
    }
}

#[test]
fn jinja_blocks_are_rendered_before_parsing() {
    let t = render("[c]\n{% if x %}\nk = {{ x }}\n{% endif %}\n");
    assert_eq!(t, "[c]\nk = x\n");
}
