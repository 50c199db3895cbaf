//! INI front end: parse, interpolate every value, load as v2, render every
//! diagnostic. Must never panic, on any input.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ini) = airlock_config::ini::parse(text) {
        for s in &ini.sections {
            for k in ini.options(&s.name) {
                let _ = ini.get(&s.name, k);
            }
        }
        for e in &ini.defaults {
            let _ = ini.get("DEFAULT", &e.key);
        }
    }
    let report = airlock_config::v2::load_str(text, &airlock_config::v2::LoadOptions::new("fuzz"));
    for d in &report.diagnostics {
        let _ = d.to_string();
    }
    if let Some(m) = &report.model {
        let _ = serde_json_len(m);
    }
});

fn serde_json_len(m: &airlock_config::ClusterModel) -> usize {
    format!("{m:?}").len()
}
