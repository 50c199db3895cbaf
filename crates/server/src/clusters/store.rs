//! Cluster stacks in the database: the stack, its resources with their
//! statuses, its events, and EC2-style key pairs.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{ClusterError, ComputeFleetStatus, StackStatus};
use crate::iam::store::now_iso;

/// The resources of a cluster stack, in creation order.
pub const RESOURCES: [(&str, &str); 7] = [
    ("Network", "AWS::EC2::Subnet"),
    ("SecurityGroup", "AWS::EC2::SecurityGroup"),
    ("HeadNodeRole", "AWS::IAM::Role"),
    ("ComputeRole", "AWS::IAM::Role"),
    ("HeadNode", "AWS::EC2::Instance"),
    ("SlurmController", "Airlock::Slurm::Controller"),
    ("ComputeFleet", "Airlock::Slurm::ComputeFleet"),
];

pub fn resource_type(logical_id: &str) -> &'static str {
    RESOURCES
        .iter()
        .find(|(l, _)| *l == logical_id)
        .map(|(_, t)| *t)
        .unwrap_or("Airlock::Node")
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClusterRow {
    pub cluster_name: String,
    pub stack_name: String,
    pub stack_status: StackStatus,
    pub config_file: String,
    #[serde(skip)]
    pub config_text: String,
    #[serde(skip)]
    pub template: Option<String>,
    pub cluster_user: String,
    pub key_name: Option<String>,
    pub vpc_id: String,
    pub subnet_id: String,
    #[serde(skip)]
    pub net_index: Option<u8>,
    pub head_instance_id: Option<String>,
    pub master_private_ip: Option<String>,
    pub created_by: String,
    #[serde(skip)]
    pub norollback: bool,
    pub creation_time: String,
    pub last_updated_time: String,
    pub compute_fleet_status: ComputeFleetStatus,
    pub compute_fleet_updated_time: String,
}

const COLS: &str = "name, stack_status, config_file, config_text, template, cluster_user, key_name, vpc_id, subnet_id, net_index, head_instance, head_ip, created_by, norollback, created_at, updated_at, compute_fleet_status, compute_fleet_updated_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClusterRow> {
    let name: String = r.get(0)?;
    Ok(ClusterRow {
        stack_name: format!("airlock-{name}"),
        cluster_name: name,
        stack_status: r.get(1)?,
        config_file: r.get(2)?,
        config_text: r.get(3)?,
        template: r.get(4)?,
        cluster_user: r.get(5)?,
        key_name: r.get(6)?,
        vpc_id: r.get(7)?,
        subnet_id: r.get(8)?,
        net_index: r
            .get::<_, Option<i64>>(9)?
            .and_then(|i| u8::try_from(i).ok()),
        head_instance_id: r.get(10)?,
        master_private_ip: r.get(11)?,
        created_by: r.get(12)?,
        norollback: r.get::<_, i64>(13)? != 0,
        creation_time: r.get(14)?,
        last_updated_time: r.get(15)?,
        compute_fleet_status: r.get(16)?,
        compute_fleet_updated_time: r.get(17)?,
    })
}

pub fn insert(conn: &Connection, c: &ClusterRow) -> Result<(), ClusterError> {
    let now = now_iso();
    conn.execute(
        &format!("INSERT INTO clusters({COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?15,?16,?15)"),
        params![c.cluster_name, c.stack_status, c.config_file, c.config_text, c.template, c.cluster_user, c.key_name, c.vpc_id, c.subnet_id, c.net_index, c.head_instance_id, c.master_private_ip, c.created_by, c.norollback as i64, now, c.compute_fleet_status],
    )?;
    // What a deleted stack of this name left readable ([`remove`]) is not
    // this stack's history.
    conn.execute(
        "DELETE FROM stack_events WHERE cluster = ?1",
        params![c.cluster_name],
    )?;
    for (logical, ty) in RESOURCES {
        conn.execute(
            "INSERT INTO stack_resources(cluster, logical_id, resource_type, status, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![c.cluster_name, logical, ty, StackStatus::CreatePending, now],
        )?;
    }
    event(
        conn,
        &c.cluster_name,
        &c.stack_name,
        "AWS::CloudFormation::Stack",
        StackStatus::CreateInProgress.as_str(),
        Some("User Initiated"),
    )
}

pub fn get(conn: &Connection, name: &str) -> Result<Option<ClusterRow>, ClusterError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLS} FROM clusters WHERE name = ?1"),
            params![name],
            row,
        )
        .optional()?)
}

