//! `airlock audit`: who did what, allowed or denied, and which statement decided.

use serde_json::json;

use crate::Global;
use crate::client::ApiClient;
use crate::output::{self, s};

#[derive(clap::Args)]
pub struct AuditArgs {
    /// Only events at or after this time (RFC 3339, e.g. 2026-11-26T08:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// Only this principal (user name or ARN).
    #[arg(long)]
    principal: Option<String>,
    /// Only this action (e.g. ssm:StartSession).
    #[arg(long)]
    action: Option<String>,
    /// Only Allow or Deny.
    #[arg(long, value_parser = ["Allow", "Deny"])]
    decision: Option<String>,
    /// At most this many events (newest).
    #[arg(long, default_value_t = 100)]
    max_items: u32,
}

pub fn run(g: &Global, a: AuditArgs) -> anyhow::Result<i32> {
    let c = ApiClient::from_global(g)?;
    let v = c.call(
        "cloudtrail",
        "LookupEvents",
        &json!({
            "StartTime": a.since,
            "Principal": a.principal,
            "Action": a.action,
            "Decision": a.decision,
            "MaxResults": a.max_items,
        }),
    )?;
    let rows = v["Events"]
        .as_array()
        .map(|evs| {
            evs.iter()
                .map(|e| {
                    vec![
                        s(e, "EventTime"),
                        s(e, "Principal"),
                        s(e, "Action"),
                        s(e, "Resource"),
                        s(e, "Decision"),
                        s(e, "Statement"),
                        s(e, "SourceIp"),
                        s(e, "RequestId"),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    output::listing(
        g.json,
        &v,
        &[
            "Time",
            "Principal",
            "Action",
            "Resource",
            "Decision",
            "Statement",
            "Source",
            "RequestId",
        ],
        rows,
    );
    Ok(0)
}
