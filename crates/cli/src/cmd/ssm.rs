//! `airlock ssm <verb>`: the `aws ssm` commands scripts already call, with
//! the AWS CLI's option names and the JSON it prints, so a script ports
//! with `aws` changed to `airlock`:
//!
//! ```text
//! airlock ssm start-session --target mi-0123456789abcdef0 \
//!     --document-name AWS-StartPortForwardingSession \
//!     --parameters '{"portNumber":["80"],"localPortNumber":["8080"]}'
//! airlock ssm describe-sessions --state History --query 'Sessions[].SessionId'
//! ```
//!
//! Each verb calls the API operation airlock's own command calls (`session
//! start`, `session list`, `instances`, `activation create`, …), so the
//! authorization and the audit trail are the same; `get-connection-status`
//! has its own (`ssm:GetConnectionStatus`, on the node); `start-session` runs
//! through [`super::session::start_document`]. What this module adds is the
//! options and the reshaping of results into `aws ssm`'s shapes, as pure
//! functions.

use serde_json::{Map, Value, json};

use crate::Global;
use crate::client::ApiClient;
use crate::output::{self, BadInput};
use crate::session_client as sc;

/// `airlock ssm …`.
#[derive(clap::Subcommand)]
pub enum SsmCommand {
    /// Start a session on a node (as `aws ssm start-session`): a shell, a
    /// command, port forwarding or SSH, by --document-name.
    StartSession(StartSessionArgs),
    /// Managed nodes, their agents and ping status (as `aws ssm
    /// describe-instance-information`).
    DescribeInstanceInformation,
    /// Active or ended sessions (as `aws ssm describe-sessions`).
    DescribeSessions {
        /// Active for open sessions, History for ended ones.
        #[arg(long, value_parser = ["Active", "History"])]
        state: String,
    },
    /// End a session and print its SessionId (as `aws ssm terminate-session`).
    TerminateSession {
        /// The session's id (see describe-sessions).
        #[arg(long)]
        session_id: String,
    },
    /// Whether a node's agent is connected: "connected" or "notconnected"
    /// (as `aws ssm get-connection-status`).
    GetConnectionStatus {
        /// The node: an instance id (mi-… or i-…) or its hostname.
        #[arg(long)]
        target: String,
    },
    /// Create a hybrid activation; prints its ActivationId and the
    /// ActivationCode, shown only once (as `aws ssm create-activation`).
    CreateActivation(CreateActivationArgs),
    /// Hybrid activations (as `aws ssm describe-activations`).
    DescribeActivations,
    /// Forget a hybrid machine; its certificate stops working and its
    /// sessions end (as `aws ssm deregister-managed-instance`).
    DeregisterManagedInstance {
        /// The node's id (mi-…).
        #[arg(long)]
        instance_id: String,
    },
    /// Add tags to a managed node (as `aws ssm add-tags-to-resource`).
    AddTagsToResource {
        /// The kind of resource: ManagedInstance, the one kind airlock tags.
        #[arg(long)]
        resource_type: String,
        /// The node's id (mi-… or i-…).
        #[arg(long)]
        resource_id: String,
        /// Tags as Key=K,Value=V (several, space-separated), or a JSON list
        /// ('[{"Key":"team","Value":"hpc"}]').
        #[arg(long, num_args = 1.., required = true)]
        tags: Vec<String>,
    },
}

/// `airlock ssm start-session`.
#[derive(clap::Args)]
pub struct StartSessionArgs {
    /// The node: an instance id (mi-… or i-…), a hostname or CLUSTER/head.
    #[arg(long)]
    target: String,
    /// The session document: SSM-SessionManagerRunShell (a shell),
    /// AWS-StartInteractiveCommand, AWS-StartNonInteractiveCommand,
    /// AWS-StartPortForwardingSession,
    /// AWS-StartPortForwardingSessionToRemoteHost or AWS-StartSSHSession.
    #[arg(long, default_value = super::session::RUN_SHELL)]
    document_name: String,
    /// The document's parameters, as JSON
    /// ('{"portNumber":["80"],"localPortNumber":["8080"]}') or as the
    /// shorthand portNumber=80,localPortNumber=8080.
    #[arg(long)]
    parameters: Option<String>,
}