/// The cluster, or ParallelCluster's error for an unknown one.
pub fn require(conn: &Connection, name: &str) -> Result<ClusterRow, ClusterError> {
    get(conn, name)?.ok_or_else(|| ClusterError::NotFound(name.to_owned()))
}

pub fn list(conn: &Connection) -> Result<Vec<ClusterRow>, ClusterError> {
    let mut st = conn.prepare(&format!(
        "SELECT {COLS} FROM clusters ORDER BY created_at, name"
    ))?;
    let v = st.query_map([], row)?.collect::<Result<_, _>>()?;
    Ok(v)
}

pub fn set_status(
    conn: &Connection,
    name: &str,
    status: StackStatus,
    reason: Option<&str>,
) -> Result<(), ClusterError> {
    conn.execute(
        "UPDATE clusters SET stack_status = ?2, updated_at = ?3 WHERE name = ?1",
        params![name, status, now_iso()],
    )?;
    event(
        conn,
        name,
        &format!("airlock-{name}"),
        "AWS::CloudFormation::Stack",
        status.as_str(),
        reason,
    )
}

/// Records the compute fleet's new status, with a stack event.
pub fn set_fleet_status(
    conn: &Connection,
    name: &str,
    status: ComputeFleetStatus,
    reason: &str,
) -> Result<(), ClusterError> {
    conn.execute(
        "UPDATE clusters SET compute_fleet_status = ?2, compute_fleet_updated_at = ?3 WHERE name = ?1",
        params![name, status, now_iso()],
    )?;
    event(
        conn,
        name,
        "ComputeFleet",
        "Airlock::Slurm::ComputeFleet",
        status.as_str(),
        Some(reason),
    )
}

/// A cluster's configuration as it was stored.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct StoredConfig {
    pub text: String,
    pub file: String,
    pub template: Option<String>,
}

impl ClusterRow {
    pub fn stored_config(&self) -> StoredConfig {
        StoredConfig {
            text: self.config_text.clone(),
            file: self.config_file.clone(),
            template: self.template.clone(),
        }
    }
}

/// Starts an update: the new configuration replaces the stored one, which
/// is kept until [`end_update`]; the stack goes UPDATE_IN_PROGRESS.
/// Refused (false) unless the stack is settled, so two updates cannot race.
pub fn begin_update(
    conn: &Connection,
    name: &str,
    old: &StoredConfig,
    new: &StoredConfig,
) -> Result<bool, ClusterError> {
    let previous = serde_json::to_string(old)
        .map_err(|e| ClusterError::Internal(format!("encoding the configuration: {e}")))?;
    let settled: Vec<String> = StackStatus::ALL
        .iter()
        .filter(|s| s.settled())
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    let n = conn.execute(
        &format!("UPDATE clusters SET config_text = ?2, config_file = ?3, template = ?4, previous_config = ?5 WHERE name = ?1 AND stack_status IN ({})", settled.join(",")),
        params![name, new.text, new.file, new.template, previous],
    )?;
    if n == 0 {
        return Ok(false);
    }
    set_status(
        conn,
        name,
        StackStatus::UpdateInProgress,
        Some("User Initiated"),
    )?;
    Ok(true)
}

/// The configuration an update in progress replaced.
pub fn previous_config(
    conn: &Connection,
    name: &str,
) -> Result<Option<StoredConfig>, ClusterError> {
    let text: Option<String> = conn
        .query_row(
            "SELECT previous_config FROM clusters WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// Ends an update: `restore` puts the previous configuration back.
pub fn end_update(
    conn: &Connection,
    name: &str,
    restore: Option<&StoredConfig>,
) -> Result<(), ClusterError> {
    match restore {
        Some(c) => conn.execute(
            "UPDATE clusters SET config_text = ?2, config_file = ?3, template = ?4, previous_config = NULL WHERE name = ?1",
            params![name, c.text, c.file, c.template],
        )?,
        None => conn.execute(
            "UPDATE clusters SET previous_config = NULL WHERE name = ?1",
            params![name],
        )?,
    };
    Ok(())
}

/// How many orphans (running instances of nodes Slurm powered down) the
/// fleet manager terminated in this cluster.
pub fn orphans_terminated(conn: &Connection, name: &str) -> Result<i64, ClusterError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM stack_events WHERE cluster = ?1 AND status = 'TERMINATED' AND reason LIKE 'orphan %'",
        params![name],
        |r| r.get(0),
    )?)
}

pub fn set_head(
    conn: &Connection,
    name: &str,
    instance: &str,
    ip: &str,
) -> Result<(), ClusterError> {
    conn.execute(
        "UPDATE clusters SET head_instance = ?2, head_ip = ?3 WHERE name = ?1",
        params![name, instance, ip],
    )?;
    Ok(())
}

