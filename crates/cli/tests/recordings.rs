//! Session recordings through a real server and agent on loopback: the
//! size cap (and what the session does at it), the audit trail of a cut,
//! and replay of recordings larger than one page.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{Env, Node, Server, node, wait_for};

/// What an interactive-command session printed and how it ended.
struct Run {
    session_id: String,
    stdout: Vec<u8>,
    code: Option<i32>,
    took: Duration,
}

/// Runs `command` as `AWS-StartInteractiveCommand`, killed after `limit`.
fn interactive(n: &Node, command: &str, limit: Duration) -> Run {
    let out = n.env.tmp.path().join("stdout");
    let err = n.env.tmp.path().join("stderr");
    let started = Instant::now();
    let mut child = n
        .env
        .cmd()
        .args([
            "session",
            "start",
            "--target",
            &n.id,
            "--document-name",
            "AWS-StartInteractiveCommand",
            "--parameters",
            &format!("command={command}"),
        ])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&err).unwrap();
    let session_id = stderr
        .split("SessionId: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no session id in {stderr:?}"))
        .to_owned();
    Run {
        session_id,
        stdout: std::fs::read(&out).unwrap(),
        code: status.and_then(|s| s.code()),
        took: started.elapsed(),
    }
}

fn cast_path(n: &Node, sid: &str) -> std::path::PathBuf {
    n.env
        .state_dir()
        .join("recordings")
        .join(format!("{sid}.cast"))
}

fn show(n: &Node, sid: &str) -> serde_json::Value {
    serde_json::from_str(&n.env.ok(&["session", "show", sid])).unwrap()
}

const MB: u64 = 1 << 20;

#[test]
fn a_recording_stops_at_its_size_cap_with_a_marker_and_an_audit_and_the_session_goes_on() {
    let n = node();
    let prefs = n
        .env
        .ok(&["session", "preferences", "--max-recording-size-mb", "1"]);
    assert!(prefs.contains("\"maxRecordingSizeMB\": \"1\""), "{prefs}");
    assert!(prefs.contains("\"recordingCapAction\": \"continue\""));
    // 8 MB of output against a 1 MB cap.
    let run = interactive(
        &n,
        "head -c 6000000 /dev/zero | base64; echo AFTER-$((6*7))",
        Duration::from_secs(120),
    );
    assert_eq!(run.code, Some(0), "took {:?}", run.took);
    let printed = String::from_utf8_lossy(&run.stdout);
    assert!(printed.len() > 8_000_000, "the client got all the output");
    assert!(
        printed.contains("AFTER-42"),
        "the session went on past the cap"
    );

    let cast = std::fs::read_to_string(cast_path(&n, &run.session_id)).unwrap();
    assert!(
        cast.len() as u64 <= MB,
        "the recording is {} bytes, over its 1 MB cap",
        cast.len()
    );
    assert!(cast.len() as u64 > MB / 2, "it recorded up to the cap");
    let last: serde_json::Value = serde_json::from_str(cast.lines().last().unwrap()).unwrap();
    assert_eq!(last[1], "m", "the recording ends with a marker: {last}");
    assert_eq!(last[2], "recording stopped: size cap 1 MB reached");
    assert!(
        !cast.contains("AFTER-42"),
        "nothing is recorded after the cut"
    );

    let audit = n.env.ok(&[
        "--json",
        "audit",
        "--action",
        "airlock:StopSessionRecording",
    ]);
    assert!(audit.contains(&run.session_id), "{audit}");
    assert!(
        audit.contains(&format!(
            "recording stopped: size cap 1 MB reached; {} bytes written; the session goes on unrecorded",
            cast.len()
        )),
        "{audit}"
    );
    let shown = show(&n, &run.session_id);
    assert_eq!(shown["RecordingStatus"], "Truncated", "{shown}");
    assert_eq!(
        shown["RecordingStatusReason"],
        "recording stopped: size cap 1 MB reached"
    );
    let played = n
        .env
        .ok(&["session", "replay", &run.session_id, "--play", "100000"]);
    assert!(played.ends_with("[recording stopped: size cap 1 MB reached]\r\n"));
}

#[test]
fn with_the_terminate_cap_action_a_session_ends_when_its_recording_is_cut() {
    let n = node();
    n.env.ok(&[
        "session",
        "preferences",
        "--max-recording-size-mb",
        "1",
        "--recording-cap-action",
        "terminate",
    ]);
    let run = interactive(
        &n,
        "head -c 20000000 /dev/zero | base64; sleep 60",
        Duration::from_secs(50),
    );
    assert!(
        run.code.is_some() && run.code != Some(0),
        "the session must end at the cut, not run on (exit {:?} after {:?})",
        run.code,
        run.took
    );
    let cast = std::fs::read_to_string(cast_path(&n, &run.session_id)).unwrap();
    assert!(cast.len() as u64 <= MB, "{} bytes", cast.len());
    assert!(cast.ends_with("\"recording stopped: size cap 1 MB reached\"]\n"));
    let shown = show(&n, &run.session_id);
    assert_eq!(shown["Status"], "Terminated", "{shown}");
    assert_eq!(shown["RecordingStatus"], "Truncated");
    let audit = n
        .env
        .ok(&["--json", "audit", "--action", "ssm:TerminateSession"]);
    assert!(
        audit.contains(&run.session_id)
            && audit.contains("recording stopped: size cap 1 MB reached"),
        "{audit}"
    );
}

