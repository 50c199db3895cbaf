//! `apply` against a temporary directory as `/` and a [`Fake`] system that
//! records commands, mounts, chowns, signals and writes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use airlock_proto::node_config::{
    ClusterUser, Daemon, INIT_SERVICES_DIR, InitService, NodeConfig, NodeType, SharedStorage,
    StepStatus, StorageSource,
};
use base64::Engine as _;

use super::system::{self, System};
use super::{Step, apply_with};

/// A path's mode, mtime, ctime, inode and contents.
type Seen = (u32, i64, i64, u64, Vec<u8>);

/// The steps reported: name, status, reason.
type Reported = Vec<(String, StepStatus, Option<String>)>;

type Responder = Box<dyn FnMut(&[String]) -> Option<Result<String, String>>>;

struct Fake {
    dir: tempfile::TempDir,
    hostname: String,
    cmds: Vec<String>,
    mounts: Vec<(String, String)>,
    mounted: HashSet<String>,
    chowns: Vec<(String, u32, u32)>,
    owners: HashMap<String, (u32, u32)>,
    users: HashMap<String, (u32, u32)>,
    writes: Vec<String>,
    hups: usize,
    clock: Duration,
    /// Answers a command instead of the default (success, "is UP" for
    /// `scontrol ping`) when it returns `Some`.
    respond: Responder,
}

impl Fake {
    fn new() -> Self {
        Fake {
            dir: tempfile::tempdir().unwrap(),
            hostname: "localhost".into(),
            cmds: vec![],
            mounts: vec![],
            mounted: HashSet::new(),
            chowns: vec![],
            owners: HashMap::new(),
            users: HashMap::new(),
            writes: vec![],
            hups: 0,
            clock: Duration::ZERO,
            respond: Box::new(|_| None),
        }
    }

