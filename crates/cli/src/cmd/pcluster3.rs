//! ParallelCluster 3's command names as aliases (`create-cluster`,
//! `delete-cluster`, `describe-cluster`, `list-clusters`,
//! `describe-cluster-instances`, `version`), printing what `pcluster` 3
//! prints: its API's JSON shapes with camelCase keys, on stdout, errors as
//! `{"message": …}` with exit status 1. A pcluster 3 user's scripts run
//! against airlock with the command name changed.
//!
//! The conversions from airlock's `cluster` API to those shapes are the pure
//! functions below; the commands only call the API and print.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::Global;
use crate::client::{ApiClient, CallError};
use crate::output::s;

/// airlock's version, which `version` prints and clusters report.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The validator type airlock's configuration diagnostics are reported as
/// (pcluster's name for the checks of the file's keys and values).
pub const CONFIG_VALIDATOR: &str = "ConfigSchemaValidator";
/// The validator type of the server's warnings about a configuration.
pub const SERVER_VALIDATOR: &str = "AirlockValidator";

/// `--region`, which every pcluster 3 command accepts. airlock's server
/// has one region: the option is accepted and not used.
#[derive(clap::Args, Clone, Debug)]
pub struct RegionArg {
    /// Accepted for pcluster compatibility; the server's region is used.
    #[arg(long, short = 'r')]
    pub region: Option<String>,
}

#[derive(clap::Args)]
pub struct CreateClusterArgs {
    /// The cluster's name (letters, digits and hyphens; starts with a letter).
    #[arg(long, short = 'n')]
    pub cluster_name: String,
    /// The configuration file (v3 YAML, or v2 INI).
    #[arg(long, short = 'c')]
    pub cluster_configuration: PathBuf,
    /// Validators to suppress: ALL or type:NAME. airlock's errors describe
    /// clusters it cannot build and are never suppressed; warnings are.
    #[arg(long, num_args = 1.., value_parser = suppress_expression)]
    pub suppress_validators: Vec<String>,
    /// The lowest level that fails the request.
    #[arg(long, value_enum, default_value = "ERROR")]
    pub validation_failure_level: Level,
    /// Only validate: nothing is created.
    #[arg(long, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new(), default_value = "false")]
    pub dryrun: bool,
    /// Roll back what was created when creation fails.
    #[arg(long, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new(), default_value = "true")]
    pub rollback_on_failure: bool,
    #[command(flatten)]
    pub region: RegionArg,
}

#[derive(clap::Args)]
pub struct ClusterNameArgs {
    /// The cluster's name.
    #[arg(long, short = 'n')]
    pub cluster_name: String,
    #[command(flatten)]
    pub region: RegionArg,
}

#[derive(clap::Args)]
pub struct ListClustersArgs {
    /// Only clusters in these states.
    #[arg(long, num_args = 1.., value_enum)]
    pub cluster_status: Vec<ClusterStatusFilter>,
    /// Accepted for pcluster compatibility; every cluster is on one page.
    #[arg(long, hide = true)]
    pub next_token: Option<String>,
    #[command(flatten)]
    pub region: RegionArg,
}

#[derive(clap::Args)]
pub struct DescribeInstancesArgs {
    /// The cluster's name.
    #[arg(long, short = 'n')]
    pub cluster_name: String,
    /// Only the head node or only compute nodes.
    #[arg(long, value_enum)]
    pub node_type: Option<NodeType>,
    /// Only the compute nodes of this queue.
    #[arg(long)]
    pub queue_name: Option<String>,
    /// Accepted for pcluster compatibility; every instance is on one page.
    #[arg(long, hide = true)]
    pub next_token: Option<String>,
    #[command(flatten)]
    pub region: RegionArg,
}

/// A validation level, lowest first.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[value(rename_all = "UPPER")]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeType {
    #[value(name = "HeadNode")]
    HeadNode,
    #[value(name = "ComputeNode")]
    ComputeNode,
}

impl NodeType {
    fn as_str(self) -> &'static str {
        match self {
            NodeType::HeadNode => "HeadNode",
            NodeType::ComputeNode => "ComputeNode",
        }
    }
}

/// pcluster 3's `ClusterStatusFilteringOption`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClusterStatusFilter {
    CreateInProgress,
    CreateFailed,
    CreateComplete,
    DeleteInProgress,
    DeleteFailed,
    UpdateInProgress,
    UpdateComplete,
    UpdateFailed,
}

