//! Fuzz the YAML front end and the v3 loader: any bytes must give a model
//! or diagnostics, never a panic, and a scalar emitted by the YAML writer
//! must read back as the same string.
#![no_main]

use airlock_config::v3::{LoadOptions, load_str};
use airlock_config::yaml::{self, Value, emit};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let report = load_str(text, &LoadOptions::new("fuzz.yaml"));
    for d in &report.diagnostics {
        let _ = d.to_string();
    }
    // Writer round trip: the text as a string value.
    let doc = emit::to_yaml(&emit::Out::Map(vec![(
        "k".into(),
        emit::Out::Str(text.to_string()),
    )]));
    match yaml::parse(&doc) {
        Ok(n) => assert_eq!(
            n.get("k").map(|v| &v.value),
            Some(&Value::Str(text.to_string())),
            "{doc:?}"
        ),
        Err(e) => panic!("emitted YAML does not parse: {e}: {doc:?}"),
    }
});