    /// A node with airlock's init, munge's socket (as if munged ran), sshd
    /// and ssh-keygen installed, and a skeleton.
    fn airlock_node() -> Self {
        let f = Fake::new();
        f.mkdir(INIT_SERVICES_DIR);
        f.file("/run/munge/munge.socket.2", "");
        for bin in ["munged", "slurmctld", "slurmd", "sshd"] {
            let path = format!("/usr/sbin/{bin}");
            f.file(&path, "");
            std::fs::set_permissions(f.p(&path), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        f.file("/usr/bin/ssh-keygen", "");
        f.file("/etc/skel/.bashrc", "# bashrc\n");
        f.file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
        f
    }

    fn p(&self, path: &str) -> PathBuf {
        self.dir.path().join(path.trim_start_matches('/'))
    }

    fn mkdir(&self, path: &str) {
        std::fs::create_dir_all(self.p(path)).unwrap();
    }

    fn file(&self, path: &str, text: &str) {
        let p = self.p(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.p(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn mode(&self, path: &str) -> u32 {
        std::fs::metadata(self.p(path)).unwrap().mode() & 0o7777
    }

    /// Every path under the root with its mode, times and contents.
    fn snapshot(&self) -> BTreeMap<PathBuf, Seen> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Seen>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                let m = std::fs::symlink_metadata(&p).unwrap();
                let data = if m.is_file() {
                    std::fs::read(&p).unwrap()
                } else {
                    vec![]
                };
                out.insert(
                    p.clone(),
                    (m.mode(), m.mtime_nsec(), m.ctime_nsec(), m.ino(), data),
                );
                if m.is_dir() {
                    walk(&p, out);
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.dir.path(), &mut out);
        out
    }
}

impl System for Fake {
    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn write_file(&mut self, path: &str, data: &[u8], mode: u32) -> Result<(), String> {
        self.writes.push(path.to_string());
        system::replace_file(&self.host_path(path), data, mode)
    }

    fn owner(&mut self, path: &str) -> Result<(u32, u32), String> {
        if !system::exists(self, path) {
            return Err(format!("no {path}"));
        }
        Ok(self.owners.get(path).copied().unwrap_or((0, 0)))
    }

    fn chown(&mut self, path: &str, uid: u32, gid: u32) -> Result<(), String> {
        self.chowns.push((path.to_string(), uid, gid));
        self.owners.insert(path.to_string(), (uid, gid));
        Ok(())
    }

    fn run(&mut self, argv: &[&str]) -> Result<String, String> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let line = argv.join(" ");
        self.cmds.push(line.clone());
        let r = (self.respond)(&argv).unwrap_or_else(|| {
            Ok(match line.as_str() {
                "scontrol ping" => "Slurmctld(primary) at head is UP\n".into(),
                "ssh-keygen -y -f /etc/ssh/airlock_host_ed25519_key" => {
                    "ssh-ed25519 AAAAhost\n".into()
                }
                _ => String::new(),
            })
        });
        if r.is_ok() && argv[0] == "mount" {
            self.mounted.insert(argv[argv.len() - 1].clone());
        }
        r
    }

    fn bind_mount(&mut self, source: &str, target: &str) -> Result<(), String> {
        self.mounts.push((source.into(), target.into()));
        self.mounted.insert(target.into());
        Ok(())
    }

    fn is_mount_point(&mut self, path: &str) -> Result<bool, String> {
        Ok(self.mounted.contains(path))
    }

    fn hostname(&mut self) -> Result<String, String> {
        Ok(self.hostname.clone())
    }

    fn set_hostname(&mut self, name: &str) -> Result<(), String> {
        self.hostname = name.into();
        Ok(())
    }

    fn user_ids(&mut self, name: &str) -> Result<Option<(u32, u32)>, String> {
        Ok(self.users.get(name).copied())
    }

    fn hup_init(&mut self) -> Result<(), String> {
        self.hups += 1;
        Ok(())
    }

    fn now(&mut self) -> Duration {
        self.clock
    }

    fn pause(&mut self, d: Duration) {
        self.clock += d;
    }
}

fn munge_key() -> String {
    base64::engine::general_purpose::STANDARD.encode([42u8; 1024])
}

fn head(source: StorageSource) -> NodeConfig {
    NodeConfig {
        cluster_name: "c".into(),
        node_type: NodeType::HeadNode,
        hostname: "head".into(),
        hosts: vec![
            ("10.0.0.2".into(), "head".into()),
            ("10.0.0.3".into(), "queue1-st-t2micro-1".into()),
        ],
        users: vec![ClusterUser {
            name: "ubuntu".into(),
            uid: 1000,
            gid: 1000,
            sudo: true,
            authorized_keys: vec!["ssh-ed25519 AAAAkey ubuntu@laptop".into()],
        }],
        munge_key: munge_key(),
        ssh_host_key: "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----"
            .into(),
        slurm_conf: "ClusterName=c\n".into(),
        storage: SharedStorage {
            dirs: vec!["/home".into(), "/shared".into()],
            source,
            export_to: "10.0.0.0/24".into(),
        },
        daemons: vec![Daemon::Munged, Daemon::Slurmctld, Daemon::Sshd],
    }
}

fn volume() -> StorageSource {
    StorageSource::Volume {
        source: "/mnt/vol".into(),
    }
}

fn nfs() -> StorageSource {
    StorageSource::Nfs {
        server: "10.0.0.2".into(),
    }
}

/// Applies, returning the result and the steps as `(name, status, reason)`.
fn run(cfg: &NodeConfig, sys: &mut Fake) -> (Result<(), String>, Reported) {
    let mut steps = vec![];
    let r = apply_with(cfg, sys, &mut |s: Step<'_>| {
        steps.push((s.name.to_string(), s.status, s.reason))
    });
    (r, steps)
}

/// The names of the steps, each checked to be reported InProgress then
/// Complete.
fn completed(steps: &[(String, StepStatus, Option<String>)]) -> Vec<&str> {
    assert_eq!(steps.len() % 2, 0, "{steps:?}");
    steps
        .chunks(2)
        .map(|pair| {
            assert_eq!(pair[0].0, pair[1].0);
            assert_eq!(
                (pair[0].1, pair[1].1),
                (StepStatus::InProgress, StepStatus::Complete)
            );
            assert_eq!((&pair[0].2, &pair[1].2), (&None, &None));
            pair[0].0.as_str()
        })
        .collect()
}

#[test]
fn a_head_node_with_a_volume_is_configured_step_by_step() {
    let mut sys = Fake::airlock_node();
    sys.users.insert("munge".into(), (110, 112));
    let cfg = head(volume());
    let (r, steps) = run(&cfg, &mut sys);
    assert_eq!(r, Ok(()));
    assert_eq!(
        completed(&steps),
        [
            "setting the hostname to head",
            "writing /etc/hosts",
            "adding the cluster's users",
            "mounting /home and /shared",
            "creating home directories",
            "installing the munge key",
            "writing slurm.conf",
            "installing the ssh host key",
            "starting munged",
            "starting slurmctld",
            "starting sshd",
        ]
    );

    assert_eq!(sys.hostname, "head");
    assert_eq!(sys.read("/etc/hostname"), "head\n");
    assert_eq!(
        sys.read("/etc/hosts"),
        "127.0.0.1\tlocalhost\n10.0.0.2\thead\n10.0.0.3\tqueue1-st-t2micro-1\n"
    );
    assert_eq!(
        sys.read("/etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\nubuntu:x:1000:1000:Cluster user:/home/ubuntu:/bin/bash\n"
    );
    assert_eq!(sys.read("/etc/group"), "ubuntu:x:1000:\n");
    assert_eq!(sys.read("/etc/shadow"), "ubuntu:!:20000:0:99999:7:::\n");
    assert_eq!(sys.read("/etc/gshadow"), "ubuntu:!::\n");
    assert_eq!(sys.mode("/etc/shadow"), 0o640);
    assert_eq!(sys.mode("/etc/gshadow"), 0o640);
    let sudoers = sys.read("/etc/sudoers.d/90-cloud-init-users");
    assert!(
        sudoers.contains("ubuntu ALL=(ALL) NOPASSWD:ALL\n"),
        "{sudoers}"
    );
    assert_eq!(sys.mode("/etc/sudoers.d/90-cloud-init-users"), 0o440);

    assert_eq!(
        sys.mounts,
        [
            ("/mnt/vol/home".to_string(), "/home".to_string()),
            ("/mnt/vol/shared".to_string(), "/shared".to_string()),
        ]
    );
    assert!(sys.p("/mnt/vol/shared").is_dir() && sys.p("/shared").is_dir());

    assert_eq!(sys.read("/home/ubuntu/.bashrc"), "# bashrc\n");
    assert!(!sys.p("/home/ubuntu/.profile").exists());
    assert_eq!(
        sys.read("/home/ubuntu/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAkey ubuntu@laptop\n"
    );
    assert_eq!(sys.mode("/home/ubuntu"), 0o755);
    assert_eq!(sys.mode("/home/ubuntu/.ssh"), 0o700);
    assert_eq!(sys.mode("/home/ubuntu/.ssh/authorized_keys"), 0o600);
    for p in [
        "/home/ubuntu",
        "/home/ubuntu/.bashrc",
        "/home/ubuntu/.ssh",
        "/home/ubuntu/.ssh/authorized_keys",
    ] {
        assert!(sys.chowns.contains(&(p.to_string(), 1000, 1000)), "{p}");
    }

    assert_eq!(
        std::fs::read(sys.p("/etc/munge/munge.key")).unwrap(),
        vec![42u8; 1024]
    );
    assert_eq!(sys.mode("/etc/munge/munge.key"), 0o400);
    assert_eq!(sys.mode("/etc/munge"), 0o700);
    assert_eq!(sys.mode("/var/lib/munge"), 0o700);
    assert_eq!(sys.mode("/var/log/munge"), 0o700);
    assert_eq!(sys.mode("/run/munge"), 0o755);
    for p in [
        "/etc/munge",
        "/etc/munge/munge.key",
        "/var/lib/munge",
        "/var/log/munge",
        "/run/munge",
    ] {
        assert!(sys.chowns.contains(&(p.to_string(), 110, 112)), "{p}");
    }

    assert_eq!(sys.read("/etc/slurm/slurm.conf"), "ClusterName=c\n");
    assert_eq!(sys.mode("/etc/slurm/slurm.conf"), 0o644);
    assert!(
        sys.read("/etc/ssh/airlock_host_ed25519_key")
            .ends_with("KEY-----\n")
    );
    assert_eq!(sys.mode("/etc/ssh/airlock_host_ed25519_key"), 0o600);
    assert_eq!(
        sys.read("/etc/ssh/airlock_host_ed25519_key.pub"),
        "ssh-ed25519 AAAAhost\n"
    );
    assert!(sys.p("/run/sshd").is_dir());

    let service = |name: &str| -> InitService {
        serde_json::from_str(&sys.read(&format!("{INIT_SERVICES_DIR}/{name}.json"))).unwrap()
    };
    assert_eq!(
        service("munged").argv.join(" "),
        "/usr/sbin/munged --foreground --force --socket=/run/munge/munge.socket.2 \
         --key-file=/etc/munge/munge.key --pid-file=/run/munged.pid \
         --log-file=/var/log/munge/munged.log --seed-file=/var/lib/munge/munged.seed"
    );
    assert!(service("munged").after.is_empty());
    let ctld = service("slurmctld");
    assert_eq!(
        ctld.argv.join(" "),
        "/usr/sbin/slurmctld -D -f /etc/slurm/slurm.conf"
    );
    assert_eq!(ctld.after, ["/run/munge/munge.socket.2"]);
    assert_eq!(
        service("sshd").argv.join(" "),
        "/usr/sbin/sshd -D -e -o ListenAddress=127.0.0.1 -o PidFile=/run/sshd.pid \
         -h /etc/ssh/airlock_host_ed25519_key"
    );
    assert!(!sys.p(&format!("{INIT_SERVICES_DIR}/slurmd.json")).exists());
    assert_eq!(sys.hups, 3);
    assert_eq!(
        sys.cmds,
        [
            "ssh-keygen -y -f /etc/ssh/airlock_host_ed25519_key",
            "scontrol ping"
        ]
    );
}

#[test]
fn a_second_apply_changes_nothing() {
    let mut sys = Fake::airlock_node();
    sys.users.insert("munge".into(), (110, 112));
    let cfg = head(volume());
    assert_eq!(run(&cfg, &mut sys).0, Ok(()));
    let before = sys.snapshot();
    let (writes, chowns, mounts, hups) = (
        sys.writes.len(),
        sys.chowns.len(),
        sys.mounts.len(),
        sys.hups,
    );
    sys.cmds.clear();

    let (r, steps) = run(&cfg, &mut sys);
    assert_eq!(r, Ok(()));
    assert_eq!(completed(&steps).len(), 11);
    assert_eq!(sys.writes.len(), writes, "{:?}", &sys.writes[writes..]);
    assert_eq!(sys.chowns.len(), chowns);
    assert_eq!(sys.mounts.len(), mounts);
    assert_eq!(sys.hups, hups);
    // Only the readiness check runs.
    assert_eq!(sys.cmds, ["scontrol ping"]);
    assert!(before == sys.snapshot(), "files changed");
}

#[test]
fn a_changed_slurm_conf_is_reconfigured_and_a_new_user_added() {
    let mut sys = Fake::airlock_node();
    let mut cfg = head(volume());
    assert_eq!(run(&cfg, &mut sys).0, Ok(()));
    sys.cmds.clear();
    sys.writes.clear();
    let hups = sys.hups;
    cfg.slurm_conf.push_str("SuspendTime=300\n");
    cfg.users.push(ClusterUser {
        name: "alice".into(),
        uid: 1001,
        gid: 1001,
        sudo: false,
        authorized_keys: vec![],
    });

    let (r, steps) = run(&cfg, &mut sys);
    assert_eq!(r, Ok(()));
    assert_eq!(completed(&steps).last(), Some(&"reconfiguring slurm"));
    assert_eq!(sys.cmds, ["scontrol ping", "scontrol reconfigure"]);
    assert_eq!(sys.hups, hups, "no service changed");
    assert_eq!(
        sys.writes,
        [
            "/etc/passwd",
            "/etc/group",
            "/etc/shadow",
            "/etc/gshadow",
            "/home/alice/.bashrc",
            "/home/alice/.ssh/authorized_keys",
            "/etc/slurm/slurm.conf",
        ]
    );
    assert!(
        !sys.read("/etc/sudoers.d/90-cloud-init-users")
            .contains("alice"),
        "alice may not sudo"
    );
}

#[test]
fn an_nfs_head_exports_its_directories() {
    let mut sys = Fake::airlock_node();
    sys.mkdir("/run/systemd/system");
    sys.file("/etc/exports", "# local\n/srv *(ro)\n/home 1.2.3.4(ro)\n");
    let cfg = head(nfs());
    let (r, steps) = run(&cfg, &mut sys);
    assert_eq!(r, Ok(()));
    assert!(completed(&steps).contains(&"mounting /home and /shared"));
    assert_eq!(
        sys.read("/etc/exports"),
        "# local\n/srv *(ro)\n/home 10.0.0.0/24(rw,sync,no_root_squash,no_subtree_check)\n\
         /shared 10.0.0.0/24(rw,sync,no_root_squash,no_subtree_check)\n"
    );
    assert!(sys.p("/home").is_dir() && sys.p("/shared").is_dir());
    assert!(sys.mounts.is_empty());
    assert_eq!(
        sys.cmds[..2],
        ["exportfs -ra", "systemctl enable --now nfs-server"]
    );

    // Nothing changed: only whether the server still runs is asked.
    sys.cmds.clear();
    assert_eq!(run(&cfg, &mut sys).0, Ok(()));
    assert_eq!(
        sys.cmds,
        ["systemctl is-active --quiet nfs-server", "scontrol ping"]
    );
}

#[test]
fn an_nfs_compute_node_mounts_the_heads_directories_retrying() {
    let mut sys = Fake::airlock_node();
    let mut cfg = head(nfs());
    cfg.node_type = NodeType::Compute;
    cfg.hostname = "queue1-st-t2micro-1".into();
    cfg.daemons = vec![Daemon::Munged, Daemon::Slurmd];
    // The head is not serving yet for the first two tries.
    let mut failures = 2;
    sys.respond = Box::new(move |argv| {
        (argv[0] == "mount" && failures > 0).then(|| {
            failures -= 1;
            Err("mount.nfs: Connection refused".to_string())
        })
    });
    let (r, steps) = run(&cfg, &mut sys);
    assert_eq!(r, Ok(()));
    let names = completed(&steps);
    assert!(!names.contains(&"creating home directories"), "{names:?}");
    assert!(names.contains(&"starting slurmd"));
    let home = "mount -t nfs -o hard,_netdev,noatime,vers=4 10.0.0.2:/home /home";
    let shared = "mount -t nfs -o hard,_netdev,noatime,vers=4 10.0.0.2:/shared /shared";
    assert_eq!(sys.cmds[..4], [home, home, home, shared]);
    assert_eq!(sys.clock, super::storage::NFS_RETRY_PAUSE * 2);
    assert!(!sys.p("/home/ubuntu").exists());
    let slurmd: InitService =
        serde_json::from_str(&sys.read(&format!("{INIT_SERVICES_DIR}/slurmd.json"))).unwrap();
    assert_eq!(
        slurmd.argv.join(" "),
        "/usr/sbin/slurmd -D -b -f /etc/slurm/slurm.conf"
    );

    // Mounted now: no mount again.
    sys.cmds.clear();
    assert_eq!(run(&cfg, &mut sys).0, Ok(()));
    assert!(sys.cmds.is_empty(), "{:?}", sys.cmds);
}

#[test]
fn an_nfs_mount_that_never_works_fails_the_step() {
    let mut sys = Fake::airlock_node();
    let mut cfg = head(nfs());
    cfg.node_type = NodeType::Compute;
    sys.respond = Box::new(|argv| (argv[0] == "mount").then(|| Err("refused".to_string())));
    let (r, steps) = run(&cfg, &mut sys);
    let reason = "could not mount 10.0.0.2:/home after 5 tries: refused";
    assert_eq!(r, Err(reason.to_string()));
    let last = steps.last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.1, last.2.as_deref()),
        (
            "mounting /home and /shared",
            StepStatus::Failed,
            Some(reason)
        )
    );
}

#[test]
fn a_uid_of_another_user_fails_the_users_step() {
    let mut sys = Fake::airlock_node();
    sys.file(
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\ndebian:x:1000:1000::/home/debian:/bin/bash\n",
    );
    let (r, steps) = run(&head(volume()), &mut sys);
    let reason = "cannot add user ubuntu: uid 1000 already belongs to \"debian\" in /etc/passwd";
    assert_eq!(r, Err(reason.to_string()));
    assert_eq!(
        steps[steps.len() - 2..],
        [
            (
                "adding the cluster's users".to_string(),
                StepStatus::InProgress,
                None
            ),
            (
                "adding the cluster's users".to_string(),
                StepStatus::Failed,
                Some(reason.to_string())
            ),
        ]
    );
    assert_eq!(completed(&steps[..steps.len() - 2]).len(), 2);
    // Nothing of the step was written, and nothing after it ran.
    assert!(!sys.p("/etc/group").exists());
    assert!(sys.mounts.is_empty());
}

#[test]
fn two_users_with_one_gid_fail() {
    let mut sys = Fake::airlock_node();
    let mut cfg = head(volume());
    cfg.users.push(ClusterUser {
        name: "alice".into(),
        uid: 1001,
        gid: 1000,
        sudo: false,
        authorized_keys: vec![],
    });
    let (r, _) = run(&cfg, &mut sys);
    assert_eq!(
        r,
        Err("cannot add user alice: gid 1000 already belongs to \"ubuntu\" in /etc/group".into())
    );
}

#[test]
fn an_invalid_munge_key_fails_its_step() {
    for (key, says) in [("not base64!", "not base64"), ("a2V5", "3 bytes")] {
        let mut sys = Fake::airlock_node();
        let mut cfg = head(volume());
        cfg.munge_key = key.into();
        let (r, steps) = run(&cfg, &mut sys);
        assert!(r.as_ref().unwrap_err().contains(says), "{r:?}");
        let last = steps.last().unwrap();
        assert_eq!(
            (last.0.as_str(), last.1),
            ("installing the munge key", StepStatus::Failed)
        );
        assert!(!sys.p("/etc/munge/munge.key").exists());
        assert!(!sys.p("/etc/slurm/slurm.conf").exists());
    }
}

#[test]
fn an_invalid_configuration_fails_before_any_step() {
    let mut sys = Fake::airlock_node();
    let mut cfg = head(volume());
    cfg.hostname = "../etc".into();
    let (r, steps) = run(&cfg, &mut sys);
    assert!(r.unwrap_err().contains("is not a host name"));
    assert!(steps.is_empty());
}

#[test]
fn systemd_units_are_enabled_or_restarted() {
    let mut sys = Fake::new();
    sys.mkdir("/run/systemd/system");
    sys.file("/run/munge/munge.socket.2", "");
    let mut cfg = head(volume());
    cfg.daemons = vec![Daemon::Munged, Daemon::Slurmctld, Daemon::Sshd];
    cfg.ssh_host_key = String::new();
    // Nothing runs yet; sshd is not installed.
    sys.respond = Box::new(|argv| (argv[1] == "is-active").then(|| Err("inactive".into())));
    let (r, steps) = run(&cfg, &mut sys);
    assert_eq!(r, Ok(()));
    let names = completed(&steps);
    assert!(!names.contains(&"installing the ssh host key"));
    assert!(!names.contains(&"starting sshd"));
    assert_eq!(
        sys.cmds,
        [
            "systemctl is-active --quiet munge",
            "systemctl enable --now munge",
            "systemctl is-active --quiet slurmctld",
            "systemctl enable --now slurmctld",
            "scontrol ping",
        ]
    );

    // Running now; slurm.conf changes.
    sys.respond = Box::new(|_| None);
    sys.cmds.clear();
    cfg.slurm_conf.push_str("# more\n");
    assert_eq!(run(&cfg, &mut sys).0, Ok(()));
    assert_eq!(
        sys.cmds,
        [
            "systemctl is-active --quiet munge",
            "systemctl is-active --quiet slurmctld",
            "systemctl restart slurmctld",
            "scontrol ping",
        ]
    );
}

#[test]
fn without_an_init_the_first_daemon_fails() {
    let mut sys = Fake::new();
    let (r, steps) = run(&head(volume()), &mut sys);
    assert_eq!(
        r,
        Err("this machine has neither airlock's init nor systemd".into())
    );
    let last = steps.last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.1),
        ("starting munged", StepStatus::Failed)
    );
}

