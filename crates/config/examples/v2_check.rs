//! Print the diagnostics the v2 front end gives for INI files:
//! `cargo run -p airlock-config --example v2_check -- FILE...`.

fn main() {
    for path in std::env::args().skip(1) {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let r = airlock_config::v2::load_str(&text, &airlock_config::v2::LoadOptions::new(&path));
        for d in &r.diagnostics {
            println!("{d}\n");
        }
        println!(
            "{path}: {} error(s), {} warning(s)",
            r.error_count(),
            r.warning_count()
        );
    }
}
