//! `airlock man`: the manual pages (roff), one per command, made from the
//! same definitions as `--help`.

use anyhow::Context;
use std::path::Path;

/// Writes `airlock.1` and `airlock-COMMAND[-SUBCOMMAND].1` into `out_dir`.
pub fn run(out_dir: &Path) -> anyhow::Result<i32> {
    let n = write(out_dir)?;
    println!("wrote {n} manual pages to {}", out_dir.display());
    Ok(0)
}

fn write(out_dir: &Path) -> anyhow::Result<usize> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let cmd = <crate::Cli as clap::CommandFactory>::command();
    // One page per command in the tree; the directory may hold other
    // programs' pages (PREFIX/share/man/man1), which are not ours to count.
    let n = pages(&cmd);
    clap_mangen::generate_to(cmd, out_dir)
        .with_context(|| format!("cannot write the manual pages to {}", out_dir.display()))?;
    Ok(n)
}

/// The pages `generate_to` writes for `cmd`: itself and every visible
/// subcommand, recursively.
fn pages(cmd: &clap::Command) -> usize {
    1 + cmd
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(pages)
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_gets_a_page_with_its_help() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("someone-else.1"), "").unwrap();
        let n = write(dir.path()).unwrap();
        assert!(n > 50, "{n} pages");
        let on_disk = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(n + 1, on_disk, "only our pages are counted");
        let root = std::fs::read_to_string(dir.path().join("airlock.1")).unwrap();
        assert!(root.contains(".TH airlock 1"), "{root}");
        let page = std::fs::read_to_string(dir.path().join("airlock-iam-create-user.1")).unwrap();
        assert!(page.contains("\\-\\-user\\-name"), "{page}");
        assert!(dir.path().join("airlock-ssm-start-session.1").exists());
    }
}