#[test]
fn replay_streams_or_pages_a_recording_larger_than_one_page_byte_for_byte() {
    let n = node();
    // About 3.5 MB of recording: four API pages of 1 MiB.
    let run = interactive(
        &n,
        "head -c 2500000 /dev/urandom | base64",
        Duration::from_secs(120),
    );
    assert_eq!(run.code, Some(0));
    let path = cast_path(&n, &run.session_id);
    let on_disk = std::fs::read(&path).unwrap();
    assert!(on_disk.len() as u64 > 3 * MB, "{} bytes", on_disk.len());
    let shown = show(&n, &run.session_id);
    assert_eq!(shown["RecordingStatus"], "Complete", "{shown}");

    let replay = |extra: &[&str]| {
        let o = n
            .env
            .cmd()
            .args(["session", "replay", &run.session_id])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let streamed = replay(&[]);
    assert!(
        streamed == on_disk,
        "the streamed replay printed {} bytes of a {}-byte recording",
        streamed.len(),
        on_disk.len()
    );
    // 36 pages of at most 100 kB, each ending at a line end.
    let paged = replay(&["--page-size", "100000"]);
    assert!(
        paged == on_disk,
        "the paged replay printed {} bytes of a {}-byte recording",
        paged.len(),
        on_disk.len()
    );
    let played = replay(&["--play", "100000"]);
    assert!(
        played == run.stdout,
        "playing the recording gives back what the session printed ({} vs {} bytes)",
        played.len(),
        run.stdout.len()
    );
    let too_big = n.env.run(&[
        "session",
        "replay",
        &run.session_id,
        "--page-size",
        "2000000",
    ]);
    assert!(
        String::from_utf8_lossy(&too_big.stderr).contains("MaxBytes must be between 1 and 1048576")
    );
}

#[test]
fn a_recording_is_on_disk_while_the_session_runs_and_is_appended_to_after_a_server_restart() {
    let Node {
        env,
        server,
        agent: _agent,
        id,
    } = node();
    let err = env.tmp.path().join("restart-stderr");
    let mut child = env
        .cmd()
        .args([
            "session",
            "start",
            "--target",
            &id,
            "--document-name",
            "AWS-StartInteractiveCommand",
            "--parameters",
            "command=echo BEFORE-$((1+1)); sleep 8; echo AFTER-$((2+2))",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let sid = wait_for(20, "the session id", || {
        let e = std::fs::read_to_string(&err).ok()?;
        Some(
            e.split("SessionId: ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .to_owned(),
        )
    });
    let cast = env
        .state_dir()
        .join("recordings")
        .join(format!("{sid}.cast"));
    // Written as it passes: on disk within 2 s, while the session runs.
    wait_for(2, "the first output in the recording on disk", || {
        std::fs::read_to_string(&cast)
            .ok()?
            .contains("BEFORE-2")
            .then_some(())
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "the session still runs"
    );
    server.stop();
    let _server = Server::start(&env);
    let status = wait_for(60, "the session to finish after the restart", || {
        child.try_wait().ok().flatten()
    });
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&err).unwrap()
    );
    let text = std::fs::read_to_string(&cast).unwrap();
    assert!(
        text.contains("BEFORE-2"),
        "the restart truncated the recording:\n{text}"
    );
    assert!(
        text.contains("AFTER-4"),
        "nothing recorded after the restart:\n{text}"
    );
    assert_eq!(
        text.matches("\"version\":2").count(),
        1,
        "one header:\n{text}"
    );
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}

/// Peak RSS in KiB of `airlock ARGS` (GNU time's %M), and its stdout length.
fn peak_rss_kib(env: &Env, args: &[&str]) -> (u64, usize) {
    let base = env.cmd();
    let mut c = std::process::Command::new("/usr/bin/time");
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let o = c
        .args(["-f", "PEAK-KIB %M", support::airlock_bin()])
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    let kib = err
        .split("PEAK-KIB ")
        .nth(1)
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {err:?}"));
    (kib, o.stdout.len())
}

#[test]
#[ignore = "slow: records and replays 150 MB"]
fn a_150_mb_recording_replays_in_bounded_memory() {
    assert!(
        std::path::Path::new("/usr/bin/time").exists(),
        "needs GNU time (/usr/bin/time; scripts/install-deps.sh installs it)"
    );
    let n = node();
    n.env
        .ok(&["session", "preferences", "--max-recording-size-mb", "200"]);
    let run = interactive(
        &n,
        "head -c 120000000 /dev/zero | base64",
        Duration::from_secs(600),
    );
    assert_eq!(run.code, Some(0));
    let size = std::fs::metadata(cast_path(&n, &run.session_id))
        .unwrap()
        .len();
    assert!(size > 150 * MB, "{size} bytes");
    let (kib, printed) = peak_rss_kib(&n.env, &["session", "replay", &run.session_id]);
    eprintln!("replayed {size} bytes with a peak RSS of {kib} KiB");
    assert_eq!(printed as u64, size, "replay printed the whole recording");
    assert!(
        kib < 64 * 1024,
        "replaying {size} bytes took {kib} KiB of memory"
    );
}

/// A small tmpfs over the server's recordings directory, unmounted on drop.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: std::path::PathBuf, size: &str) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "cannot mount a tmpfs on {}", dir.display());
        SmallDisk(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l"])
            .arg(&self.0)
            .status();
    }
}

#[test]
#[ignore = "needs root"]
fn a_full_disk_stops_recording_at_the_floor_or_as_failed_and_the_session_goes_on() {
    support::require_root("mounting a small tmpfs");
    let _root = support::root_lock();
    let n = node();
    let _disk = SmallDisk::mount(n.env.state_dir().join("recordings"), "2m");

    // 2 MiB free is under the default 1024 MB floor: nothing is recorded.
    let run = interactive(&n, "echo FLOOR-$((2*3))", Duration::from_secs(60));
    assert_eq!(run.code, Some(0));
    let shown = show(&n, &run.session_id);
    assert_eq!(shown["RecordingStatus"], "Truncated", "{shown}");
    assert_eq!(
        shown["RecordingStatusReason"],
        "recording stopped: less than 1024 MB free in the state directory"
    );

    // Without a floor, the disk fills: the write error stops the recording.
    n.env.ok(&[
        "session",
        "preferences",
        "--recording-min-free-space-mb",
        "0",
    ]);
    let run = interactive(
        &n,
        "head -c 6000000 /dev/zero | base64; echo AFTER-$((6*7))",
        Duration::from_secs(120),
    );
    assert_eq!(run.code, Some(0));
    assert!(String::from_utf8_lossy(&run.stdout).contains("AFTER-42"));
    let shown = show(&n, &run.session_id);
    assert_eq!(shown["RecordingStatus"], "Failed", "{shown}");
    let reason = shown["RecordingStatusReason"].as_str().unwrap();
    assert!(reason.contains("No space left on device"), "{reason}");
    let cast = std::fs::read_to_string(cast_path(&n, &run.session_id)).unwrap();
    for line in cast.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("a broken line was left behind ({e}): {line:.80}"));
    }
    let audit = n.env.ok(&[
        "--json",
        "audit",
        "--action",
        "airlock:StopSessionRecording",
    ]);
    assert!(
        audit.contains(&run.session_id) && audit.contains("No space left on device"),
        "{audit}"
    );
}

