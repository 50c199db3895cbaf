//! `cluster:*` operations: create, delete, describe and list cluster
//! stacks, their events, instances and Slurm node states, and the spot
//! interruption drill.

use std::time::Duration;

use airlock_cluster::provider::NodeRole;
use airlock_policy::{Policy, Request};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Allowed, Ctx, NoInput, Operation, Resource};
use crate::api_error::ApiError;
use crate::clusters::store::{self, ClusterRow};
use airlock_cluster::change_set;

use crate::clusters::{
    ClusterError, ComputeFleetStatus, StackStatus, fleet, key_pairs, provision, update,
};
use crate::iam::store::Iam;
use crate::instances::control::REGISTRATION_ACTIONS;
use crate::op;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Named {
    cluster_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateIn {
    cluster_name: String,
    cluster_configuration: String,
    config_file: String,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    no_rollback: bool,
}

fn arn(ctx: &Ctx<'_>, name: &str) -> Result<String, ApiError> {
    let account = crate::iam::store::account_id(ctx.conn)?;
    Ok(format!(
        "arn:aws:airlock:{}:{account}:cluster/{name}",
        ctx.state.region
    ))
}

fn builtin_or_customer(iam: &Iam<'_>, arn: &str) -> bool {
    airlock_policy::catalog::is_known(arn)
        || iam.managed_policy_document(arn).ok().flatten().is_some()
}

/// Why the nodes' agents will be refused, if the roles will not let them
/// register (`create` completes anyway, as on AWS).
fn registration_warning(iam: &Iam<'_>, policies: &[String]) -> Option<String> {
    let docs: Vec<(String, Policy)> = policies
        .iter()
        .filter_map(|a| {
            if let Some(p) = airlock_policy::catalog::get(a) {
                return Some((a.clone(), p.clone()));
            }
            let text = iam.managed_policy_document(a).ok().flatten()?;
            Policy::parse(&text).ok().map(|p| (a.clone(), p))
        })
        .collect();
    let missing: Vec<&str> = REGISTRATION_ACTIONS
        .iter()
        .copied()
        .filter(|action| {
            let req = Request::new(
                "arn:aws:sts::000000000000:assumed-role/node/i-0",
                *action,
                "*",
            );
            !airlock_policy::evaluate(docs.iter().map(|(n, p)| (n.as_str(), p)), &req).is_allowed()
        })
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "the nodes' roles do not allow {}: their agents will be refused and sessions to these nodes will fail. Add arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore to additional_iam_policies",
            missing.join(" and ")
        )
    })
}

/// The cluster a request names, as a resource.
fn cluster(ctx: &Ctx<'_>, name: &str) -> Result<Vec<Resource>, ApiError> {
    Ok(vec![Resource::arn(arn(ctx, name)?)])
}

/// A cluster to be made: its name must be one ParallelCluster accepts.
fn new_cluster(ctx: &Ctx<'_>, i: &CreateIn) -> Result<Vec<Resource>, ApiError> {
    airlock_config::v2::validate_cluster_name(&i.cluster_name)
        .map_err(|e| ApiError::validation(e.to_string()))?;
    cluster(ctx, &i.cluster_name)
}

/// A configuration airlock can build, or why not (`outcome` says what
/// did not happen).
fn valid_model(
    iam: &Iam<'_>,
    text: &str,
    file: &str,
    template: Option<&str>,
    outcome: &str,
) -> Result<airlock_config::ClusterModel, ApiError> {
    let known = |a: &str| builtin_or_customer(iam, a);
    let report = airlock_config::load(text, file, template, Some(&known));
    if report.has_errors() {
        let text: Vec<String> = report
            .diagnostics
            .iter()
            .filter(|d| d.severity == airlock_config::Severity::Error)
            .map(|d| d.to_string())
            .collect();
        return Err(ApiError::validation(format!(
            "the configuration is not valid; {outcome}:\n{}",
            text.join("\n")
        )));
    }
    let m = report
        .model
        .ok_or_else(|| ApiError::validation("the configuration has no cluster"))?;
    if m.scheduler.value.as_str() != "slurm" {
        return Err(ApiError::validation(format!(
            "scheduler {} is not supported: airlock builds Slurm clusters (scheduler = slurm)",
            m.scheduler.value.as_str()
        )));
    }
    Ok(m)
}

