//! Server-wide operations: `airlock:DescribeServer` and the audit trail
//! (`cloudtrail:LookupEvents`).

use serde_json::{Value, json};

use super::{Allowed, NoInput, Operation, Resource};
use crate::api_error::ApiError;
use crate::audit;
use crate::iam::store::{Iam, Table};
use crate::op;

pub const OPERATIONS: &[Operation] = &[
    op!(
        "airlock",
        "DescribeServer",
        "airlock:DescribeServer",
        |_, _: &NoInput| Ok(vec![Resource::any()]),
        describe_server
    ),
    op!(
        "cloudtrail",
        "LookupEvents",
        "cloudtrail:LookupEvents",
        |_, _: &audit::Query| Ok(vec![Resource::any()]),
        |a, q| Ok(json!({ "Events": audit::query(a.conn, &q)? }))
    ),
];

fn describe_server(ctx: &Allowed<'_, '_>, _: NoInput) -> Result<Value, ApiError> {
    let iam = Iam::new(ctx.conn)?;
    Ok(json!({
        "Version": crate::VERSION,
        "UptimeSeconds": ctx.state.started.elapsed().as_secs(),
        "StateDirectory": ctx.state.state_dir.display().to_string(),
        "Listen": ctx.state.listen.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "AccountId": iam.account,
        "Pid": std::process::id(),
        "Counts": {
            "Users": iam.count(Table::Users)?,
            "AccessKeys": iam.count(Table::AccessKeys)?,
            "Roles": iam.count(Table::Roles)?,
            "Policies": iam.count(Table::ManagedPolicies)?,
            "AuditEvents": iam.count(Table::AuditLog)?,
            "Instances": iam.count(Table::Instances)?,
            "InstancesOnline": ctx.state.hub.count(),
        },
        // A full state disk: writes refused, audit records waiting
        // in memory for space, and those lost past the limit.
        "DiskFull": {
            "RefusedWrites": crate::api_error::DISK_FULL_ERRORS.load(std::sync::atomic::Ordering::Relaxed),
            "AuditRecordsWaiting": audit::pending::waiting(),
            "AuditRecordsDeferred": audit::pending::DEFERRED.load(std::sync::atomic::Ordering::Relaxed),
            "AuditRecordsLost": audit::pending::LOST.load(std::sync::atomic::Ordering::Relaxed),
        },
    }))
}
