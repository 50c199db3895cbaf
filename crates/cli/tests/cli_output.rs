//! What the CLI prints, as a user reads it: listings that fit 80 columns
//! (or an empty listing's one line), `--output json|text|table` and
//! `--query`, one wording and one exit code per error, logs without colour
//! codes in a file, a server that remembers its settings, and a `create`
//! refused for a missing key pair before it begins. Non-root, on
//! loopback.

mod support;

use std::process::Output;

use serde_json::Value;
use support::{Agent, DaemonGuard, Env, node, register_agent, wait_for};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `airlock ARGS` with stdout a pipe and `COLUMNS` as given (unset: None).
fn run_in(env: &Env, columns: Option<&str>, args: &[&str]) -> Output {
    let mut c = env.cmd();
    match columns {
        Some(n) => c.env("COLUMNS", n),
        None => c.env_remove("COLUMNS"),
    };
    c.args(args).output().expect("run airlock")
}

/// Succeeds in 80 columns; returns stdout, every line of which fits.
fn in_80_columns(env: &Env, args: &[&str]) -> String {
    let o = run_in(env, Some("80"), args);
    assert!(o.status.success(), "airlock {args:?}: {}", stderr(&o));
    let out = stdout(&o);
    eprintln!("$ COLUMNS=80 airlock {}\n{out}", args.join(" "));
    for line in out.lines() {
        assert!(
            line.chars().count() <= 80,
            "airlock {args:?}: a line of {} columns:\n{out}",
            line.chars().count()
        );
    }
    out
}

/// A public key in OpenSSH format (its private half is thrown away).
const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAkOJi3BSRpxzcgdtmTixwD9vmnPs4VTZS/R5CAxMP8k test@example";

#[test]
fn every_listing_is_readable_in_80_columns_and_an_empty_one_is_one_line() {
    let n = node();
    let env = &n.env;

    // Empty listings: one line, not an empty box.
    assert_eq!(in_80_columns(env, &["list"]), "No clusters\n");
    assert_eq!(in_80_columns(env, &["session", "list"]), "No sessions\n");
    assert_eq!(
        in_80_columns(env, &["ec2", "describe-key-pairs"]),
        "No key pairs\n"
    );

    // Something in every listing: a refused node, a user with a long
    // name, a key pair, an activation, a finished session, audit events.
    let bare = env.tmp.path().join("bare-agent");
    register_agent(env, "BareRole", false, &bare);
    let bare_agent = Agent::start(env, &bare);
    wait_for(15, "the bare node's refusal", || {
        let v: Value = serde_json::from_str(&env.ok(&["--json", "instances"])).ok()?;
        v["InstanceInformationList"]
            .as_array()?
            .iter()
            .any(|i| i["RegistrationError"].is_string())
            .then_some(())
    });
    env.ok(&[
        "iam",
        "create-user",
        "--user-name",
        "a-user-with-a-rather-long-name-for-a-narrow-terminal",
        "--tags",
        "Key=SSMSessionRunAs,Value=alice",
    ]);
    assert_eq!(
        in_80_columns(
            env,
            &[
                "iam",
                "list-access-keys",
                "--user-name",
                "a-user-with-a-rather-long-name-for-a-narrow-terminal"
            ]
        ),
        "No access keys\n"
    );
    env.ok(&[
        "ec2",
        "import-key-pair",
        "--key-name",
        "sandbox-key-useast1",
        "--public-key-material",
        PUBLIC_KEY,
    ]);
    env.ok(&["activation", "create", "--role", "BareRole"]);
    env.ok(&["exec", &n.id, "--", "true"]);

    let instances = in_80_columns(env, &["instances"]);
    assert!(instances.contains(&n.id[..10]), "{instances}");
    assert!(
        instances.contains("authorized") && instances.contains("Online"),
        "{instances}"
    );
    let users = in_80_columns(env, &["iam", "list-users"]);
    assert!(users.contains("admin"), "{users}");
    let admin = env.ok(&["iam", "get-user", "--query", "User.Arn", "--output", "text"]);
    for args in [
        &["audit"][..],
        &["audit", "--max-items", "5"],
        &["iam", "list-policies"],
        &["iam", "list-roles"],
        &["iam", "list-access-keys", "--user-name", "admin"],
        &["ec2", "describe-key-pairs"],
        &["activation", "list"],
        &["session", "list", "--history"],
        &[
            "iam",
            "simulate-principal-policy",
            "--policy-source-arn",
            admin.trim(),
            "--action-names",
            "ssm:StartSession",
            "iam:ListUsers",
        ],
    ] {
        let out = in_80_columns(env, args);
        assert!(out.lines().count() > 3, "airlock {args:?}:\n{out}");
    }

    // A session's record shows what it has, no `"RunAs": null`.
    let id = env.ok(&[
        "session",
        "list",
        "--history",
        "--query",
        "Sessions[0].SessionId",
        "--output",
        "text",
    ]);
    let show = env.ok(&["session", "show", id.trim()]);
    assert!(show.contains(id.trim()) && !show.contains("null"), "{show}");

    // Where stdout is no terminal and COLUMNS is unset, rows stay whole.
    let wide = stdout(&run_in(env, None, &["audit", "--max-items", "5"]));
    assert!(
        wide.lines().any(|l| l.chars().count() > 80),
        "audit rows were wrapped:\n{wide}"
    );

    // The agents' logs are files: no colour codes in them.
    let log = bare_agent.log();
    assert!(!log.is_empty() && !log.contains('\u{1b}'), "{log:?}");
    assert!(!n.agent.log().contains('\u{1b}'));
}