fn create(ctx: &Allowed<'_, '_>, i: CreateIn) -> Result<Value, ApiError> {
    ctx.state
        .clusters
        .provider()
        .check()
        .map_err(ClusterError::from)?;
    let iam = Iam::new(ctx.conn)?;
    let m = valid_model(
        &iam,
        &i.cluster_configuration,
        &i.config_file,
        i.template.as_deref(),
        "nothing was created",
    )?;
    if store::get(ctx.conn, &i.cluster_name)?.is_some() {
        return Err(ClusterError::AlreadyExists(i.cluster_name).into());
    }
    if let Some(k) = &m.key_name {
        key_pairs::require_for_config(ctx.conn, &k.value)?;
    }
    let policies: Vec<String> = m
        .additional_iam_policies
        .iter()
        .map(|p| p.value.clone())
        .collect();
    let warning = registration_warning(&iam, &policies);
    let row = ClusterRow {
        cluster_name: i.cluster_name.clone(),
        stack_name: format!("airlock-{}", i.cluster_name),
        stack_status: StackStatus::CreateInProgress,
        config_file: i.config_file.clone(),
        config_text: i.cluster_configuration.clone(),
        template: i.template.clone(),
        cluster_user: m.cluster_user.value.clone(),
        key_name: m.key_name.as_ref().map(|k| k.value.clone()),
        vpc_id: m
            .vpc
            .vpc_id
            .as_ref()
            .map(|v| v.value.clone())
            .unwrap_or_else(|| "vpc-local".into()),
        subnet_id: m
            .vpc
            .master_subnet_id
            .as_ref()
            .map(|v| v.value.clone())
            .unwrap_or_else(|| "subnet-local".into()),
        net_index: None,
        head_instance_id: None,
        master_private_ip: None,
        created_by: ctx.caller.arn.clone(),
        norollback: i.no_rollback,
        creation_time: String::new(),
        last_updated_time: String::new(),
        compute_fleet_status: ComputeFleetStatus::Running,
        compute_fleet_updated_time: String::new(),
    };
    store::insert(ctx.conn, &row)?;
    let st = ctx
        .state
        .shared()
        .ok_or_else(|| ApiError::internal("the server is not running"))?;
    let name = i.cluster_name.clone();
    std::thread::spawn(move || provision::create(st, name));
    Ok(json!({
        "ClusterName": row.cluster_name,
        "StackName": row.stack_name,
        "StackStatus": row.stack_status,
        "Warnings": warning.into_iter().collect::<Vec<_>>(),
    }))
}

fn outputs(c: &ClusterRow) -> Value {
    let mut o = json!({ "ClusterUser": c.cluster_user });
    if let Some(ip) = &c.master_private_ip {
        o["MasterPrivateIP"] = json!(ip);
    }
    if let Some(id) = &c.head_instance_id {
        o["HeadNodeInstanceId"] = json!(id);
    }
    o
}

/// A node's instance type, from the configuration (compute nodes by their
/// Slurm name's `{queue}-{st|dy}-{type token}-{n}`).
fn instance_type(
    m: Option<&airlock_config::ClusterModel>,
    role: NodeRole,
    name: &str,
) -> Option<String> {
    let m = m?;
    if role == NodeRole::HeadNode {
        return Some(m.head_node.instance_type.value.clone());
    }
    let (queue, _, token, _) = airlock_cluster::nodes::parse_node_name(name)?;
    m.queues
        .iter()
        .filter(|q| q.name == queue)
        .flat_map(|q| &q.compute_resources)
        .map(|cr| &cr.instance_type.value)
        .find(|it| airlock_cluster::nodes::instance_type_token(it) == token)
        .cloned()
}