impl ClusterStatusFilter {
    fn as_str(self) -> &'static str {
        match self {
            ClusterStatusFilter::CreateInProgress => "CREATE_IN_PROGRESS",
            ClusterStatusFilter::CreateFailed => "CREATE_FAILED",
            ClusterStatusFilter::CreateComplete => "CREATE_COMPLETE",
            ClusterStatusFilter::DeleteInProgress => "DELETE_IN_PROGRESS",
            ClusterStatusFilter::DeleteFailed => "DELETE_FAILED",
            ClusterStatusFilter::UpdateInProgress => "UPDATE_IN_PROGRESS",
            ClusterStatusFilter::UpdateComplete => "UPDATE_COMPLETE",
            ClusterStatusFilter::UpdateFailed => "UPDATE_FAILED",
        }
    }
}

/// `--suppress-validators`: `ALL` or `type:NAME`, as pcluster accepts them.
fn suppress_expression(v: &str) -> Result<String, String> {
    let ok = v == "ALL"
        || v.strip_prefix("type:")
            .is_some_and(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric()));
    if ok {
        Ok(v.to_owned())
    } else {
        Err(format!("'{v}' does not match '^(ALL|type:[A-Za-z0-9]+)$'"))
    }
}

// ---------------------------------------------------------------------------
// Pure conversions.

/// pcluster 3's `clusterStatus` for a CloudFormation stack status
/// (`cloud_formation_status_to_cluster_status`): rollbacks are failed
/// creations or updates, everything else is the stack's own status.
pub fn cluster_status(stack_status: &str) -> &str {
    match stack_status {
        "ROLLBACK_IN_PROGRESS" | "ROLLBACK_FAILED" | "ROLLBACK_COMPLETE" => "CREATE_FAILED",
        "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
        | "UPDATE_ROLLBACK_IN_PROGRESS"
        | "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS" => "UPDATE_IN_PROGRESS",
        "UPDATE_ROLLBACK_FAILED" | "UPDATE_ROLLBACK_COMPLETE" => "UPDATE_FAILED",
        other => other,
    }
}

/// The compute fleet's status: the server's (`Cluster.ComputeFleetStatus`)
/// once the stack is complete, else `RUNNING` then; `UNKNOWN` while the
/// stack is being created or deleted, or failed, as pcluster reports a
/// fleet whose status table does not exist (airlock's server records a
/// status from the start).
pub fn compute_fleet_status(describe: &Value) -> String {
    let stack = s(&describe["Cluster"], "StackStatus");
    let has_fleet = stack == "CREATE_COMPLETE"
        || (stack.starts_with("UPDATE_") && stack != "UPDATE_ROLLBACK_FAILED");
    if !has_fleet {
        return "UNKNOWN".into();
    }
    [
        &describe["Cluster"]["ComputeFleetStatus"],
        &describe["ComputeFleetStatus"],
    ]
    .into_iter()
    .find_map(|v| v.as_str().filter(|st| !st.is_empty()))
    .unwrap_or("RUNNING")
    .to_owned()
}

/// An RFC 3339 time as pcluster prints it: `2021-09-06T11:03:47.696Z`.
/// Anything that does not parse is passed on as it is.
pub fn timestamp(t: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(t, &Rfc3339)
        .ok()
        .and_then(format_utc)
        .unwrap_or_else(|| t.to_owned())
}

/// Unix seconds (airlock's `LaunchTime`) as pcluster prints a time.
pub fn unix_timestamp(secs: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(format_utc)
}

fn format_utc(t: time::OffsetDateTime) -> Option<String> {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC).format(&f).ok()
}

/// A field that is a string, or `None` when it is absent, null or empty.
fn opt(v: &Value, key: &str) -> Option<String> {
    Some(s(v, key)).filter(|x| !x.is_empty())
}

/// pcluster 3's `ClusterInfoSummary` for one of `ListClusters`'
/// `Clusters`, or for a `DescribeCluster` answer.
pub fn cluster_summary(c: &Value) -> Value {
    // A DescribeCluster answer has the stack under "Cluster"; a listing
    // item is flat.
    let stack = if c["Cluster"].is_object() {
        &c["Cluster"]
    } else {
        c
    };
    let status = s(stack, "StackStatus");
    json!({
        "clusterName": s(stack, "ClusterName"),
        "cloudformationStackStatus": status,
        "cloudformationStackArn": s(c, "ClusterArn"),
        "region": s(c, "Region"),
        "version": opt(c, "Version").unwrap_or_else(|| VERSION.to_owned()),
        "clusterStatus": cluster_status(&status),
    })
}