/// `airlock ssm create-activation`.
#[derive(clap::Args)]
pub struct CreateActivationArgs {
    /// The IAM role the registered machines get.
    #[arg(long)]
    iam_role: String,
    /// What the activation is for.
    #[arg(long, default_value = "")]
    description: String,
    /// The Name tag the registered machines get.
    #[arg(long)]
    default_instance_name: Option<String>,
    /// How many machines may register with it.
    #[arg(long, default_value_t = 1)]
    registration_limit: i64,
    /// When it expires: an ISO 8601 time (2026-12-31T12:00:00Z), a date
    /// (2026-12-31, at midnight UTC) or seconds since the epoch; at most 30
    /// days ahead [default: in 24 hours].
    #[arg(long)]
    expiration_date: Option<String>,
}

pub fn run(g: &Global, c: SsmCommand) -> anyhow::Result<i32> {
    if let SsmCommand::StartSession(a) = c {
        let params = match &a.parameters {
            Some(p) => parameters(p)?,
            None => json!({}),
        };
        return super::session::start_document(g, a.target, &a.document_name, params);
    }
    let client = ApiClient::from_global(g)?;
    match c {
        SsmCommand::StartSession(_) => Ok(0),
        SsmCommand::DescribeInstanceInformation => {
            let v = client.call("ssm", "DescribeInstanceInformation", &json!({}))?;
            output::value(&instance_information(&v));
            Ok(0)
        }
        SsmCommand::DescribeSessions { state } => {
            let v = client.call("ssm", "DescribeSessions", &json!({"State": state}))?;
            output::value(&sessions(&v));
            Ok(0)
        }
        SsmCommand::TerminateSession { session_id } => {
            let v = client.call("ssm", "TerminateSession", &json!({"SessionId": session_id}))?;
            output::value(&terminated(&v, &session_id));
            Ok(0)
        }
        SsmCommand::GetConnectionStatus { target } => {
            let v = client.call("ssm", "GetConnectionStatus", &json!({"Target": target}))?;
            output::value(&connection_status(&v, &target));
            Ok(0)
        }
        SsmCommand::CreateActivation(a) => {
            let expires_in = match &a.expiration_date {
                Some(d) => expires_in_seconds(d, time::OffsetDateTime::now_utc())?,
                None => 86_400,
            };
            let v = client.call(
                "ssm",
                "CreateActivation",
                &json!({
                    "IamRole": a.iam_role,
                    "RegistrationLimit": a.registration_limit,
                    "Description": a.description,
                    "DefaultInstanceName": a.default_instance_name,
                    "ExpiresInSeconds": expires_in,
                }),
            )?;
            output::value(&activation_created(&v));
            Ok(0)
        }
        SsmCommand::DescribeActivations => {
            let v = client.call("ssm", "DescribeActivations", &json!({}))?;
            output::value(&activations(&v));
            Ok(0)
        }
        SsmCommand::DeregisterManagedInstance { instance_id } => {
            client.call(
                "ssm",
                "DeregisterManagedInstance",
                &json!({"InstanceId": instance_id}),
            )?;
            Ok(0)
        }
        SsmCommand::AddTagsToResource {
            resource_type,
            resource_id,
            tags: t,
        } => {
            client.call(
                "ssm",
                "AddTagsToResource",
                &json!({"ResourceType": resource_type, "ResourceId": resource_id, "Tags": tags(&t)?}),
            )?;
            Ok(0)
        }
    }
}

/// `--parameters`: JSON (`{"portNumber":["80"]}`, a lone string taken as a
/// list of one) or the shorthand `portNumber=80,localPortNumber=8080`.
fn parameters(text: &str) -> anyhow::Result<Value> {
    if !text.trim_start().starts_with('{') {
        return sc::parse_parameters(text)
            .map_err(|e| BadInput(format!("--parameters: {e}")).into());
    }
    let bad = |why: String| anyhow::Error::from(BadInput(format!("--parameters: {why}")));
    let v: Map<String, Value> =
        serde_json::from_str(text).map_err(|e| bad(format!("not a JSON object: {e}")))?;
    let mut out = Map::new();
    for (k, v) in v {
        let list = match v {
            Value::String(s) => vec![Value::String(s)],
            Value::Array(items) if items.iter().all(Value::is_string) => items,
            _ => return Err(bad(format!("{k} must be a list of strings"))),
        };
        out.insert(k, Value::Array(list));
    }
    Ok(Value::Object(out))
}

