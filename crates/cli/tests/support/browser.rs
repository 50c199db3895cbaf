//! What the browser tests share: where the workspace and the screenshots
//! are, and whether chromium, node and playwright-core are here.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn artifacts() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap_or_else(|| Path::new("target"))
        .join("test-artifacts/console")
}

/// Why the browser test cannot run here, if it cannot.
pub fn missing_tools(browser_dir: &Path) -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!(
            "{chromium} is missing (apt-get install chromium, or scripts/install-deps.sh)"
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node is missing (apt-get install nodejs)".into());
    }
    if !browser_dir.join("node_modules/playwright-core").exists() {
        let installed = Command::new("npm")
            .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
            .current_dir(browser_dir)
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            return Some(format!(
                "playwright-core is not installed and `npm ci` in {} failed",
                browser_dir.display()
            ));
        }
    }
    None
}