/// Records a resource's new status and the event for it.
pub fn set_resource(
    conn: &Connection,
    cluster: &str,
    logical_id: &str,
    physical_id: Option<&str>,
    status: StackStatus,
    reason: Option<&str>,
) -> Result<(), ClusterError> {
    conn.execute(
        "UPDATE stack_resources SET status = ?3, reason = ?4, physical_id = COALESCE(?5, physical_id), updated_at = ?6 WHERE cluster = ?1 AND logical_id = ?2",
        params![cluster, logical_id, status, reason, physical_id, now_iso()],
    )?;
    event(
        conn,
        cluster,
        logical_id,
        resource_type(logical_id),
        status.as_str(),
        reason,
    )
}

/// Records an event: `status` is a [`StackStatus`]'s spelling, or for the
/// fleet manager's actions on a node, the action's name (`TERMINATED`, …).
pub fn event(
    conn: &Connection,
    cluster: &str,
    logical_id: &str,
    ty: &str,
    status: &str,
    reason: Option<&str>,
) -> Result<(), ClusterError> {
    conn.execute(
        "INSERT INTO stack_events(cluster, logical_id, resource_type, status, reason, timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![cluster, logical_id, ty, status, reason, now_iso()],
    )?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    pub logical_resource_id: String,
    pub resource_type: String,
    pub physical_resource_id: Option<String>,
    pub resource_status: StackStatus,
    pub resource_status_reason: Option<String>,
    pub last_updated_timestamp: String,
}

pub fn resources(conn: &Connection, cluster: &str) -> Result<Vec<Resource>, ClusterError> {
    let mut st = conn.prepare("SELECT logical_id, resource_type, physical_id, status, reason, updated_at FROM stack_resources WHERE cluster = ?1 ORDER BY rowid")?;
    let v = st
        .query_map(params![cluster], |r| {
            Ok(Resource {
                logical_resource_id: r.get(0)?,
                resource_type: r.get(1)?,
                physical_resource_id: r.get(2)?,
                resource_status: r.get(3)?,
                resource_status_reason: r.get(4)?,
                last_updated_timestamp: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(v)
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StackEvent {
    pub event_id: i64,
    pub logical_resource_id: String,
    pub resource_type: String,
    pub resource_status: String,
    pub resource_status_reason: Option<String>,
    pub timestamp: String,
}

pub fn events(
    conn: &Connection,
    cluster: &str,
    after: i64,
) -> Result<Vec<StackEvent>, ClusterError> {
    let mut st = conn.prepare("SELECT event_id, logical_id, resource_type, status, reason, timestamp FROM stack_events WHERE cluster = ?1 AND event_id > ?2 ORDER BY event_id")?;
    let v = st
        .query_map(params![cluster, after], |r| {
            Ok(StackEvent {
                event_id: r.get(0)?,
                logical_resource_id: r.get(1)?,
                resource_type: r.get(2)?,
                resource_status: r.get(3)?,
                resource_status_reason: r.get(4)?,
                timestamp: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(v)
}

pub fn remove(conn: &Connection, cluster: &str) -> Result<(), ClusterError> {
    conn.execute(
        "DELETE FROM cluster_secrets WHERE cluster = ?1",
        params![cluster],
    )?;
    conn.execute(
        "DELETE FROM stack_resources WHERE cluster = ?1",
        params![cluster],
    )?;
    conn.execute("DELETE FROM clusters WHERE name = ?1", params![cluster])?;
    // The stack's events stay readable, as CloudFormation keeps a deleted
    // stack's, so that `airlock delete` can show the last resources' events
    // after the stack is gone; those of stacks deleted over a day ago go.
    conn.execute(
        "DELETE FROM stack_events WHERE cluster NOT IN (SELECT name FROM clusters) \
         AND cluster != ?1 AND timestamp < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 day')",
        params![cluster],
    )?;
    Ok(())
}

/// The events of a deleted stack ([`remove`] keeps them), or `NotFound`
/// when no stack of that name left any.
pub fn deleted_events(
    conn: &Connection,
    cluster: &str,
    after: i64,
) -> Result<Vec<StackEvent>, ClusterError> {
    let v = events(conn, cluster, after)?;
    let any: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM stack_events WHERE cluster = ?1)",
        params![cluster],
        |r| r.get(0),
    )?;
    if any {
        Ok(v)
    } else {
        Err(ClusterError::NotFound(cluster.to_owned()))
    }
}
