//! No input makes the INI parser, interpolation, the v2 loader or the
//! diagnostic renderer panic; and work stays proportional to the input.

use std::time::{Duration, Instant};

use airlock_config::ini;
use airlock_config::v2::{LoadOptions, load_str};
use proptest::prelude::*;

fn exercise(text: &str) {
    if let Ok(parsed) = ini::parse(text) {
        for s in &parsed.sections {
            for k in parsed.options(&s.name) {
                let _ = parsed.get(&s.name, k);
            }
        }
    }
    let r = load_str(text, &LoadOptions::new("p"));
    for d in &r.diagnostics {
        assert!(d.to_string().contains(&d.message));
    }
}

/// Lines that look like the configuration, so the loader gets deep.
fn config_like() -> impl Strategy<Value = String> {
    let line = prop::sample::select(vec![
        "[global]",
        "[cluster default]",
        "[vpc default]",
        "[queue q]",
        "[compute_resource r]",
        "[DEFAULT]",
        "cluster_template = default",
        "sanity_check = false",
        "scheduler = slurm",
        "base_os = alinux2",
        "vpc_settings = default",
        "queue_settings = q",
        "compute_resource_settings = r",
        "instance_type = c5.large",
        "vpc_id = vpc-12345678",
        "master_subnet_id = subnet-12345678",
        "max_count = 0",
        "min_count = -1",
        "tags = {\"Version\": 1}",
        "ebs_settings = e",
        "[ebs e]",
        "volume_type = io1",
        "volume_iops = 99999",
        "x = %(x)s",
        "y = %(x)s%%",
        "  continued",
        "é = ü",
        "queue_settings = q,q",
        "additional_iam_policies = a,,b",
    ]);
    prop::collection::vec(line, 0..40).prop_map(|l| l.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        exercise(&text);
    }

    #[test]
    fn config_like_text_never_panics(text in config_like()) {
        exercise(&text);
    }
}

#[test]
fn interpolation_bomb_is_bounded() {
    let mut t = String::from("[cluster default]\nk9 = xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n");
    for i in (0..9).rev() {
        t.push_str(&format!(
            "k{i} = {}\n",
            format!("%(k{})s", i + 1).repeat(30)
        ));
    }
    let start = Instant::now();
    exercise(&t);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn long_lines_and_many_comment_prefixes_stay_fast() {
    let line = format!("[s]\nk = {}\n", "a;".repeat(200_000));
    let start = Instant::now();
    exercise(&line);
    let many = "[s]\n".to_string()
        + &(0..20_000)
            .map(|i| format!("k{i} = v # c\n"))
            .collect::<String>();
    exercise(&many);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
}