#[test]
fn an_image_without_slurm_fails_the_step_that_starts_it_and_says_so() {
    let mut sys = Fake::airlock_node();
    std::fs::remove_file(sys.p("/usr/sbin/slurmctld")).unwrap();
    let (r, steps) = run(&head(volume()), &mut sys);
    assert_eq!(
        r,
        Err("/usr/sbin/slurmctld is not an installed program on this machine: its image has no Slurm (a node's image needs Slurm and munge; docs/EC2.md)".into())
    );
    let last = steps.last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.1),
        ("starting slurmctld", StepStatus::Failed)
    );
    assert!(
        !sys.p(&format!("{INIT_SERVICES_DIR}/slurmctld.json"))
            .exists(),
        "no service for a missing binary"
    );
}

#[test]
fn readiness_has_a_deadline() {
    let mut sys = Fake::airlock_node();
    std::fs::remove_file(sys.p("/run/munge/munge.socket.2")).unwrap();
    let (r, _) = run(&head(volume()), &mut sys);
    assert_eq!(
        r,
        Err("munged did not create /run/munge/munge.socket.2 within 10 s".into())
    );
    assert_eq!(sys.clock, Duration::from_secs(10));

    let mut sys = Fake::airlock_node();
    sys.respond = Box::new(|argv| {
        (argv.join(" ") == "scontrol ping")
            .then(|| Ok("Slurmctld(primary) at head is DOWN\n".into()))
    });
    let (r, _) = run(&head(volume()), &mut sys);
    assert_eq!(
        r,
        Err("slurmctld did not answer `scontrol ping` within 60 s: Slurmctld(primary) at head is DOWN".into())
    );
    assert_eq!(
        sys.cmds.iter().filter(|c| *c == "scontrol ping").count(),
        1201
    );
}