fn instances(ctx: &Ctx<'_>, c: &ClusterRow) -> Result<Vec<Value>, ApiError> {
    let mut v = Vec::new();
    let model = provision::model_of(c).ok();
    for n in ctx.state.clusters.provider().describe(&c.cluster_name) {
        let row: Option<(String, Option<String>)> = ctx
            .conn
            .query_row(
                "SELECT ping_status, registration_error FROM instances WHERE instance_id = ?1",
                [&n.instance_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok();
        let (ping, err) = row.unwrap_or(("Inactive".into(), None));
        let online = ctx.state.hub.is_online(&n.instance_id);
        v.push(json!({
            "NodeType": match n.role { NodeRole::HeadNode => "HeadNode", NodeRole::Compute => "Compute" },
            "Name": n.name,
            "InstanceId": n.instance_id,
            "PrivateIpAddress": n.private_ip,
            "State": n.state.as_str(),
            "PingStatus": if online { "Online".to_owned() } else { ping },
            "RegistrationError": err,
            "LaunchTime": n.launched_at,
            "InstanceType": instance_type(model.as_ref(), n.role, &n.name),
        }));
    }
    Ok(v)
}

fn compute_fleet(ctx: &Ctx<'_>, c: &ClusterRow) -> Result<Value, ApiError> {
    use crate::clusters::head;
    use airlock_proto::control::SlurmProgram::Sinfo;
    let st = ctx.state;
    let failed = |e| ApiError::internal_because("sinfo on the head node failed", e);
    let sinfo = head::slurm(st, &c.cluster_name, Sinfo, &[]).map_err(|e| match e {
        ClusterError::HeadNodeUnavailable(_) => e.into(),
        e => failed(e),
    })?;
    let nodes =
        head::slurm(st, &c.cluster_name, Sinfo, &["-h", "-N", "-o", "%N %P %t"]).map_err(failed)?;
    let nodes: Vec<Value> = nodes
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some(json!({"Name": f.next()?, "Partition": f.next()?, "State": f.next()?}))
        })
        .collect();
    Ok(json!({
        "Status": c.compute_fleet_status,
        "LastStatusUpdatedTime": c.compute_fleet_updated_time,
        "OrphansTerminated": store::orphans_terminated(ctx.conn, &c.cluster_name)?,
        "Sinfo": sinfo,
        "Nodes": nodes,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateIn {
    cluster_name: String,
    cluster_configuration: String,
    config_file: String,
    #[serde(default)]
    template: Option<String>,
    /// Only compute and check the change set.
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FleetIn {
    cluster_name: String,
    status: String,
}

/// Updates and fleet changes need a stack that is built and not changing.
fn settled(c: &ClusterRow) -> Result<(), ClusterError> {
    if c.stack_status.settled() {
        return Ok(());
    }
    Err(ClusterError::NotSettled {
        cluster: c.cluster_name.clone(),
        status: c.stack_status.to_string(),
    })
}

/// `airlock update`: the change set, and the update started if every
/// change can be applied now (and this is no dry run).
fn update(ctx: &Allowed<'_, '_>, i: UpdateIn) -> Result<Value, ApiError> {
    let c = store::require(ctx.conn, &i.cluster_name)?;
    settled(&c)?;
    let iam = Iam::new(ctx.conn)?;
    let new = valid_model(
        &iam,
        &i.cluster_configuration,
        &i.config_file,
        i.template.as_deref(),
        "nothing was changed",
    )?;
    let old = provision::model_of(&c)?;
    let set = update::change_set(ctx.state, &c, &old, &new, &i.config_file)?;
    let applicable = change_set::applicable(&set);
    let changes: Vec<Value> = set
        .iter()
        .map(|x| {
            json!({
                "Section": x.change.section,
                "Parameter": x.change.parameter,
                "OldValue": x.change.old,
                "NewValue": x.change.new,
                "Result": x.outcome.as_str(),
                "Reason": x.reason,
                "ActionNeeded": x.action,
            })
        })
        .collect();
    let mut out = json!({
        "ClusterName": c.cluster_name,
        "ChangeSet": changes,
        "Applicable": applicable,
        "StackStatus": c.stack_status,
    });
    if set.is_empty() || !applicable || i.dry_run {
        return Ok(out);
    }
    let new_config = update::stored(
        &i.cluster_configuration,
        &i.config_file,
        i.template.as_deref(),
    );
    if !store::begin_update(ctx.conn, &c.cluster_name, &c.stored_config(), &new_config)? {
        // Another update or a delete got there first.
        settled(&store::require(ctx.conn, &c.cluster_name)?)?;
        return Err(ClusterError::Internal("the update could not start; try again".into()).into());
    }
    let st = ctx
        .state
        .shared()
        .ok_or_else(|| ApiError::internal("the server is not running"))?;
    let name = c.cluster_name.clone();
    std::thread::spawn(move || update::apply(st, name, old, new));
    out["StackStatus"] = json!(StackStatus::UpdateInProgress);
    Ok(out)
}

/// `airlock start|stop`: records the request; the fleet manager carries
/// it out (as pcluster's clustermgtd does).
fn update_compute_fleet(ctx: &Allowed<'_, '_>, i: FleetIn) -> Result<Value, ApiError> {
    let c = store::require(ctx.conn, &i.cluster_name)?;
    settled(&c)?;
    use ComputeFleetStatus as F;
    let (want, already) = match i.status.as_str() {
        "STOP_REQUESTED" => (
            F::StopRequested,
            c.compute_fleet_status.partitions_inactive(),
        ),
        "START_REQUESTED" => (
            F::StartRequested,
            !c.compute_fleet_status.partitions_inactive(),
        ),
        other => {
            return Err(ApiError::validation(format!(
                "Status '{other}' is not valid: use START_REQUESTED or STOP_REQUESTED"
            )));
        }
    };
    let status = if already {
        c.compute_fleet_status
    } else {
        store::set_fleet_status(ctx.conn, &c.cluster_name, want, "User Initiated")?;
        want
    };
    let c = store::require(ctx.conn, &i.cluster_name)?;
    Ok(json!({
        "ClusterName": c.cluster_name,
        "Status": status,
        "LastStatusUpdatedTime": c.compute_fleet_updated_time,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EventsIn {
    cluster_name: String,
    /// Events after this id.
    #[serde(default)]
    after: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InterruptIn {
    cluster_name: String,
    node_name: String,
    #[serde(default = "two")]
    notice_seconds: u64,
}

fn two() -> u64 {
    2
}

fn named(ctx: &Ctx<'_>, n: &Named) -> Result<Vec<Resource>, ApiError> {
    cluster(ctx, &n.cluster_name)
}

pub const OPERATIONS: &[Operation] = &[
    op!(
        "cluster",
        "CreateCluster",
        "airlock:CreateCluster",
        new_cluster,
        create
    ),
    op!(
        "cluster",
        "ListClusters",
        "airlock:ListClusters",
        |_, _: &NoInput| Ok(vec![Resource::any()]),
        |a, _| {
            let mut v = Vec::new();
            for c in store::list(a.conn)? {
                v.push(json!({"ClusterName": c.cluster_name, "StackStatus": c.stack_status, "Version": crate::VERSION, "CreationTime": c.creation_time, "Region": a.state.region, "ClusterArn": arn(a, &c.cluster_name)?}));
            }
            Ok(json!({ "Clusters": v }))
        }
    ),
    op!(
        "cluster",
        "DescribeCluster",
        "airlock:DescribeCluster",
        named,
        |a, n| {
            let c = store::require(a.conn, &n.cluster_name)?;
            let tags: Vec<Value> = provision::model_of(&c)
                .map(|m| provision::config_tags(&m))
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect();
            Ok(json!({
                "Cluster": c,
                "Resources": store::resources(a.conn, &c.cluster_name)?,
                "Outputs": outputs(&c),
                "ComputeFleet": {
                    "Status": c.compute_fleet_status,
                    "LastStatusUpdatedTime": c.compute_fleet_updated_time,
                    "OrphansTerminated": store::orphans_terminated(a.conn, &c.cluster_name)?,
                },
                "Region": a.state.region,
                "ClusterArn": arn(a, &c.cluster_name)?,
                "Version": crate::VERSION,
                "Tags": tags,
            }))
        }
    ),
    op!(
        "cluster",
        "DescribeClusterEvents",
        "airlock:DescribeClusterEvents",
        |ctx, i: &EventsIn| cluster(ctx, &i.cluster_name),
        |a, i| {
            // A deleted stack's events stay readable a while (`airlock
            // delete` prints the last resources' after the stack is gone).
            let events = match store::get(a.conn, &i.cluster_name)? {
                Some(c) => store::events(a.conn, &c.cluster_name, i.after)?,
                None => store::deleted_events(a.conn, &i.cluster_name, i.after)?,
            };
            Ok(json!({ "Events": events }))
        }
    ),
    op!(
        "cluster",
        "DescribeClusterInstances",
        "airlock:DescribeClusterInstances",
        named,
        |a, n| {
            let c = store::require(a.conn, &n.cluster_name)?;
            Ok(json!({ "Instances": instances(a, &c)? }))
        }
    ),
    op!(
        "cluster",
        "DescribeComputeFleet",
        "airlock:DescribeComputeFleet",
        named,
        |a, n| { compute_fleet(a, &store::require(a.conn, &n.cluster_name)?) }
    ),
    op!(
        "cluster",
        "UpdateCluster",
        "airlock:UpdateCluster",
        |ctx, i: &UpdateIn| cluster(ctx, &i.cluster_name),
        update
    ),
    op!(
        "cluster",
        "UpdateComputeFleet",
        "airlock:UpdateComputeFleet",
        |ctx, i: &FleetIn| cluster(ctx, &i.cluster_name),
        update_compute_fleet
    ),
    op!(
        "cluster",
        "InterruptSpotInstance",
        "airlock:InterruptSpotInstance",
        |ctx, i: &InterruptIn| cluster(ctx, &i.cluster_name),
        |a, i| {
            let c = store::require(a.conn, &i.cluster_name)?;
            let secs = i.notice_seconds.min(120);
            let id = fleet::interrupt_spot(
                a.state,
                a.conn,
                &c.cluster_name,
                &i.node_name,
                Duration::from_secs(secs),
            )?;
            Ok(json!({ "InstanceId": id, "NoticeSeconds": secs }))
        }
    ),
    op!(
        "cluster",
        "DeleteCluster",
        "airlock:DeleteCluster",
        named,
        delete
    ),
];

fn delete(a: &Allowed<'_, '_>, n: Named) -> Result<Value, ApiError> {
    let c = store::require(a.conn, &n.cluster_name)?;
    a.state
        .clusters
        .provider()
        .check()
        .map_err(ClusterError::from)?;
    if c.stack_status == StackStatus::DeleteInProgress {
        return Err(ClusterError::BeingDeleted(c.cluster_name).into());
    }
    store::set_status(
        a.conn,
        &c.cluster_name,
        StackStatus::DeleteInProgress,
        Some("User Initiated"),
    )?;
    let st = a
        .state
        .shared()
        .ok_or_else(|| ApiError::internal("the server is not running"))?;
    let name = c.cluster_name.clone();
    std::thread::spawn(move || provision::delete(st, name));
    Ok(json!({ "ClusterName": c.cluster_name, "StackStatus": StackStatus::DeleteInProgress }))
}
