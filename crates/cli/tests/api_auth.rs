//! The authorisation matrix of the API: unsigned, badly signed, replayed,
//! expired, disabled-key and denied requests are refused and audited.

mod support;

use airlock_proto::profile::ClientFiles;
use airlock_proto::signature;
use serde_json::{Value, json};
use support::{Env, Server};

struct Raw {
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
    endpoint: String,
}

impl Raw {
    fn new(env: &Env) -> Self {
        let pem = std::fs::read(env.ca()).unwrap();
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .build()
            .unwrap();
        Raw {
            http,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            endpoint: env.endpoint(),
        }
    }
    fn post(&self, path: &str, headers: &[(&str, String)], body: &str) -> (u16, Value) {
        self.rt.block_on(async {
            let mut rq = self
                .http
                .post(format!("{}{path}", self.endpoint))
                .body(body.to_owned());
            for (k, v) in headers {
                rq = rq.header(*k, v);
            }
            let r = rq.send().await.unwrap();
            let st = r.status().as_u16();
            (st, r.json().await.unwrap_or(Value::Null))
        })
    }
    fn get(&self, path: &str) -> (u16, String) {
        self.rt.block_on(async {
            let r = self
                .http
                .get(format!("{}{path}", self.endpoint))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }
}

fn signed(
    env: &Env,
    profile: &str,
    path: &str,
    body: &str,
    time: i64,
    nonce: &str,
) -> Vec<(&'static str, String)> {
    let files = ClientFiles {
        dir: env.config_dir(),
    };
    let p = files.load(profile).unwrap();
    let key = signature::decode_private_key(p.private_key.as_deref().unwrap()).unwrap();
    let h = signature::sign(
        &key,
        p.access_key_id.as_deref().unwrap(),
        "POST",
        path,
        "",
        body.as_bytes(),
        time,
        nonce,
    );
    vec![
        ("authorization", h.authorization),
        (signature::DATE_HEADER, h.date),
        (signature::NONCE_HEADER, h.nonce),
    ]
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn denials(env: &Env) -> Vec<Value> {
    let out = env.ok(&["--json", "audit", "--decision", "Deny"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    v["Events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn health_and_version_need_no_signature() {
    let env = Env::new();
    let _s = Server::start(&env);
    let raw = Raw::new(&env);
    assert_eq!(raw.get("/healthz"), (200, "ok\n".to_owned()));
    let (st, v) = raw.get("/version");
    assert_eq!(st, 200);
    assert!(v.contains(env!("CARGO_PKG_VERSION")), "{v}");
}

#[test]
fn unsigned_bad_replayed_and_expired_requests_are_refused_and_audited() {
    let env = Env::new();
    let _s = Server::start(&env);
    let raw = Raw::new(&env);
    let path = "/v1/iam/ListUsers";

    let (st, v) = raw.post(path, &[], "{}");
    assert_eq!(
        (st, v["__type"].as_str()),
        (403, Some("MissingAuthenticationTokenException"))
    );

    let mut h = signed(&env, "default", path, "{}", now(), "n-bad");
    h[0].1 = h[0].1.replace("Signature=", "Signature=AAAA");
    let (st, v) = raw.post(path, &h, "{}");
    assert_eq!(st, 403, "{v}");
    assert!(v["__type"].as_str().unwrap().contains("Signature"), "{v}");

    let h = signed(&env, "default", path, "{}", now(), "n-tampered");
    let (st, v) = raw.post(path, &h, "{\"x\":1}");
    assert_eq!(
        (st, v["__type"].as_str()),
        (403, Some("InvalidSignatureException")),
        "{v}"
    );

    let h = signed(&env, "default", path, "{}", now(), "n-once");
    assert_eq!(raw.post(path, &h, "{}").0, 200);
    let (st, v) = raw.post(path, &h, "{}");
    assert_eq!(st, 403);
    assert!(v["message"].as_str().unwrap().contains("replayed"), "{v}");

    let h = signed(&env, "default", path, "{}", now() - 600, "n-old");
    let (st, v) = raw.post(path, &h, "{}");
    assert_eq!(st, 403);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("Signature expired"),
        "{v}"
    );

    let details: Vec<String> = denials(&env)
        .iter()
        .filter(|e| e["Action"] == "sts:Authenticate")
        .map(|e| e["Detail"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(details.len(), 5, "{details:?}");
    assert!(details.iter().any(|d| d.contains("replayed")));
}

#[test]
fn disabled_and_deleted_keys_are_refused() {
    let env = Env::new();
    let _s = Server::start(&env);
    env.ok(&["iam", "create-user", "--user-name", "bob"]);
    env.ok(&[
        "iam",
        "attach-user-policy",
        "--user-name",
        "bob",
        "--policy-arn",
        "arn:aws:iam::aws:policy/AirlockReadOnlyAccess",
    ]);
    let out = env.ok(&[
        "iam",
        "create-access-key",
        "--user-name",
        "bob",
        "--save-profile",
        "bob",
    ]);
    let key: Value = serde_json::from_str(&out).unwrap();
    let id = key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_owned();
    assert!(
        key["AccessKey"]["PrivateKey"]
            .as_str()
            .is_some_and(|k| !k.is_empty())
    );
    env.ok(&["--profile", "bob", "iam", "get-user"]);

    env.ok(&[
        "iam",
        "update-access-key",
        "--user-name",
        "bob",
        "--access-key-id",
        &id,
        "--status",
        "Inactive",
    ]);
    let o = env.run(&["--profile", "bob", "iam", "get-user"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("(UnrecognizedClientException)"), "{err}");

    env.ok(&[
        "iam",
        "update-access-key",
        "--user-name",
        "bob",
        "--access-key-id",
        &id,
        "--status",
        "Active",
    ]);
    env.ok(&["--profile", "bob", "iam", "get-user"]);
    env.ok(&[
        "iam",
        "delete-access-key",
        "--user-name",
        "bob",
        "--access-key-id",
        &id,
    ]);
    let o = env.run(&["--profile", "bob", "iam", "get-user"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("UnrecognizedClientException"));
}

#[test]
fn denied_action_gets_the_aws_refusal_and_is_audited_with_its_statement() {
    let env = Env::new();
    let _s = Server::start(&env);
    env.ok(&["iam", "create-user", "--user-name", "carol"]);
    env.ok(&[
        "iam",
        "create-access-key",
        "--user-name",
        "carol",
        "--save-profile",
        "carol",
    ]);
    let deny_users = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadIam", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"},
            {"Sid": "NotOthers", "Effect": "Deny", "Action": "iam:ListUsers", "Resource": "*"}
        ]
    });
    env.ok(&[
        "iam",
        "put-user-policy",
        "--user-name",
        "carol",
        "--policy-name",
        "p",
        "--policy-document",
        &deny_users.to_string(),
    ]);
    env.ok(&["--profile", "carol", "iam", "list-roles"]);
    let o = env.run(&["--profile", "carol", "iam", "list-users"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    let arn_prefix = "User: arn:aws:iam::";
    assert!(
        err.starts_with(
            "An error occurred (AccessDeniedException) when calling the ListUsers operation: "
        ) && err.contains(arn_prefix)
            && err
                .contains(":user/carol is not authorized to perform: iam:ListUsers on resource: ")
            && err
                .trim_end()
                .ends_with("with an explicit deny in an identity-based policy"),
        "{err}"
    );
    let d = denials(&env);
    let e = d
        .iter()
        .find(|e| e["Action"] == "iam:ListUsers")
        .expect("denial audited");
    assert!(e["Principal"].as_str().unwrap().ends_with(":user/carol"));
    assert_eq!(e["Statement"], "p Statement[1] (Sid \"NotOthers\")");
    assert_eq!(e["SourceIp"], "127.0.0.1");
}

#[test]
fn simulate_principal_policy_names_the_deciding_statements() {
    let env = Env::new();
    let _s = Server::start(&env);
    let user: Value =
        serde_json::from_str(&env.ok(&["iam", "create-user", "--user-name", "dave"])).unwrap();
    let arn = user["User"]["Arn"].as_str().unwrap().to_owned();
    let doc = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "OwnTagOnly", "Effect": "Allow", "Action": "ssm:StartSession",
        "Resource": "arn:aws:ec2:*:*:instance/*",
        "Condition": {"StringLike": {"ssm:resourceTag/Team": ["hpc"]}}
    }]});
    env.ok(&[
        "iam",
        "put-user-policy",
        "--user-name",
        "dave",
        "--policy-name",
        "sessions",
        "--policy-document",
        &doc.to_string(),
    ]);
    let sim = |tag: &str| -> Value {
        let out = env.ok(&[
            "--json",
            "iam",
            "simulate-principal-policy",
            "--policy-source-arn",
            &arn,
            "--action-names",
            "ssm:StartSession",
            "--resource-arns",
            "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0",
            "--context-entries",
            &format!(
                "ContextKeyName=ssm:resourceTag/Team,ContextKeyValues={tag},ContextKeyType=string"
            ),
        ]);
        serde_json::from_str::<Value>(&out).unwrap()["EvaluationResults"][0].clone()
    };
    let yes = sim("hpc");
    assert_eq!(yes["EvalDecision"], "allowed");
    assert_eq!(yes["MatchedStatements"][0]["SourcePolicyId"], "sessions");
    assert_eq!(yes["MatchedStatements"][0]["Sid"], "OwnTagOnly");
    assert_eq!(sim("web")["EvalDecision"], "implicitDeny");
    let table = env.ok(&[
        "iam",
        "simulate-principal-policy",
        "--policy-source-arn",
        &arn,
        "--action-names",
        "iam:CreateUser",
    ]);
    assert!(table.contains("implicitDeny"), "{table}");
}

#[test]
fn malformed_policy_documents_are_refused_with_their_path() {
    let env = Env::new();
    let _s = Server::start(&env);
    env.ok(&["iam", "create-user", "--user-name", "erin"]);
    let o = env.run(&["iam", "put-user-policy", "--user-name", "erin", "--policy-name", "bad", "--policy-document",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:*","Resource":"*","Condition":{"StringEqualz":{"a":"b"}}}]}"#]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("(MalformedPolicyDocument)") && err.contains("Statement[0].Condition"),
        "{err}"
    );
}

#[test]
fn no_private_key_reaches_the_server_log_or_the_audit_log() {
    let env = Env::new();
    let _guard = support::DaemonGuard(&env);
    env.ok(&["--log-level", "debug", "server", "start"]);
    let out = env.ok(&["iam", "create-user", "--user-name", "frank"]);
    assert!(out.contains("frank"));
    let key: Value =
        serde_json::from_str(&env.ok(&["iam", "create-access-key", "--user-name", "frank"]))
            .unwrap();
    let secret = key["AccessKey"]["PrivateKey"].as_str().unwrap().to_owned();
    let admin = ClientFiles {
        dir: env.config_dir(),
    }
    .load("default")
    .unwrap()
    .private_key
    .unwrap();
    let audit = env.ok(&["--json", "audit"]);
    env.ok(&["server", "stop"]);
    let log = support::read(&env.state_dir().join("server.log"));
    assert!(
        log.contains("CreateAccessKey") || log.contains("decision"),
        "log is empty?"
    );
    for s in [&secret, &admin] {
        assert!(
            !log.contains(s.as_str()),
            "a private key is in the server log"
        );
        assert!(
            !audit.contains(s.as_str()),
            "a private key is in the audit log"
        );
    }
}

#[test]
fn an_absurd_request_time_is_refused_and_the_server_keeps_answering() {
    let env = Env::new();
    let _s = Server::start(&env);
    let raw = Raw::new(&env);
    let path = "/v1/iam/ListUsers";
    for (i, date) in [i64::MIN, i64::MAX, -1].into_iter().enumerate() {
        // Correctly signed, so the time check itself is what is attacked.
        let h = signed(&env, "default", path, "{}", date, &format!("n-absurd-{i}"));
        assert_eq!(h[1].1, date.to_string());
        let (st, v) = raw.post(path, &h, "{}");
        assert_eq!(
            (st, v["__type"].as_str()),
            (403, Some("InvalidSignatureException")),
            "{date}: {v}"
        );
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .starts_with("Signature expired"),
            "{v}"
        );
        // The next ordinary requests, reads and writes, still succeed.
        let h = signed(&env, "default", path, "{}", now(), &format!("n-after-{i}"));
        let (st, v) = raw.post(path, &h, "{}");
        assert_eq!(st, 200, "after {date}: {v}");
        env.ok(&["iam", "create-user", "--user-name", &format!("after{i}")]);
    }
}

#[test]
fn out_of_range_numbers_get_validation_errors_never_a_crash() {
    let env = Env::new();
    let _s = Server::start(&env);
    let raw = Raw::new(&env);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ssm.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    env.ok(&[
        "iam",
        "create-role",
        "--role-name",
        "R",
        "--assume-role-policy-document",
        trust,
    ]);
    let path = "/v1/ssm/CreateActivation";
    for (i, secs) in [i64::MIN, -1, 0, 30 * 86_400 + 1, i64::MAX]
        .into_iter()
        .enumerate()
    {
        let body = json!({"IamRole": "R", "ExpiresInSeconds": secs}).to_string();
        let h = signed(&env, "default", path, &body, now(), &format!("n-act-{i}"));
        let (st, v) = raw.post(path, &h, &body);
        assert_eq!(
            (st, v["__type"].as_str()),
            (400, Some("ValidationException")),
            "{secs}: {v}"
        );
        assert!(
            v["message"].as_str().unwrap().contains("at most 30 days"),
            "{v}"
        );
    }
    // The CLI says the same for a validity in hours past the limit.
    let o = env.run(&[
        "activation",
        "create",
        "--role",
        "R",
        "--expires-in-hours",
        "721",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("(ValidationException)") && err.contains("30 days"),
        "{err}"
    );
    env.ok(&[
        "activation",
        "create",
        "--role",
        "R",
        "--expires-in-hours",
        "720",
    ]);

    // Console sessions: AWS's 900 s to 43200 s.
    for d in [
        "1",
        "899",
        "43201",
        "-9223372036854775808",
        "9223372036854775807",
    ] {
        let o = env.run(&["console", &format!("--session-duration={d}")]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(matches!(o.status.code(), Some(1 | 2)), "{d}: {err}");
        assert!(err.contains("between 900 and 43200"), "{d}: {err}");
    }
    env.ok(&["console", "--session-duration", "900"]);
    env.ok(&["iam", "list-users"]);
}

#[test]
fn user_and_role_names_are_unique_whatever_their_case() {
    let env = Env::new();
    let _s = Server::start(&env);
    env.ok(&["iam", "create-user", "--user-name", "alice"]);
    let o = env.run(&["iam", "create-user", "--user-name", "Alice"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("(EntityAlreadyExists)")
            && err.contains("User with name Alice already exists."),
        "{err}"
    );
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ssm.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    env.ok(&[
        "iam",
        "create-role",
        "--role-name",
        "NodeRole",
        "--assume-role-policy-document",
        trust,
    ]);
    let o = env.run(&[
        "iam",
        "create-role",
        "--role-name",
        "NODEROLE",
        "--assume-role-policy-document",
        trust,
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("(EntityAlreadyExists)"), "{err}");
    let users: Value = serde_json::from_str(&env.ok(&["--json", "iam", "list-users"])).unwrap();
    let names: Vec<&str> = users["Users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["UserName"].as_str())
        .collect();
    assert_eq!(names, ["admin", "alice"]);
}

#[test]
fn only_the_server_administrator_can_lower_the_console_minimum() {
    let env = Env::new();
    // A floor of 0 or below is taken as 1 s: a session is never empty.
    let _s = Server::start_with(&env, &[("AIRLOCK_CONSOLE_MIN_SESSION_SECS", "-5")]);
    env.ok(&["console", "--session-duration", "1"]);
    let o = env.run(&["console", "--session-duration", "0"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("between 1 and 43200"), "{err}");
}
