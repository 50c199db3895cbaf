//! The console's clusters page in a real browser against a real cluster
//! (needs root, chromium and node): the stack status and Slurm's node
//! states as `sinfo` shows them, with one node powered up by a job.

mod clusters;
mod support;

use std::process::Command;

use clusters::Lab;
use support::browser::{artifacts, missing_tools, workspace};
use support::wait_for;

#[test]
#[ignore = "needs root"]
fn the_clusters_page_shows_stack_status_and_slurm_node_states() {
    clusters::require();
    let browser_dir = workspace().join("tests/browser");
    if let Some(why) = missing_tools(&browser_dir) {
        panic!("the clusters page test needs {why}");
    }
    let _root = support::root_lock();
    let lab = Lab::start();
    let env = &lab.env;
    lab.import_key("sandbox-key-useast1");
    let seed = workspace().join("examples/ssm.ini");
    env.ok(&["create", "web", "-c", seed.to_str().unwrap()]);
    lab.wait_online("web/head");
    lab.exec(
        "web/head",
        "cd ~ubuntu && sudo -u ubuntu sbatch --wrap 'sleep 120'",
    );
    wait_for(30, "a node to power up", || {
        lab.exec("web/head", "sinfo -h -o '%t %N'")
            .contains("spot1-dy-c5large-1")
            .then_some(())
    });
    // The fleet manager refreshes the cached view every second here.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let link = env.ok(&["console"]).trim().to_owned();
    std::fs::create_dir_all(artifacts()).unwrap();
    let shot = artifacts().join("clusters-live.png");
    let o = Command::new("node")
        .arg("clusters.test.mjs")
        .current_dir(&browser_dir)
        .env("SIGNIN", &link)
        .env("SHOT", &shot)
        .output()
        .expect("node");
    let page = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{page}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        page.contains("Stack airlock-web: CREATE_COMPLETE"),
        "{page}"
    );
    assert!(
        page.contains("PARTITION AVAIL  TIMELIMIT  NODES  STATE NODELIST"),
        "{page}"
    );
    assert!(page.contains("idle~ spot1-dy-c5large-[2-16]"), "{page}");
    assert!(page.contains("spot1-dy-c5large-1"), "{page}");
    assert!(shot.exists());
    env.ok(&["delete", "web"]);
}