/// A command that ends while the server is down (killed): everything it
/// printed reaches the client and the recording once the session
/// resumes, and the client exits with the command's status. Before, the
/// node closed the channel 2 s after the exit with output still unsent.
#[test]
fn output_of_a_command_that_ends_while_the_server_is_down_is_all_delivered_and_recorded() {
    let Node {
        env,
        server,
        agent: _agent,
        id,
    } = node();
    let (out, err) = (env.tmp.path().join("out"), env.tmp.path().join("err"));
    let mut child = env
        .cmd()
        .args([
            "session",
            "start",
            "--target",
            &id,
            "--document-name",
            "AWS-StartInteractiveCommand",
            "--parameters",
            "command=echo BEFORE; sleep 1; seq 100001 103000; exit 3",
        ])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    wait_for(20, "the first output", || {
        std::fs::read_to_string(&out)
            .ok()?
            .contains("BEFORE")
            .then_some(())
    });
    server.crash();
    // The command prints and exits while the server is away for longer
    // than the node ever waited for its output.
    std::thread::sleep(Duration::from_secs(5));
    let _server = Server::start(&env);
    let status = wait_for(60, "the session to finish after the restart", || {
        child.try_wait().ok().flatten()
    });
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert_eq!(status.code(), Some(3), "{stderr}");
    let seen = |text: &str| -> Vec<u32> {
        let mut n: Vec<u32> = text
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .filter(|n| (100_001..=103_000).contains(n))
            .collect();
        n.dedup();
        n
    };
    let all: Vec<u32> = (100_001..=103_000).collect();
    assert!(
        seen(&std::fs::read_to_string(&out).unwrap()) == all,
        "the terminal lost output: {stderr}"
    );
    let sid = stderr
        .split("SessionId: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let cast = env
        .state_dir()
        .join("recordings")
        .join(format!("{}.cast", sid.trim_end_matches('.')));
    let mut text = String::new();
    for line in std::fs::read_to_string(&cast).unwrap().lines().skip(1) {
        let ev: serde_json::Value = serde_json::from_str(line).unwrap();
        if ev[1] == "o" {
            text.push_str(ev[2].as_str().unwrap());
        }
    }
    assert!(seen(&text) == all, "the recording lost or repeated output");
}
