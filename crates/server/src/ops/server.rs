//! Server-wide operations: `airlock:DescribeServer` and the audit trail
//! (`cloudtrail:LookupEvents`).

use serde_json::{Value, json};

use super::{Ctx, input, unknown_operation};
use crate::api_error::ApiError;
use crate::audit;
use crate::iam::store::Iam;

pub fn call(ctx: &Ctx<'_>, service: &str, op: &str, body: &Value) -> Result<Value, ApiError> {
    let iam = Iam::new(ctx.conn)?;
    match (service, op) {
        ("airlock", "DescribeServer") => {
            ctx.authorize("airlock:DescribeServer", "*")?;
            Ok(json!({
                "Version": crate::VERSION,
                "UptimeSeconds": ctx.state.started.elapsed().as_secs(),
                "StateDirectory": ctx.state.state_dir.display().to_string(),
                "Listen": ctx.state.listen.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "AccountId": iam.account,
                "Pid": std::process::id(),
                "Counts": {
                    "Users": iam.count("users")?,
                    "AccessKeys": iam.count("access_keys")?,
                    "Roles": iam.count("roles")?,
                    "Policies": iam.count("managed_policies")?,
                    "AuditEvents": iam.count("audit_log")?,
                    "Instances": iam.count("instances")?,
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
        ("cloudtrail", "LookupEvents") => {
            ctx.authorize("cloudtrail:LookupEvents", "*")?;
            let q: audit::Query = input(body)?;
            Ok(json!({ "Events": audit::query(ctx.conn, &q)? }))
        }
        _ => Err(unknown_operation(service, op)),
    }
}