/// `list-clusters`: `{"clusters": [ClusterInfoSummary…]}`, only those
/// whose `clusterStatus` is in `statuses` when any are given.
pub fn list_clusters(v: &Value, statuses: &[ClusterStatusFilter]) -> Value {
    let clusters: Vec<Value> = v["Clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(cluster_summary)
        .filter(|c| {
            statuses.is_empty()
                || statuses
                    .iter()
                    .any(|f| c["clusterStatus"].as_str() == Some(f.as_str()))
        })
        .collect();
    json!({ "clusters": clusters })
}

/// One of `DescribeClusterInstances`' instances as pcluster 3's
/// `EC2Instance` (the head node in `describe-cluster`): `instanceType` only
/// when the server knows it, and never a public address (nodes have none).
fn ec2_instance(i: &Value) -> Value {
    let mut o = json!({
        "instanceId": s(i, "InstanceId"),
        "privateIpAddress": s(i, "PrivateIpAddress"),
        "state": s(i, "State"),
    });
    if let Some(t) = i["LaunchTime"].as_i64().and_then(unix_timestamp) {
        o["launchTime"] = json!(t);
    }
    if let Some(t) = opt(i, "InstanceType") {
        o["instanceType"] = json!(t);
    }
    o
}

/// Whether pcluster would list the instance: EC2's pending, running,
/// stopping and stopped ones (not those shutting down or terminated).
fn listed(i: &Value) -> bool {
    !matches!(s(i, "State").as_str(), "shutting-down" | "terminated")
}

fn is_head(i: &Value) -> bool {
    s(i, "NodeType") == "HeadNode"
}

/// `describe-cluster-instances`: `{"instances": [ClusterInstance…]}` with
/// `nodeType` HeadNode or ComputeNode and a compute node's `queueName`
/// (from its Slurm name, `{queue}-{st|dy}-{type}-{n}`).
pub fn cluster_instances(v: &Value, node_type: Option<NodeType>, queue: Option<&str>) -> Value {
    let instances: Vec<Value> = v["Instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| listed(i))
        .filter_map(|i| {
            let kind = if is_head(i) {
                NodeType::HeadNode
            } else {
                NodeType::ComputeNode
            };
            let queue_name = match kind {
                NodeType::HeadNode => None,
                NodeType::ComputeNode => {
                    airlock_cluster::nodes::parse_node_name(&s(i, "Name")).map(|(q, ..)| q)
                }
            };
            if node_type.is_some_and(|t| t != kind)
                || queue.is_some_and(|q| queue_name.as_deref() != Some(q))
            {
                return None;
            }
            let mut o = ec2_instance(i);
            o["nodeType"] = json!(kind.as_str());
            if let Some(q) = queue_name {
                o["queueName"] = json!(q);
            }
            Some(o)
        })
        .collect();
    json!({ "instances": instances })
}

/// Why a failed stack failed: its first failed resource's reason.
fn failure_reason(d: &Value) -> Option<String> {
    d["Resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| s(r, "ResourceStatus").ends_with("_FAILED"))
        .find_map(|r| opt(r, "ResourceStatusReason"))
}

/// `describe-cluster`: pcluster 3's `DescribeClusterResponseContent` from a
/// `DescribeCluster` answer and, for `headNode`, the cluster's
/// `DescribeClusterInstances` answer (left out when there is none).
pub fn describe_cluster(d: &Value, instances: Option<&Value>) -> Value {
    let c = &d["Cluster"];
    let status = s(c, "StackStatus");
    let config = s(c, "ConfigFile");
    let url = if config.starts_with('/') {
        format!("file://{config}")
    } else {
        config
    };
    let tags: Vec<Value> = d["Tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| json!({"key": s(t, "Key"), "value": s(t, "Value")}))
        .collect();
    let mut o = json!({
        "clusterName": s(c, "ClusterName"),
        "region": s(d, "Region"),
        "version": opt(d, "Version").unwrap_or_else(|| VERSION.to_owned()),
        "cloudFormationStackStatus": status,
        "clusterStatus": cluster_status(&status),
        "scheduler": {"type": "slurm"},
        "cloudformationStackArn": s(d, "ClusterArn"),
        "creationTime": timestamp(&s(c, "CreationTime")),
        "lastUpdatedTime": timestamp(&s(c, "LastUpdatedTime")),
        "clusterConfiguration": {"url": url},
        "computeFleetStatus": compute_fleet_status(d),
        "tags": tags,
    });
    let head = instances.and_then(|v| {
        v["Instances"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| is_head(i) && listed(i))
    });
    if let Some(h) = head {
        o["headNode"] = ec2_instance(h);
    }
    let failed = ["CREATE_FAILED", "UPDATE_FAILED", "DELETE_FAILED"]
        .contains(&o["clusterStatus"].as_str().unwrap_or_default());
    if failed && let Some(r) = failure_reason(d) {
        o["failureReason"] = json!(r);
    }
    o
}

/// pcluster's error body.
pub fn error(message: &str) -> Value {
    json!({ "message": message })
}

/// pcluster 3's message for a cluster it cannot find.
pub fn not_found(name: &str) -> Value {
    error(&format!(
        "Cluster '{name}' does not exist or belongs to an incompatible ParallelCluster major version."
    ))
}

/// One `ConfigValidationMessage`.
pub fn validation_message(level: Level, kind: &str, message: &str) -> Value {
    json!({"level": level.as_str(), "type": kind, "message": message})
}

/// A configuration diagnostic as a `ConfigValidationMessage`: its
/// sentence, where it is (`file:line:column`) and its hint.
pub fn diagnostic_message(d: &airlock_config::Diagnostic) -> Value {
    let level = match d.severity {
        airlock_config::Severity::Error => Level::Error,
        airlock_config::Severity::Warning => Level::Warning,
    };
    let mut text = d.message.clone();
    if let Some(sp) = &d.span {
        text.push_str(&format!(" ({}:{}:{})", d.file, sp.line, sp.col));
    }
    if let Some(h) = &d.hint {
        text.push_str(&format!("; {h}"));
    }
    validation_message(level, CONFIG_VALIDATOR, &text)
}

/// What create-cluster does with the diagnostics: those at or above
/// `fail_at` fail the request (with every message as
/// `configurationValidationErrors`); the rest are `validationMessages`.
/// Suppressing ALL or `type:ConfigSchemaValidator` drops the warnings;
/// errors are clusters airlock cannot build and stay.
pub fn judge(
    messages: Vec<Value>,
    fail_at: Level,
    suppress: &[String],
) -> Result<Vec<Value>, Value> {
    let suppressed = |m: &Value| {
        m["level"] != "ERROR"
            && suppress
                .iter()
                .any(|x| x == "ALL" || x.strip_prefix("type:") == m["type"].as_str())
    };
    let kept: Vec<Value> = messages.into_iter().filter(|m| !suppressed(m)).collect();
    let rank = |m: &Value| match m["level"].as_str() {
        Some("ERROR") => Level::Error,
        Some("WARNING") => Level::Warning,
        _ => Level::Info,
    };
    if kept.iter().any(|m| rank(m) >= fail_at) {
        return Err(json!({
            "message": "Invalid cluster configuration",
            "configurationValidationErrors": kept,
        }));
    }
    Ok(kept)
}

// ---------------------------------------------------------------------------
// The commands.

/// Prints pcluster's output: the answer (through `--query`, as pcluster
/// applies it), or the error body as it is, with status 1.
pub fn emit(r: Result<Value, Value>) -> i32 {
    match r {
        Ok(v) => {
            crate::output::value(&v);
            0
        }
        Err(e) => {
            println!("{}", serde_json::to_string_pretty(&e).unwrap_or_default());
            1
        }
    }
}

/// An error as pcluster's body: the server's sentence (pcluster's own for
/// an unknown cluster), or what went wrong on this side.
pub fn api_error(e: &anyhow::Error, cluster: Option<&str>) -> Value {
    match (e.downcast_ref::<CallError>(), cluster) {
        (Some(CallError::Api { code, .. }), Some(name)) if code == "NotFoundException" => {
            not_found(name)
        }
        (Some(CallError::Api { message, .. }), _) => error(message),
        (None, _) => error(&format!("{e:#}")),
    }
}

fn call(c: &ApiClient, op: &str, body: &Value, cluster: Option<&str>) -> Result<Value, Value> {
    c.call("cluster", op, body)
        .map_err(|e| api_error(&e, cluster))
}

fn client(g: &Global) -> Result<ApiClient, Value> {
    ApiClient::from_global(g).map_err(|e| api_error(&e, None))
}

pub fn version() -> anyhow::Result<i32> {
    Ok(emit(Ok(json!({ "version": VERSION }))))
}

pub fn list(g: &Global, a: ListClustersArgs) -> anyhow::Result<i32> {
    let r = client(g)
        .and_then(|c| call(&c, "ListClusters", &json!({}), None))
        .map(|v| list_clusters(&v, &a.cluster_status));
    Ok(emit(r))
}

pub fn describe(g: &Global, a: ClusterNameArgs) -> anyhow::Result<i32> {
    let name = a.cluster_name.as_str();
    let r = client(g).and_then(|c| {
        let d = call(
            &c,
            "DescribeCluster",
            &json!({"ClusterName": name}),
            Some(name),
        )?;
        // The head node's details; a cluster without one has no headNode.
        let i = c
            .call(
                "cluster",
                "DescribeClusterInstances",
                &json!({"ClusterName": name}),
            )
            .ok();
        Ok(describe_cluster(&d, i.as_ref()))
    });
    Ok(emit(r))
}

pub fn instances(g: &Global, a: DescribeInstancesArgs) -> anyhow::Result<i32> {
    let name = a.cluster_name.as_str();
    let r = client(g)
        .and_then(|c| {
            call(
                &c,
                "DescribeClusterInstances",
                &json!({"ClusterName": name}),
                Some(name),
            )
        })
        .map(|v| cluster_instances(&v, a.node_type, a.queue_name.as_deref()));
    Ok(emit(r))
}

pub fn delete(g: &Global, a: ClusterNameArgs) -> anyhow::Result<i32> {
    let name = a.cluster_name.as_str();
    let body = json!({"ClusterName": name});
    let r = client(g).and_then(|c| {
        let d = call(&c, "DescribeCluster", &body, Some(name))?;
        let r = call(&c, "DeleteCluster", &body, Some(name))?;
        let mut summary = cluster_summary(&d);
        let status = opt(&r, "StackStatus").unwrap_or_else(|| "DELETE_IN_PROGRESS".into());
        summary["clusterStatus"] = json!(cluster_status(&status));
        summary["cloudformationStackStatus"] = json!(status);
        Ok(json!({ "cluster": summary }))
    });
    Ok(emit(r))
}

pub fn create(g: &Global, a: CreateClusterArgs) -> anyhow::Result<i32> {
    Ok(emit(create_cluster(g, &a)))
}

fn create_cluster(g: &Global, a: &CreateClusterArgs) -> Result<Value, Value> {
    // The name first, as pcluster checks its arguments before the file.
    airlock_config::v2::validate_cluster_name(&a.cluster_name)
        .map_err(|e| error(&format!("Bad Request: {e}")))?;
    let path = &a.cluster_configuration;
    // Read here first, so that a missing file is pcluster's error body
    // rather than the text `load_for_create` prints.
    if let Err(e) = std::fs::read(path) {
        return Err(error(&format!(
            "Bad Request: cannot read the cluster configuration {}: {e}",
            path.display()
        )));
    }
    let file = crate::cmd::config::FileArgs {
        config: Some(path.clone()),
        template: None,
    };
    let Some((file_name, text, report)) = crate::cmd::config::load_for_create(&file) else {
        return Err(error(&format!(
            "Bad Request: cannot read the cluster configuration {}",
            path.display()
        )));
    };
    let messages = report.diagnostics.iter().map(diagnostic_message).collect();
    let mut kept = judge(messages, a.validation_failure_level, &a.suppress_validators)?;
    if a.dryrun {
        let mut e = error("Request would have succeeded, but DryRun flag is set.");
        if !kept.is_empty() {
            e["validationMessages"] = json!(kept);
        }
        return Err(e);
    }
    let c = client(g)?;
    let name = a.cluster_name.as_str();
    let created = c
        .call(
            "cluster",
            "CreateCluster",
            &json!({
                "ClusterName": name, "ClusterConfiguration": text, "ConfigFile": file_name,
                "NoRollback": !a.rollback_on_failure,
            }),
        )
        .map_err(|e| match e.downcast_ref::<CallError>() {
            // What only the server can check (customer managed policies,
            // the scheduler): its sentence as a validation error.
            Some(CallError::Api { code, message, .. }) if code == "ValidationError" => json!({
                "message": "Invalid cluster configuration",
                "configurationValidationErrors": [validation_message(Level::Error, CONFIG_VALIDATOR, message)],
            }),
            _ => api_error(&e, None),
        })?;
    for w in created["Warnings"].as_array().into_iter().flatten() {
        kept.push(validation_message(
            Level::Warning,
            SERVER_VALIDATOR,
            w.as_str().unwrap_or_default(),
        ));
    }
    // The summary's region, ARN and version, as DescribeCluster has them.
    let summary = match c.call("cluster", "DescribeCluster", &json!({"ClusterName": name})) {
        Ok(d) => cluster_summary(&d),
        Err(_) => cluster_summary(&json!({
            "ClusterName": name, "StackStatus": s(&created, "StackStatus"),
        })),
    };
    let mut out = json!({ "cluster": summary });
    if !kept.is_empty() {
        out["validationMessages"] = json!(kept);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `DescribeCluster` as the server answers it (crates/server/src/ops/clusters.rs).
    fn describe_fixture(status: &str) -> Value {
        json!({
            "Cluster": {
                "ClusterName": "demo", "StackName": "airlock-demo", "StackStatus": status,
                "ConfigFile": "/home/u/cluster.yaml", "ClusterUser": "ubuntu", "KeyName": null,
                "VpcId": "vpc-local", "SubnetId": "subnet-local",
                "HeadInstanceId": "i-0123456789abcdef0", "MasterPrivateIp": "10.77.1.2",
                "CreatedBy": "arn:aws:iam::123456789012:user/admin",
                "CreationTime": "2026-12-07T04:25:14Z", "LastUpdatedTime": "2026-12-07T04:26:01Z",
                "ComputeFleetStatus": "RUNNING", "ComputeFleetUpdatedTime": "2026-12-07T04:25:14Z",
            },
            "Resources": [
                {"LogicalResourceId": "Network", "ResourceType": "AWS::EC2::Subnet", "PhysicalResourceId": "subnet-1",
                 "ResourceStatus": "CREATE_COMPLETE", "ResourceStatusReason": null, "LastUpdatedTimestamp": "2026-12-07T04:25:15Z"},
                {"LogicalResourceId": "HeadNode", "ResourceType": "AWS::EC2::Instance", "PhysicalResourceId": null,
                 "ResourceStatus": if status == "ROLLBACK_COMPLETE" { "CREATE_FAILED" } else { "CREATE_COMPLETE" },
                 "ResourceStatusReason": if status == "ROLLBACK_COMPLETE" { json!("the head node's agent was refused") } else { Value::Null },
                 "LastUpdatedTimestamp": "2026-12-07T04:25:30Z"},
            ],
            "Outputs": {"ClusterUser": "ubuntu", "MasterPrivateIP": "10.77.1.2", "HeadNodeInstanceId": "i-0123456789abcdef0"},
            "Region": "us-east-1",
            "ClusterArn": "arn:aws:airlock:us-east-1:123456789012:cluster/demo",
            "Version": "0.1.0",
            "Tags": [{"Key": "team", "Value": "hpc"}],
        })
    }

    /// `DescribeClusterInstances` as the server answers it.
    fn instances_fixture() -> Value {
        json!({"Instances": [
            {"NodeType": "HeadNode", "Name": "head", "InstanceId": "i-0123456789abcdef0",
             "PrivateIpAddress": "10.77.1.2", "State": "running", "PingStatus": "Online",
             "RegistrationError": null, "LaunchTime": 1_796_617_520, "InstanceType": "t3.micro"},
            {"NodeType": "Compute", "Name": "spot1-dy-c5large-1", "InstanceId": "i-0aaaaaaaaaaaaaaa1",
             "PrivateIpAddress": "10.77.1.3", "State": "running", "PingStatus": "Online",
             "RegistrationError": null, "LaunchTime": 1_796_617_600, "InstanceType": "c5.large"},
            {"NodeType": "Compute", "Name": "od-st-t2micro-1", "InstanceId": "i-0aaaaaaaaaaaaaaa2",
             "PrivateIpAddress": "10.77.1.4", "State": "pending", "PingStatus": "Inactive",
             "RegistrationError": null, "LaunchTime": 1_796_617_601, "InstanceType": null},
            {"NodeType": "Compute", "Name": "spot1-dy-c5large-2", "InstanceId": "i-0aaaaaaaaaaaaaaa3",
             "PrivateIpAddress": "10.77.1.5", "State": "terminated", "PingStatus": "ConnectionLost",
             "RegistrationError": null, "LaunchTime": 1_796_617_000, "InstanceType": "c5.large"},
        ]})
    }

    #[test]
    fn stack_statuses_become_cluster_statuses_as_pcluster_maps_them() {
        for (stack, cluster) in [
            ("CREATE_IN_PROGRESS", "CREATE_IN_PROGRESS"),
            ("CREATE_COMPLETE", "CREATE_COMPLETE"),
            ("CREATE_FAILED", "CREATE_FAILED"),
            ("ROLLBACK_IN_PROGRESS", "CREATE_FAILED"),
            ("ROLLBACK_COMPLETE", "CREATE_FAILED"),
            ("DELETE_IN_PROGRESS", "DELETE_IN_PROGRESS"),
            ("DELETE_FAILED", "DELETE_FAILED"),
            ("UPDATE_ROLLBACK_COMPLETE", "UPDATE_FAILED"),
            ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_IN_PROGRESS"),
        ] {
            assert_eq!(cluster_status(stack), cluster, "{stack}");
        }
    }

    #[test]
    fn describe_cluster_has_pcluster_3s_shape() {
        let v = describe_cluster(
            &describe_fixture("CREATE_COMPLETE"),
            Some(&instances_fixture()),
        );
        assert_eq!(
            v,
            json!({
                "clusterName": "demo",
                "region": "us-east-1",
                "version": "0.1.0",
                "cloudFormationStackStatus": "CREATE_COMPLETE",
                "clusterStatus": "CREATE_COMPLETE",
                "scheduler": {"type": "slurm"},
                "cloudformationStackArn": "arn:aws:airlock:us-east-1:123456789012:cluster/demo",
                "creationTime": "2026-12-07T04:25:14.000Z",
                "lastUpdatedTime": "2026-12-07T04:26:01.000Z",
                "clusterConfiguration": {"url": "file:///home/u/cluster.yaml"},
                "computeFleetStatus": "RUNNING",
                "tags": [{"key": "team", "value": "hpc"}],
                "headNode": {
                    "instanceId": "i-0123456789abcdef0",
                    "instanceType": "t3.micro",
                    "launchTime": "2026-12-07T04:25:20.000Z",
                    "privateIpAddress": "10.77.1.2",
                    "state": "running",
                },
            })
        );
    }

    #[test]
    fn a_failed_creation_says_why_and_has_no_fleet() {
        let v = describe_cluster(&describe_fixture("ROLLBACK_COMPLETE"), None);
        assert_eq!(v["clusterStatus"], "CREATE_FAILED");
        assert_eq!(v["cloudFormationStackStatus"], "ROLLBACK_COMPLETE");
        assert_eq!(v["computeFleetStatus"], "UNKNOWN");
        assert_eq!(v["failureReason"], "the head node's agent was refused");
        assert!(v.get("headNode").is_none());
    }

    #[test]
    fn the_servers_fleet_status_counts_once_the_stack_is_complete() {
        let mut d = describe_fixture("CREATE_COMPLETE");
        d["Cluster"]["ComputeFleetStatus"] = json!("STOPPED");
        assert_eq!(compute_fleet_status(&d), "STOPPED");
        d["Cluster"]["StackStatus"] = json!("UPDATE_COMPLETE");
        assert_eq!(compute_fleet_status(&d), "STOPPED");
        // A server that records no status: RUNNING once complete.
        let mut d = describe_fixture("CREATE_COMPLETE");
        d["Cluster"]
            .as_object_mut()
            .map(|c| c.remove("ComputeFleetStatus"));
        assert_eq!(compute_fleet_status(&d), "RUNNING");
        // The server records RUNNING from the start; pcluster has no fleet
        // status before the stack is complete.
        for st in [
            "CREATE_IN_PROGRESS",
            "ROLLBACK_COMPLETE",
            "DELETE_IN_PROGRESS",
        ] {
            assert_eq!(
                compute_fleet_status(&describe_fixture(st)),
                "UNKNOWN",
                "{st}"
            );
        }
    }

    #[test]
    fn list_clusters_has_pcluster_3s_shape_and_filters() {
        let listing = json!({"Clusters": [
            {"ClusterName": "a", "StackStatus": "CREATE_COMPLETE", "Version": "0.1.0",
             "CreationTime": "2026-12-07T04:25:14Z", "Region": "us-east-1",
             "ClusterArn": "arn:aws:airlock:us-east-1:123456789012:cluster/a"},
            {"ClusterName": "b", "StackStatus": "ROLLBACK_COMPLETE", "Version": "0.1.0",
             "CreationTime": "2026-12-07T04:30:00Z", "Region": "us-east-1",
             "ClusterArn": "arn:aws:airlock:us-east-1:123456789012:cluster/b"},
        ]});
        assert_eq!(
            list_clusters(&listing, &[]),
            json!({"clusters": [
                {"clusterName": "a", "cloudformationStackStatus": "CREATE_COMPLETE",
                 "cloudformationStackArn": "arn:aws:airlock:us-east-1:123456789012:cluster/a",
                 "region": "us-east-1", "version": "0.1.0", "clusterStatus": "CREATE_COMPLETE"},
                {"clusterName": "b", "cloudformationStackStatus": "ROLLBACK_COMPLETE",
                 "cloudformationStackArn": "arn:aws:airlock:us-east-1:123456789012:cluster/b",
                 "region": "us-east-1", "version": "0.1.0", "clusterStatus": "CREATE_FAILED"},
            ]})
        );
        let failed = list_clusters(&listing, &[ClusterStatusFilter::CreateFailed]);
        assert_eq!(failed["clusters"].as_array().map(Vec::len), Some(1));
        assert_eq!(failed["clusters"][0]["clusterName"], "b");
        assert_eq!(
            list_clusters(&json!({"Clusters": []}), &[]),
            json!({"clusters": []})
        );
    }

    #[test]
    fn a_describe_answer_summarises_like_a_listing_item() {
        assert_eq!(
            cluster_summary(&describe_fixture("DELETE_IN_PROGRESS")),
            json!({"clusterName": "demo", "cloudformationStackStatus": "DELETE_IN_PROGRESS",
                   "cloudformationStackArn": "arn:aws:airlock:us-east-1:123456789012:cluster/demo",
                   "region": "us-east-1", "version": "0.1.0", "clusterStatus": "DELETE_IN_PROGRESS"})
        );
    }

    #[test]
    fn describe_cluster_instances_has_pcluster_3s_shape_and_filters() {
        let all = cluster_instances(&instances_fixture(), None, None);
        assert_eq!(
            all,
            json!({"instances": [
                {"instanceId": "i-0123456789abcdef0", "instanceType": "t3.micro",
                 "launchTime": "2026-12-07T04:25:20.000Z", "privateIpAddress": "10.77.1.2",
                 "state": "running", "nodeType": "HeadNode"},
                {"instanceId": "i-0aaaaaaaaaaaaaaa1", "instanceType": "c5.large",
                 "launchTime": "2026-12-07T04:26:40.000Z", "privateIpAddress": "10.77.1.3",
                 "state": "running", "nodeType": "ComputeNode", "queueName": "spot1"},
                {"instanceId": "i-0aaaaaaaaaaaaaaa2",
                 "launchTime": "2026-12-07T04:26:41.000Z", "privateIpAddress": "10.77.1.4",
                 "state": "pending", "nodeType": "ComputeNode", "queueName": "od"},
            ]})
        );
        let heads = cluster_instances(&instances_fixture(), Some(NodeType::HeadNode), None);
        assert_eq!(heads["instances"].as_array().map(Vec::len), Some(1));
        let spot = cluster_instances(&instances_fixture(), None, Some("spot1"));
        assert_eq!(spot["instances"].as_array().map(Vec::len), Some(1));
        assert_eq!(spot["instances"][0]["instanceId"], "i-0aaaaaaaaaaaaaaa1");
        let none = cluster_instances(
            &instances_fixture(),
            Some(NodeType::HeadNode),
            Some("spot1"),
        );
        assert_eq!(none, json!({"instances": []}));
    }

    #[test]
    fn errors_have_pcluster_3s_shape() {
        assert_eq!(
            not_found("nosuch"),
            json!({"message": "Cluster 'nosuch' does not exist or belongs to an incompatible ParallelCluster major version."})
        );
        let e = anyhow::Error::new(CallError::Api {
            code: "NotFoundException".into(),
            operation: "DescribeCluster".into(),
            message: "Cluster x does not exist (see `airlock list`).".into(),
        });
        assert_eq!(api_error(&e, Some("x")), not_found("x"));
        let e = anyhow::Error::new(CallError::Api {
            code: "ConflictException".into(),
            operation: "DeleteCluster".into(),
            message: "Cluster x is already being deleted.".into(),
        });
        assert_eq!(
            api_error(&e, Some("x")),
            json!({"message": "Cluster x is already being deleted."})
        );
    }

    #[test]
    fn validation_fails_at_the_chosen_level_and_warnings_can_be_suppressed() {
        let warn = validation_message(Level::Warning, CONFIG_VALIDATOR, "w");
        let err = validation_message(Level::Error, CONFIG_VALIDATOR, "e");
        assert_eq!(
            judge(vec![warn.clone()], Level::Error, &[]),
            Ok(vec![warn.clone()])
        );
        assert_eq!(
            judge(vec![warn.clone(), err.clone()], Level::Error, &[]),
            Err(json!({"message": "Invalid cluster configuration",
                       "configurationValidationErrors": [
                           {"level": "WARNING", "type": "ConfigSchemaValidator", "message": "w"},
                           {"level": "ERROR", "type": "ConfigSchemaValidator", "message": "e"}]}))
        );
        assert!(judge(vec![warn.clone()], Level::Warning, &[]).is_err());
        assert_eq!(
            judge(vec![warn.clone()], Level::Warning, &["ALL".into()]),
            Ok(vec![])
        );
        assert_eq!(
            judge(
                vec![warn.clone()],
                Level::Warning,
                &["type:ConfigSchemaValidator".into()]
            ),
            Ok(vec![])
        );
        assert!(judge(vec![err], Level::Error, &["ALL".into()]).is_err());
        assert!(suppress_expression("ALL").is_ok());
        assert!(suppress_expression("type:KeyPairValidator").is_ok());
        assert!(suppress_expression("type:").is_err());
        assert!(suppress_expression("id:x").is_err());
    }

    #[test]
    fn a_configuration_error_becomes_a_validation_message() {
        let text = "[aws]\naws_region_name = us-east-1\n[global]\ncluster_template = default\n\
[cluster default]\nscheduler = slurm\nmax_queue_size = lots\n";
        let report = airlock_config::load(text, "bad.ini", None, None);
        let d = report
            .diagnostics
            .iter()
            .find(|d| d.is_error())
            .expect("an error");
        let m = diagnostic_message(d);
        assert_eq!(m["level"], "ERROR");
        assert_eq!(m["type"], CONFIG_VALIDATOR);
        assert!(
            m["message"]
                .as_str()
                .is_some_and(|t| t.contains("bad.ini:")),
            "{m}"
        );
    }

    #[test]
    fn times_are_printed_as_pcluster_prints_them() {
        assert_eq!(
            timestamp("2026-12-07T04:25:14Z"),
            "2026-12-07T04:25:14.000Z"
        );
        assert_eq!(timestamp("not a time"), "not a time");
        assert_eq!(
            unix_timestamp(0).as_deref(),
            Some("1970-01-01T00:00:00.000Z")
        );
    }
}