/// `--tags`: `Key=K,Value=V` items, or one JSON list of `{"Key", "Value"}`.
fn tags(args: &[String]) -> anyhow::Result<Vec<Value>> {
    match args {
        [one] if one.trim_start().starts_with('[') => {
            let list: Vec<Value> = serde_json::from_str(one)
                .map_err(|e| BadInput(format!("--tags: not a JSON list: {e}")))?;
            list.into_iter()
                .map(|t| match (t["Key"].as_str(), &t["Value"]) {
                    (Some(k), Value::String(v)) => Ok(json!({"Key": k, "Value": v})),
                    (Some(k), Value::Null) => Ok(json!({"Key": k, "Value": ""})),
                    _ => Err(BadInput(format!(
                        "--tags: {t} is not {{\"Key\": \"K\", \"Value\": \"V\"}}"
                    ))
                    .into()),
                })
                .collect()
        }
        items => items
            .iter()
            .map(|t| super::spec::tag(t).map_err(|e| BadInput(format!("--tags: {e}")).into()))
            .collect(),
    }
}

/// `--expiration-date` as seconds from `now`: RFC 3339, a date (midnight
/// UTC), a time without an offset (UTC) or seconds since the epoch, as the
/// AWS CLI takes timestamps.
fn expires_in_seconds(date: &str, now: time::OffsetDateTime) -> anyhow::Result<i64> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    let d = date.trim();
    let at = if let Ok(secs) = d.parse::<i64>() {
        time::OffsetDateTime::from_unix_timestamp(secs).ok()
    } else if let Ok(t) = time::OffsetDateTime::parse(d, &Rfc3339) {
        Some(t)
    } else if let Ok(t) = time::PrimitiveDateTime::parse(
        d,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    ) {
        Some(t.assume_utc())
    } else {
        time::Date::parse(d, format_description!("[year]-[month]-[day]"))
            .ok()
            .map(|day| day.midnight().assume_utc())
    };
    let at = at.ok_or_else(|| {
        BadInput(format!(
            "--expiration-date {date:?}: expected an ISO 8601 time (2026-12-31T12:00:00Z), a date (2026-12-31) or seconds since the epoch"
        ))
    })?;
    let secs = (at - now).whole_seconds();
    if secs <= 0 {
        return Err(BadInput(format!("--expiration-date {date} is not in the future")).into());
    }
    Ok(secs)
}

/// The fields `out` of `item` that it has (not null), each from the key
/// `from`: `aws ssm` leaves out what a record does not have.
fn pick(item: &Value, fields: &[(&str, &str)]) -> Value {
    let mut m = Map::new();
    for (out, from) in fields {
        match item.get(*from) {
            None | Some(Value::Null) => {}
            Some(v) => {
                m.insert((*out).to_owned(), v.clone());
            }
        }
    }
    Value::Object(m)
}

/// Each item of the list `key` in `v`, reshaped by `f`, under `key`.
fn each(v: &Value, key: &str, f: impl Fn(&Value) -> Value) -> Value {
    let list: Vec<Value> = v[key]
        .as_array()
        .map(|l| l.iter().map(f).collect())
        .unwrap_or_default();
    json!({ key: list })
}

/// `DescribeInstanceInformation` as `aws ssm describe-instance-information`
/// prints it: AWS's fields only (airlock's RegistrationError is
/// `airlock instances`'s).
fn instance_information(v: &Value) -> Value {
    const FIELDS: &[&str] = &[
        "InstanceId",
        "PingStatus",
        "LastPingDateTime",
        "AgentVersion",
        "PlatformType",
        "PlatformName",
        "ActivationId",
        "IamRole",
        "RegistrationDate",
        "ResourceType",
        "Name",
        "IPAddress",
        "ComputerName",
    ];
    let fields: Vec<(&str, &str)> = FIELDS.iter().map(|f| (*f, *f)).collect();
    each(v, "InstanceInformationList", |i| pick(i, &fields))
}

/// `DescribeSessions` as `aws ssm describe-sessions` prints it: the Owner
/// is the caller's ARN, as in AWS; airlock's extras (run-as, recording) are
/// `airlock session show`'s.
fn sessions(v: &Value) -> Value {
    each(v, "Sessions", |s| {
        let mut out = pick(
            s,
            &[
                ("SessionId", "SessionId"),
                ("Target", "Target"),
                ("Status", "Status"),
                ("StartDate", "StartDate"),
                ("EndDate", "EndDate"),
                ("DocumentName", "DocumentName"),
                ("Owner", "OwnerArn"),
                ("Reason", "Reason"),
            ],
        );
        if out.get("Owner").is_none()
            && let (Some(m), Some(owner)) = (out.as_object_mut(), s.get("Owner"))
        {
            m.insert("Owner".into(), owner.clone());
        }
        out
    })
}