#[test]
fn added_nodes_restart_slurmctld_on_the_head_node_only() {
    let mut sys = Fake::airlock_node();
    let mut cfg = head(volume());
    assert_eq!(run(&cfg, &mut sys).0, Ok(()));
    sys.cmds.clear();
    // slurmctld answers until it was asked to shut down, then not once,
    // then again (restarted by the init).
    let state = std::rc::Rc::new(std::cell::Cell::new(0u8));
    let s2 = state.clone();
    sys.respond = Box::new(move |argv: &[String]| match argv.join(" ").as_str() {
        "scontrol shutdown slurmctld" => {
            s2.set(1);
            Some(Ok(String::new()))
        }
        "scontrol ping" if s2.get() == 1 => {
            s2.set(2);
            Some(Ok("Slurmctld(primary) at head is DOWN\n".into()))
        }
        _ => None,
    });
    cfg.slurm_conf.push_str("NodeName=q-dy-c-[17-32] CPUs=2\n");
    let (r, steps) = run(&cfg, &mut sys);
    assert_eq!(r, Ok(()));
    let done = completed(&steps);
    assert_eq!(
        done[done.len() - 2..],
        [
            "restarting slurmctld (nodes were added or removed)",
            "reconfiguring slurm"
        ]
    );
    assert_eq!(
        sys.cmds,
        [
            "scontrol ping",
            "scontrol shutdown slurmctld",
            "scontrol ping",
            "scontrol ping",
            "scontrol reconfigure"
        ]
    );
    assert_eq!(state.get(), 2);

    // A compute node only reconfigures.
    let mut sys = Fake::airlock_node();
    let mut cfg = head(volume());
    cfg.node_type = NodeType::Compute;
    cfg.hostname = "queue1-st-t2micro-1".into();
    cfg.daemons = vec![Daemon::Munged, Daemon::Slurmd];
    assert_eq!(run(&cfg, &mut sys).0, Ok(()));
    sys.cmds.clear();
    cfg.slurm_conf.push_str("NodeName=q-dy-c-[17-32] CPUs=2\n");
    assert_eq!(run(&cfg, &mut sys).0, Ok(()));
    assert!(
        !sys.cmds.iter().any(|c| c.contains("shutdown")),
        "{:?}",
        sys.cmds
    );
}