#[test]
fn output_formats_and_queries_follow_the_aws_cli() {
    let env = Env::new();
    let _s = support::Server::start(&env);
    env.ok(&["iam", "create-user", "--user-name", "alice"]);

    let json: Value = serde_json::from_str(&env.ok(&["--json", "iam", "list-users"])).unwrap();
    let output_json: Value =
        serde_json::from_str(&env.ok(&["iam", "list-users", "--output", "json"])).unwrap();
    assert_eq!(json, output_json);
    assert_eq!(json["Users"].as_array().map(Vec::len), Some(2));

    // text: tab-separated, a line per user, named as the AWS CLI names them.
    let text = env.ok(&["--output", "text", "iam", "list-users"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines.iter().all(|l| l.starts_with("USERS\t")), "{text}");
    assert!(lines[1].split('\t').any(|f| f == "alice"), "{text}");

    // --query filters before printing, in each format.
    assert_eq!(
        env.ok(&[
            "iam",
            "list-users",
            "--query",
            "Users[].UserName",
            "--output",
            "text"
        ]),
        "admin\talice\n"
    );
    let names: Value =
        serde_json::from_str(&env.ok(&["iam", "list-users", "--query", "Users[].UserName"]))
            .unwrap();
    assert_eq!(names, serde_json::json!(["admin", "alice"]));
    assert_eq!(
        env.ok(&[
            "iam",
            "get-user",
            "--user-name",
            "alice",
            "--query",
            "User.UserName",
            "--output",
            "text"
        ]),
        "alice\n"
    );
    let table = env.ok(&[
        "iam",
        "list-users",
        "--output",
        "table",
        "--query",
        "Users[].{Name: UserName}",
    ]);
    assert!(
        table.contains("Name") && table.contains("alice") && !table.contains("Arn"),
        "{table}"
    );
    let status = env.ok(&["server", "status", "--query", "Version", "--output", "text"]);
    assert_eq!(status.trim(), env!("CARGO_PKG_VERSION"));

    // A query that does not parse is bad usage: exit 2, said once.
    let o = env.run(&["iam", "list-users", "--query", "Users[?"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(stderr(&o).matches("JMESPath").count(), 1, "{}", stderr(&o));
    assert!(o.stdout.is_empty());
}

#[test]
fn status_and_delete_word_a_missing_or_bad_cluster_name_alike() {
    let env = Env::new();
    let _s = support::Server::start(&env);
    let err = |args: &[&str]| {
        let o = env.run(args);
        (o.status.code(), stderr(&o))
    };

    let (status_code, status_err) = err(&["status", "nosuch"]);
    let (delete_code, delete_err) = err(&["delete", "nosuch"]);
    assert_eq!(
        status_err,
        "error: cluster nosuch does not exist (see `airlock list`)\n"
    );
    assert_eq!(delete_err, status_err);
    // A well-formed name that names nothing: the operation failed.
    assert_eq!((status_code, delete_code), (Some(1), Some(1)));

    // A malformed name is bad input: exit 2, the same sentence for both.
    let (status_code, status_err) = err(&["status", "no_such!"]);
    let (delete_code, delete_err) = err(&["delete", "no_such!"]);
    assert!(
        status_err.starts_with("error: Invalid cluster name 'no_such!'"),
        "{status_err}"
    );
    assert_eq!(status_err.lines().count(), 1, "{status_err}");
    assert_eq!(delete_err, status_err);
    assert_eq!((status_code, delete_code), (Some(2), Some(2)));
}

#[test]
fn a_plain_server_start_uses_the_settings_of_the_last_one() {
    let env = Env::new();
    let _guard = DaemonGuard(&env);
    let start = |listen: Option<&str>| {
        let mut c = env.cmd();
        c.env_remove("AIRLOCK_LISTEN")
            .env_remove("AIRLOCK_PING_INTERVAL")
            .args(["server", "start"]);
        if let Some(l) = listen {
            c.args(["--listen", l]);
        }
        c.output().expect("run airlock server start")
    };
    let endpoint = || support::read(&env.state_dir().join("server.endpoint"));

    let o = start(Some("127.0.0.1:0"));
    assert!(o.status.success(), "{}", stderr(&o));
    let first = endpoint();
    assert!(
        first.starts_with("https://127.0.0.1:") && !first.contains(":7443"),
        "{first}"
    );
    env.ok(&["server", "stop"]);

    // No --listen: the address of the last start (the port it bound), which
    // is where the profile points.
    let o = start(None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(endpoint(), first);
    assert!(stdout(&o).contains(first.trim()), "{}", stdout(&o));
    let config = support::read(&env.config_dir().join("config"));
    assert!(config.contains(first.trim()), "{config}");
    env.ok(&["iam", "list-users"]);
    env.ok(&["server", "stop"]);

    // A start that fails says why once, and is not remembered.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().to_string();
    let o = start(Some(&port));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("already in use").count(), 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let o = start(None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(endpoint(), first);
}

/// `airlock ARGS` on a terminal of `cols` columns (no `COLUMNS`): what it
/// printed, lines ended by `\r\n` as a terminal gets them.
fn on_terminal(env: &Env, cols: u16, args: &[&str]) -> String {
    use std::io::Read;
    use support::CloneReader;
    let (pty, pts) = pty_process::blocking::open().unwrap();
    pty.resize(pty_process::Size::new(40, cols)).unwrap();
    let mut child = pty_process::blocking::Command::new(support::airlock_bin())
        .env("AIRLOCK_CONFIG_DIR", env.config_dir())
        .env_remove("COLUMNS")
        .env_remove("AIRLOCK_PROFILE")
        .env_remove("AIRLOCK_ENDPOINT")
        .args(args)
        .spawn(pts)
        .unwrap();
    let mut reader = pty.try_clone_reader();
    let output = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        // Ends with EIO once the child is gone and its side of the PTY closed.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    });
    assert!(child.wait().unwrap().success(), "airlock {args:?}");
    drop(pty);
    String::from_utf8_lossy(&output.join().unwrap()).replace("\r\n", "\n")
}

#[test]
fn tables_take_the_terminals_width() {
    let env = Env::new();
    let _s = support::Server::start(&env);
    let narrow = on_terminal(&env, 80, &["iam", "list-policies"]);
    assert!(narrow.contains("AirlockSessionUser"), "{narrow}");
    for line in narrow.lines() {
        assert!(line.chars().count() <= 80, "{line:?}\n{narrow}");
    }
    // Wide enough for the longest AWS managed policy (a 75-character name, a 112-character ARN).
    let wide = on_terminal(&env, 240, &["iam", "list-policies"]);
    let row = wide
        .lines()
        .find(|l| l.contains("AirlockSessionUser"))
        .unwrap_or_default();
    assert!(
        row.contains("arn:aws:iam::aws:policy/AirlockSessionUser") && row.starts_with('│'),
        "one table row a policy on a wide terminal:\n{wide}"
    );
}

#[test]
fn convert_prints_its_notes_where_the_converter_does_and_keeps_yaml_alone_on_stdout() {
    let env = Env::new();
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/ssm.ini");
    let out = env.tmp.path().join("c.yaml");
    let o = env.run(&["config", "convert", "-c", seed, "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("Note: Volume encrypted defaults to True")
            && text
                .trim_end()
                .ends_with(&format!("Configuration file written to {}", out.display())),
        "{text}"
    );
    assert_eq!(stderr(&o), "");
    // To stdout: the YAML alone there, the notes on stderr.
    let o = env.run(&["config", "convert", "-c", seed]);
    assert!(o.status.success());
    assert!(!stdout(&o).contains("Note: ") && stderr(&o).contains("Note: "));
    assert!(stdout(&o).contains("SlurmQueues:"), "{}", stdout(&o));
}

#[test]
fn create_refuses_a_missing_key_pair_before_beginning_anything() {
    let env = Env::new();
    let _s = support::Server::start(&env);
    let cfg = env.config_dir().join("nokey.ini");
    std::fs::write(
        &cfg,
        "[aws]\naws_region_name = us-east-1\n[global]\ncluster_template = default\n\
[cluster default]\nkey_name = nosuch-key\nscheduler = slurm\nbase_os = centos7\n\
vpc_settings = v\nqueue_settings = q\n[vpc v]\nvpc_id = vpc-0123456789abcdef0\n\
master_subnet_id = subnet-0123456789abcdef0\n[queue q]\ncompute_resource_settings = cr\n\
[compute_resource cr]\ninstance_type = t3.micro\nmax_count = 2\n",
    )
    .expect("write the config");
    let o = env.run(&["create", "nokey", "-c", cfg.to_str().expect("UTF-8 path")]);
    let (out, err) = (stdout(&o), stderr(&o));
    eprintln!("{err}");
    // Bad input, refused before pcluster's "Beginning cluster creation".
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert_eq!(out, "", "{err}");
    assert!(
        err.contains("The key pair 'nosuch-key' does not exist")
            && err.contains("nokey.ini:6:")
            && err.contains("airlock ec2 import-key-pair --key-name nosuch-key")
            && err.contains("nothing was created"),
        "{err}"
    );
    assert!(env.ok(&["list"]).starts_with("No clusters"));
}
