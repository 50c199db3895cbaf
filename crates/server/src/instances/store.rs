//! Managed instances and hybrid activations in the database.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use super::error::InstanceError;
use crate::iam::ids;
use crate::iam::store::now_iso;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Activation {
    pub activation_id: String,
    pub iam_role: String,
    pub description: String,
    pub default_instance_name: Option<String>,
    pub registration_limit: i64,
    pub registrations_count: i64,
    pub expiration_date: String,
    pub expired: bool,
    pub created_date: String,
}

crate::text_enum! {
    /// Whether a managed instance's agent is connected, with SSM's names.
    pub enum PingStatus {
        Online = "Online",
        /// It was connected; its control channel is gone.
        ConnectionLost = "ConnectionLost",
        /// Refused (its role may not register), or never connected.
        Inactive = "Inactive",
    }
}

/// One row of `DescribeInstanceInformation`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceInformation {
    pub instance_id: String,
    pub ping_status: PingStatus,
    pub last_ping_date_time: Option<String>,
    pub agent_version: Option<String>,
    pub platform_type: Option<String>,
    pub platform_name: Option<String>,
    pub resource_type: String,
    pub i_p_address: Option<String>,
    pub computer_name: Option<String>,
    pub name: Option<String>,
    pub iam_role: String,
    pub activation_id: Option<String>,
    pub registration_date: String,
    pub registration_error: Option<String>,
}

pub use airlock_proto::control::{NodeFacts, looks_like_instance_id};

/// How an instance's identity was looked up from its certificate.
#[derive(Debug, Clone)]
pub struct InstanceIdentity {
    pub instance_id: String,
    pub role_name: String,
    pub resource_type: String,
}

pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub(crate) fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub(crate) fn iso(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// `mi-` and 17 hex digits for hybrid machines.
pub fn managed_instance_id() -> String {
    format!("mi-{}", &ids::random_hex(9)[..17])
}

/// The longest an activation may last: AWS's `ExpirationDate` is at most
/// 30 days in the future.
pub const MAX_ACTIVATION_SECS: i64 = 30 * 86_400;

/// Creates an activation; returns it and the one-time code.
pub fn create_activation(
    conn: &Connection,
    role_name: &str,
    description: &str,
    default_name: Option<&str>,
    limit: i64,
    expires_in_secs: i64,
) -> Result<(Activation, String), InstanceError> {
    if !(1..=1000).contains(&limit) {
        return Err(InstanceError::RegistrationLimit);
    }
    let expires_at = (1..=MAX_ACTIVATION_SECS)
        .contains(&expires_in_secs)
        .then(|| unix_now().checked_add(expires_in_secs))
        .flatten()
        .ok_or(InstanceError::ActivationExpiry {
            max: MAX_ACTIVATION_SECS,
            got: expires_in_secs,
        })?;
    let id = format!(
        "{}-{}-{}-{}-{}",
        &ids::random_hex(4),
        &ids::random_hex(2),
        &ids::random_hex(2),
        &ids::random_hex(2),
        &ids::random_hex(6)
    );
    let code = ids::random_hex(10);
    conn.execute(
        "INSERT INTO activations(activation_id, code_sha256, role_name, description, default_name, registration_limit, expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![id, sha256_hex(&code), role_name, description, default_name, limit, expires_at, now_iso()],
    )?;
    Ok((describe_activation(conn, &id)?, code))
}

pub fn describe_activation(conn: &Connection, id: &str) -> Result<Activation, InstanceError> {
    conn.query_row(
        "SELECT activation_id, role_name, description, default_name, registration_limit, registrations, expires_at, created_at FROM activations WHERE activation_id = ?1",
        params![id],
        |r| {
            let expires: i64 = r.get(6)?;
            Ok(Activation {
                activation_id: r.get(0)?,
                iam_role: r.get(1)?,
                description: r.get(2)?,
                default_instance_name: r.get(3)?,
                registration_limit: r.get(4)?,
                registrations_count: r.get(5)?,
                expiration_date: iso(expires),
                expired: expires < unix_now(),
                created_date: r.get(7)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| InstanceError::NoSuchActivation(id.to_owned()))
}

pub fn list_activations(conn: &Connection) -> Result<Vec<Activation>, InstanceError> {
    let mut st = conn.prepare("SELECT activation_id FROM activations ORDER BY created_at")?;
    let ids: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    ids.iter().map(|i| describe_activation(conn, i)).collect()
}

pub fn delete_activation(conn: &Connection, id: &str) -> Result<(), InstanceError> {
    describe_activation(conn, id)?;
    conn.execute(
        "DELETE FROM activations WHERE activation_id = ?1",
        params![id],
    )?;
    Ok(())
}

/// Redeems an activation code: checks it, counts it, and records a new
/// managed instance bound to `cert_sha256`. Returns the instance id.
pub fn redeem_activation(
    conn: &Connection,
    activation_id: &str,
    code: &str,
    issue: impl FnOnce(&str) -> Result<(String, String), InstanceError>,
) -> Result<(String, String), InstanceError> {
    let invalid = || InstanceError::InvalidActivation;
    let row: Option<(String, String, i64, i64, i64, Option<String>)> = conn
        .query_row(
            "SELECT code_sha256, role_name, registration_limit, registrations, expires_at, default_name FROM activations WHERE activation_id = ?1",
            params![activation_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .optional()?;
    let (hash, role, limit, count, expires, default_name) = row.ok_or_else(invalid)?;
    if hash != sha256_hex(code) || count >= limit || expires < unix_now() {
        return Err(invalid());
    }
    let instance_id = managed_instance_id();
    let (cert_pem, fp) = issue(&instance_id)?;
    conn.execute(
        "UPDATE activations SET registrations = registrations + 1 WHERE activation_id = ?1",
        params![activation_id],
    )?;
    conn.execute(
        "INSERT INTO instances(instance_id, resource_type, role_name, activation_id, cert_sha256, name, registered_at)
         VALUES (?1, 'ManagedInstance', ?2, ?3, ?4, ?5, ?6)",
        params![instance_id, role, activation_id, fp, default_name, now_iso()],
    )?;
    Ok((instance_id, cert_pem))
}

pub fn identity_by_cert(
    conn: &Connection,
    sha: &str,
) -> Result<Option<InstanceIdentity>, InstanceError> {
    Ok(conn
        .prepare_cached(
            "SELECT instance_id, role_name, resource_type FROM instances WHERE cert_sha256 = ?1",
        )?
        .query_row(params![sha], |r| {
            Ok(InstanceIdentity {
                instance_id: r.get(0)?,
                role_name: r.get(1)?,
                resource_type: r.get(2)?,
            })
        })
        .optional()?)
}

/// Records the node's facts and its ping status.
pub fn set_status(
    conn: &Connection,
    instance_id: &str,
    status: PingStatus,
    facts: Option<&NodeFacts>,
    error: Option<&str>,
) -> Result<(), InstanceError> {
    conn.prepare_cached(
        "UPDATE instances SET ping_status = ?2, registration_error = ?3, last_ping_at = CASE WHEN ?2 = ?5 THEN ?4 ELSE last_ping_at END WHERE instance_id = ?1",
    )?
    .execute(params![instance_id, status, error, now_iso(), PingStatus::Online])?;
    if let Some(f) = facts {
        conn.prepare_cached(
            "UPDATE instances SET computer_name = ?2, ip_address = ?3, platform_type = ?4, platform_name = ?5, agent_version = ?6 WHERE instance_id = ?1",
        )?
        .execute(params![instance_id, f.computer_name, f.ip_address, f.platform_type, f.platform_name, f.agent_version])?;
    }
    Ok(())
}

/// Records heartbeats (instance id → when, RFC 3339 UTC), all in one
/// transaction. The ping status is left alone: a heartbeat written after its
/// connection closed must not make the instance Online again; and an older
/// time never replaces a newer one (a reconnection writes its own).
pub fn record_pings(
    conn: &Connection,
    pings: &std::collections::HashMap<String, String>,
) -> Result<(), InstanceError> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut st =
            tx.prepare_cached("UPDATE instances SET last_ping_at = ?2 WHERE instance_id = ?1 AND (last_ping_at IS NULL OR last_ping_at < ?2)")?;
        for (id, at) in pings {
            st.execute(params![id, at])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// At server start nothing is connected: what was Online is ConnectionLost.
pub fn mark_all_disconnected(conn: &Connection) -> Result<(), InstanceError> {
    conn.execute(
        "UPDATE instances SET ping_status = ?1 WHERE ping_status = ?2",
        params![PingStatus::ConnectionLost, PingStatus::Online],
    )?;
    Ok(())
}

pub fn describe_instances(conn: &Connection) -> Result<Vec<InstanceInformation>, InstanceError> {
    let mut st = conn.prepare(
        "SELECT instance_id, ping_status, last_ping_at, agent_version, platform_type, platform_name, resource_type, ip_address, computer_name, name, role_name, activation_id, registered_at, registration_error FROM instances ORDER BY registered_at, instance_id",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok(InstanceInformation {
                instance_id: r.get(0)?,
                ping_status: r.get(1)?,
                last_ping_date_time: r.get(2)?,
                agent_version: r.get(3)?,
                platform_type: r.get(4)?,
                platform_name: r.get(5)?,
                resource_type: r.get(6)?,
                i_p_address: r.get(7)?,
                computer_name: r.get(8)?,
                name: r.get(9)?,
                iam_role: r.get(10)?,
                activation_id: r.get(11)?,
                registration_date: r.get(12)?,
                registration_error: r.get(13)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn deregister(conn: &Connection, instance_id: &str) -> Result<(), InstanceError> {
    let n = conn.execute(
        "DELETE FROM instances WHERE instance_id = ?1",
        params![instance_id],
    )?;
    if n == 0 {
        return Err(InstanceError::NotManaged(instance_id.to_owned()));
    }
    Ok(())
}

/// The tags ParallelCluster puts on a cluster's instances.
pub const CLUSTER_TAG: &str = "parallelcluster:cluster-name";
pub const NODE_TYPE_TAG: &str = "parallelcluster:node-type";

/// Replaces (or with `remove`, deletes) tags of an instance.
pub fn set_tags(
    conn: &Connection,
    instance_id: &str,
    add: &[(String, String)],
    remove: &[String],
) -> Result<(), InstanceError> {
    let mut map: serde_json::Map<String, serde_json::Value> = tags(conn, instance_id)?
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    for (k, v) in add {
        map.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    for k in remove {
        map.remove(k);
    }
    let n = conn.execute(
        "UPDATE instances SET tags = ?2 WHERE instance_id = ?1",
        params![instance_id, serde_json::Value::Object(map).to_string()],
    )?;
    if n == 0 {
        return Err(InstanceError::NotManagedResource(instance_id.to_owned()));
    }
    Ok(())
}

/// The head node of a cluster, by ParallelCluster's tags.
fn head_of(conn: &Connection, cluster: &str) -> Result<Option<String>, InstanceError> {
    node_of(conn, cluster, None)
}

/// The head node (`node` None) or the named node of a cluster, by its tags.
fn node_of(
    conn: &Connection,
    cluster: &str,
    node: Option<&str>,
) -> Result<Option<String>, InstanceError> {
    let mut st = conn.prepare("SELECT instance_id, tags, name FROM instances")?;
    let rows: Vec<(String, String, Option<String>)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows.into_iter().find_map(|(id, t, name)| {
        let m: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&t).ok()?;
        let is = |k: &str, v: &str| m.get(k).and_then(|x| x.as_str()) == Some(v);
        let which = match node {
            None => is(NODE_TYPE_TAG, "HeadNode"),
            Some(n) => name.as_deref() == Some(n),
        };
        (is(CLUSTER_TAG, cluster) && which).then_some(id)
    }))
}

/// Finds an instance by id, computer name, name (unique), private IP,
/// `CLUSTER/head` or `CLUSTER/NODE`; last, `NODE.CLUSTER` (`head.mycluster`,
/// `spot1-dy-c5large-1.mycluster`): the form scp and rsync can take, as
/// they read a `/` before the `:` as a local path.
pub fn resolve_target(conn: &Connection, target: &str) -> Result<InstanceIdentity, InstanceError> {
    if let Some((cluster, node)) = target.split_once('/') {
        return resolve_cluster_node(conn, cluster, node);
    }
    // An instance id always means that instance. Then the names the server
    // or its admin gave; only then what nodes say of themselves, and only
    // when exactly one node says it.
    for cond in [
        "instance_id = ?1",
        "name = ?1",
        "computer_name = ?1 OR ip_address = ?1",
    ] {
        let found = identities_where(conn, cond, target)?;
        let mut found = found.into_iter();
        match (found.next(), found.len()) {
            (None, _) => continue,
            (Some(one), 0) => return Ok(one),
            (Some(first), _) => {
                let ids: Vec<String> = std::iter::once(first)
                    .chain(found)
                    .map(|i| i.instance_id)
                    .collect();
                return Err(InstanceError::AmbiguousTarget {
                    target: target.to_owned(),
                    candidates: candidates(conn, ids)?,
                });
            }
        }
    }
    if let Some((node, cluster)) = target.split_once('.')
        && !node.is_empty()
        && !cluster.is_empty()
        && !cluster.contains('.')
    {
        match resolve_cluster_node(conn, cluster, node) {
            Err(InstanceError::NoSuchNode { .. } | InstanceError::NoHeadNode { .. }) => {}
            found => return found,
        }
    }
    Err(InstanceError::UnknownTarget(target.to_owned()))
}

/// `CLUSTER/head` (the instance tagged as the cluster's head node) or
/// `CLUSTER/NODE` (the cluster's node of that name).
fn resolve_cluster_node(
    conn: &Connection,
    cluster: &str,
    node: &str,
) -> Result<InstanceIdentity, InstanceError> {
    let id = if node == "head" {
        head_of(conn, cluster)?.ok_or_else(|| InstanceError::NoHeadNode {
            cluster: cluster.to_owned(),
            cluster_tag: CLUSTER_TAG,
            node_type_tag: NODE_TYPE_TAG,
        })?
    } else {
        node_of(conn, cluster, Some(node))?.ok_or_else(|| InstanceError::NoSuchNode {
            cluster: cluster.to_owned(),
            node: node.to_owned(),
        })?
    };
    identities_where(conn, "instance_id = ?1", &id)?
        .into_iter()
        .next()
        .ok_or(InstanceError::UnknownTarget(id))
}

/// How an ambiguous target's instances are named to the user: a cluster's
/// node as `CLUSTER/head` or `CLUSTER/NODE` with its id, anything else by id.
fn candidates(conn: &Connection, ids: Vec<String>) -> Result<Vec<String>, InstanceError> {
    ids.into_iter()
        .map(|id| {
            let row: Option<(String, Option<String>)> = conn
                .query_row(
                    "SELECT tags, name FROM instances WHERE instance_id = ?1",
                    params![id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((tags, name)) = row else {
                return Ok(id);
            };
            let m: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&tags).unwrap_or_default();
            let tag = |k: &str| m.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            let node = match tag(NODE_TYPE_TAG).as_deref() {
                Some("HeadNode") => Some("head".to_owned()),
                _ => name,
            };
            Ok(match (tag(CLUSTER_TAG), node) {
                (Some(cluster), Some(node)) => format!("{cluster}/{node} ({id})"),
                _ => id,
            })
        })
        .collect()
}

/// Instances matching `cond` (a fixed SQL condition on `?1`) for `value`.
fn identities_where(
    conn: &Connection,
    cond: &str,
    value: &str,
) -> Result<Vec<InstanceIdentity>, InstanceError> {
    let mut st = conn.prepare(&format!(
        "SELECT instance_id, role_name, resource_type FROM instances WHERE {cond}"
    ))?;
    let found = st
        .query_map(params![value], |r| {
            Ok(InstanceIdentity {
                instance_id: r.get(0)?,
                role_name: r.get(1)?,
                resource_type: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(found)
}

/// An instance's tags, for `ssm:resourceTag/…` conditions.
pub fn tags(conn: &Connection, instance_id: &str) -> Result<Vec<(String, String)>, InstanceError> {
    let json: Option<String> = conn
        .query_row(
            "SELECT tags FROM instances WHERE instance_id = ?1",
            params![instance_id],
            |r| r.get(0),
        )
        .optional()?;
    let map: serde_json::Map<String, serde_json::Value> = json
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default();
    Ok(map
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_expiry_outside_one_second_to_thirty_days_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (conn, _) = crate::db::open(&tmp.path().join("a.db")).unwrap();
        let create = |secs| create_activation(&conn, "R", "", None, 1, secs);
        for bad in [i64::MIN, -1, 0, MAX_ACTIVATION_SECS + 1, i64::MAX] {
            let e = create(bad).unwrap_err();
            let e = crate::api_error::ApiError::from(e);
            assert_eq!((e.status(), e.code.as_str()), (400, "ValidationException"));
            assert!(e.message.contains("at most 30 days"), "{e:?}");
        }
        let (a, _) = create(MAX_ACTIVATION_SECS).unwrap();
        assert!(!a.expired);
        assert!(create(1).is_ok());
    }

    #[test]
    fn batched_heartbeats_move_last_ping_forward_only_and_keep_the_status() {
        let tmp = tempfile::tempdir().unwrap();
        let (conn, _) = crate::db::open(&tmp.path().join("a.db")).unwrap();
        for (id, fp) in [("mi-1", "f1"), ("mi-2", "f2")] {
            conn.execute(
                "INSERT INTO instances(instance_id, resource_type, role_name, cert_sha256, registered_at, ping_status, last_ping_at)
                 VALUES (?1, 'ManagedInstance', 'R', ?2, '2026-11-26T00:00:00Z', 'ConnectionLost', '2026-11-26T10:00:05Z')",
                params![id, fp],
            )
            .unwrap();
        }
        let pings = [
            ("mi-1".to_owned(), "2026-11-26T10:00:10Z".to_owned()),
            ("mi-2".to_owned(), "2026-11-26T10:00:00Z".to_owned()),
            ("mi-gone".to_owned(), "2026-11-26T10:00:00Z".to_owned()),
        ]
        .into_iter()
        .collect();
        record_pings(&conn, &pings).unwrap();
        let got = |id: &str| -> (String, String) {
            conn.query_row(
                "SELECT last_ping_at, ping_status FROM instances WHERE instance_id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        assert_eq!(
            got("mi-1"),
            ("2026-11-26T10:00:10Z".into(), "ConnectionLost".into())
        );
        assert_eq!(got("mi-2").0, "2026-11-26T10:00:05Z");
    }

    /// Two clusters' head nodes (both named `head`, as clusters name them)
    /// and a compute node of one.
    fn two_clusters() -> (tempfile::TempDir, Connection) {
        let tmp = tempfile::tempdir().unwrap();
        let (conn, _) = crate::db::open(&tmp.path().join("a.db")).unwrap();
        for (id, cluster, node_type, name) in [
            ("i-0a", "lab", "HeadNode", "head"),
            ("i-0b", "other", "HeadNode", "head"),
            ("i-0c", "lab", "Compute", "spot1-dy-c5large-1"),
        ] {
            let tags = serde_json::json!({CLUSTER_TAG: cluster, NODE_TYPE_TAG: node_type});
            conn.execute(
                "INSERT INTO instances(instance_id, resource_type, role_name, name, registered_at, tags)
                 VALUES (?1, 'EC2Instance', 'R', ?2, '2026-11-26T00:00:00Z', ?3)",
                params![id, name, tags.to_string()],
            )
            .unwrap();
        }
        (tmp, conn)
    }

    #[test]
    fn a_bare_head_of_two_clusters_is_refused_naming_each_as_cluster_slash_head() {
        let (_tmp, conn) = two_clusters();
        let e = resolve_target(&conn, "head").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Target head names 2 instances: lab/head (i-0a), other/head (i-0b). \
             Name one of them as CLUSTER/NODE (e.g. CLUSTER/head) or by its instance id."
        );
        assert_eq!(
            crate::api_error::ApiError::from(e).code.as_str(),
            "InvalidTarget"
        );
        assert_eq!(
            resolve_target(&conn, "other/head").unwrap().instance_id,
            "i-0b"
        );
    }

    #[test]
    fn node_dot_cluster_names_a_clusters_node_as_scp_can_write_it() {
        let (_tmp, conn) = two_clusters();
        let id = |t: &str| resolve_target(&conn, t).map(|i| i.instance_id);
        assert_eq!(id("head.lab").unwrap(), "i-0a");
        assert_eq!(id("head.other").unwrap(), "i-0b");
        assert_eq!(id("spot1-dy-c5large-1.lab").unwrap(), "i-0c");
        assert_eq!(id("lab/spot1-dy-c5large-1").unwrap(), "i-0c");
        for unknown in [
            "head.nosuch",
            "spot1-dy-c5large-1.other",
            "head.lab.example",
            "10.0.0.9",
        ] {
            assert_eq!(
                resolve_target(&conn, unknown).unwrap_err().to_string(),
                format!("Target {unknown} is not a managed instance (see `airlock instances`).")
            );
        }
    }
}