/// `TerminateSession`'s answer: `{"SessionId": …}`, as AWS prints it.
fn terminated(v: &Value, requested: &str) -> Value {
    json!({"SessionId": v["SessionId"].as_str().unwrap_or(requested)})
}

/// `GetConnectionStatus`'s answer, as AWS prints it: the target as asked
/// and `connected` or `notconnected`.
fn connection_status(v: &Value, target: &str) -> Value {
    json!({
        "Target": v["Target"].as_str().unwrap_or(target),
        "Status": if v["Status"] == "connected" { "connected" } else { "notconnected" },
    })
}

/// `CreateActivation`'s answer: the id and the code.
fn activation_created(v: &Value) -> Value {
    pick(
        v,
        &[
            ("ActivationId", "ActivationId"),
            ("ActivationCode", "ActivationCode"),
        ],
    )
}

/// `DescribeActivations` as `aws ssm describe-activations` prints it.
fn activations(v: &Value) -> Value {
    const FIELDS: &[&str] = &[
        "ActivationId",
        "Description",
        "DefaultInstanceName",
        "IamRole",
        "RegistrationLimit",
        "RegistrationsCount",
        "ExpirationDate",
        "Expired",
        "CreatedDate",
    ];
    let fields: Vec<(&str, &str)> = FIELDS.iter().map(|f| (*f, *f)).collect();
    each(v, "ActivationList", |a| pick(a, &fields))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn parameters_are_json_or_the_shorthand() {
        assert_eq!(
            parameters(r#"{"portNumber":["80"],"localPortNumber":["8080"]}"#).unwrap(),
            json!({"portNumber": ["80"], "localPortNumber": ["8080"]})
        );
        assert_eq!(
            parameters("portNumber=80,localPortNumber=8080").unwrap(),
            json!({"portNumber": ["80"], "localPortNumber": ["8080"]})
        );
        assert_eq!(
            parameters(r#"{"command": "uname -a"}"#).unwrap(),
            json!({"command": ["uname -a"]}),
            "a lone string is a list of one"
        );
        let e = parameters(r#"{"portNumber": [80]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--parameters: portNumber must be a list of strings"
        );
        assert!(e.downcast_ref::<BadInput>().is_some(), "exit 2");
        assert!(parameters(r#"{"portNumber": "#).is_err());
        assert!(parameters("portNumber").is_err());
    }

    #[test]
    fn tags_are_shorthand_items_or_a_json_list() {
        let t = |a: &[&str]| tags(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            t(&["Key=team,Value=hpc", "Key=env"]).unwrap(),
            vec![
                json!({"Key": "team", "Value": "hpc"}),
                json!({"Key": "env", "Value": ""})
            ]
        );
        assert_eq!(
            t(&[r#"[{"Key":"team","Value":"hpc"}]"#]).unwrap(),
            vec![json!({"Key": "team", "Value": "hpc"})]
        );
        assert!(t(&["Value=x"]).is_err());
        assert!(t(&[r#"[{"Value":"x"}]"#]).is_err());
    }

    #[test]
    fn expiration_dates_take_the_aws_cli_timestamp_forms() {
        let now = datetime!(2026-12-07 05:00:00 UTC);
        assert_eq!(
            expires_in_seconds("2026-12-08T05:00:00Z", now).unwrap(),
            86_400
        );
        assert_eq!(
            expires_in_seconds("2026-12-08T07:00:00+02:00", now).unwrap(),
            86_400
        );
        assert_eq!(
            expires_in_seconds("2026-12-08T05:00:00", now).unwrap(),
            86_400
        );
        assert_eq!(expires_in_seconds("2026-12-09", now).unwrap(), 154_800);
        assert_eq!(
            expires_in_seconds(&(now.unix_timestamp() + 60).to_string(), now).unwrap(),
            60
        );
        let past = expires_in_seconds("2026-12-01", now).unwrap_err();
        assert!(past.to_string().contains("not in the future"), "{past}");
        let bad = expires_in_seconds("tomorrow", now).unwrap_err();
        assert!(bad.downcast_ref::<BadInput>().is_some());
    }

    #[test]
    fn instance_information_keeps_aws_fields_and_drops_nulls() {
        let v = json!({"InstanceInformationList": [{
            "InstanceId": "mi-1", "PingStatus": "Online",
            "LastPingDateTime": "2026-12-07T05:00:00Z", "AgentVersion": "0.1.0",
            "PlatformType": "Linux", "PlatformName": "Ubuntu", "ResourceType": "ManagedInstance",
            "IPAddress": "10.0.0.5", "ComputerName": "web1", "Name": null,
            "IamRole": "NodeRole", "ActivationId": "a-1", "RegistrationDate": "2026-12-07T04:00:00Z",
            "RegistrationError": null,
        }]});
        assert_eq!(
            instance_information(&v),
            json!({"InstanceInformationList": [{
                "InstanceId": "mi-1", "PingStatus": "Online",
                "LastPingDateTime": "2026-12-07T05:00:00Z", "AgentVersion": "0.1.0",
                "PlatformType": "Linux", "PlatformName": "Ubuntu", "ResourceType": "ManagedInstance",
                "IPAddress": "10.0.0.5", "ComputerName": "web1",
                "IamRole": "NodeRole", "ActivationId": "a-1", "RegistrationDate": "2026-12-07T04:00:00Z",
            }]})
        );
        assert_eq!(
            instance_information(&json!({})),
            json!({"InstanceInformationList": []})
        );
    }

    #[test]
    fn sessions_show_the_owner_arn_and_no_airlock_extras() {
        let v = json!({"Sessions": [{
            "SessionId": "alice-0c3bbbcb3143aab9b", "Owner": "alice",
            "OwnerArn": "arn:aws:iam::123456789012:user/alice", "Target": "mi-1",
            "DocumentName": "SSM-SessionManagerRunShell", "Parameters": {}, "RunAs": null,
            "Status": "Connected", "Reason": null, "StartDate": "2026-12-07T05:00:00Z",
            "EndDate": null, "Recording": true, "RecordingStatus": "InProgress",
        }]});
        assert_eq!(
            sessions(&v),
            json!({"Sessions": [{
                "SessionId": "alice-0c3bbbcb3143aab9b",
                "Owner": "arn:aws:iam::123456789012:user/alice", "Target": "mi-1",
                "DocumentName": "SSM-SessionManagerRunShell",
                "Status": "Connected", "StartDate": "2026-12-07T05:00:00Z",
            }]})
        );
        let no_arn = json!({"Sessions": [{"SessionId": "s", "Owner": "bob"}]});
        assert_eq!(sessions(&no_arn)["Sessions"][0]["Owner"], "bob");
    }

    #[test]
    fn terminate_prints_the_session_id() {
        assert_eq!(
            terminated(&json!({"SessionId": "alice-1"}), "alice-1"),
            json!({"SessionId": "alice-1"})
        );
        assert_eq!(
            terminated(&json!({}), "alice-2"),
            json!({"SessionId": "alice-2"})
        );
    }

    #[test]
    fn connection_status_prints_aws_shape() {
        assert_eq!(
            connection_status(&json!({"Target": "web1", "Status": "connected"}), "web1"),
            json!({"Target": "web1", "Status": "connected"})
        );
        assert_eq!(
            connection_status(&json!({}), "mi-1"),
            json!({"Target": "mi-1", "Status": "notconnected"})
        );
    }

    #[test]
    fn activations_print_as_aws_does() {
        assert_eq!(
            activation_created(&json!({"ActivationId": "a-1", "ActivationCode": "c0de"})),
            json!({"ActivationId": "a-1", "ActivationCode": "c0de"})
        );
        let v = json!({"ActivationList": [{
            "ActivationId": "a-1", "IamRole": "NodeRole", "Description": "",
            "DefaultInstanceName": null, "RegistrationLimit": 1, "RegistrationsCount": 0,
            "ExpirationDate": "2026-12-08T05:00:00Z", "Expired": false,
            "CreatedDate": "2026-12-07T05:00:00Z",
        }]});
        assert_eq!(
            activations(&v),
            json!({"ActivationList": [{
                "ActivationId": "a-1", "IamRole": "NodeRole", "Description": "",
                "RegistrationLimit": 1, "RegistrationsCount": 0,
                "ExpirationDate": "2026-12-08T05:00:00Z", "Expired": false,
                "CreatedDate": "2026-12-07T05:00:00Z",
            }]})
        );
    }
}
