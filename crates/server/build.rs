//! Vendors xterm.js for the web console at build time: `npm ci` of the
//! pinned `web/package-lock.json` into `OUT_DIR`, whose files `console::assets`
//! embeds. Without npm (or the registry), the build still succeeds with a
//! warning, and the console's terminal says what is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The vendored files `console::assets` embeds, under `node_modules/`.
const FILES: &[&str] = &[
    "@xterm/xterm/lib/xterm.js",
    "@xterm/xterm/css/xterm.css",
    "@xterm/xterm/LICENSE",
    "@xterm/addon-fit/lib/addon-fit.js",
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let web = manifest.join("../../web");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("vendor");
    for f in ["package.json", "package-lock.json"] {
        println!("cargo:rerun-if-changed={}", web.join(f).display());
    }
    println!("cargo:rerun-if-env-changed=AIRLOCK_NPM");
    let modules = out.join("node_modules");
    if let Err(why) = npm_ci(&web, &out) {
        println!(
            "cargo:warning=xterm.js was not vendored ({why}); the web console's terminal will not work: install npm and rebuild"
        );
        for f in FILES {
            let p = modules.join(f);
            if !p.exists() {
                write_stub(&p, f);
            }
        }
    }
}

fn npm_ci(web: &Path, out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    for f in ["package.json", "package-lock.json"] {
        std::fs::copy(web.join(f), out.join(f)).map_err(|e| format!("copying {f}: {e}"))?;
    }
    let npm = std::env::var("AIRLOCK_NPM").unwrap_or_else(|_| "npm".into());
    let status = Command::new(&npm)
        .args([
            "ci",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .current_dir(out)
        .status()
        .map_err(|e| format!("cannot run {npm}: {e}"))?;
    if !status.success() {
        return Err(format!("`{npm} ci` failed with {status}"));
    }
    for f in FILES {
        if !out.join("node_modules").join(f).exists() {
            return Err(format!("`{npm} ci` did not install {f}"));
        }
    }
    Ok(())
}

fn write_stub(p: &Path, name: &str) {
    if let Some(d) = p.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    let body = if name.ends_with(".js") {
        "/* not vendored: this airlock was built without npm */\n"
    } else {
        ""
    };
    let _ = std::fs::write(p, body);
}
