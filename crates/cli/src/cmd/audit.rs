//! `airlock audit`: who did what, allowed or denied, and which statement decided.

use serde_json::json;

use crate::Global;
use crate::client::ApiClient;
use crate::output::{self, s};

#[derive(clap::Args)]
pub struct AuditArgs {
    /// Only events at or after this time: RFC 3339 (2026-11-26T08:00:00Z) or an age (90s, 15m, 2h, 7d).
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

/// Turns an age such as `15m` into the RFC 3339 time that long ago.
fn since(arg: &str) -> anyhow::Result<String> {
    let unit = arg.chars().last().unwrap_or('x');
    let secs = match (arg[..arg.len().saturating_sub(1)].parse::<i64>(), unit) {
        (Ok(n), 's') => n,
        (Ok(n), 'm') => n * 60,
        (Ok(n), 'h') => n * 3600,
        (Ok(n), 'd') => n * 86400,
        _ => {
            time::OffsetDateTime::parse(arg, &time::format_description::well_known::Rfc3339).map_err(|_| {
                crate::output::BadInput(format!("--since {arg:?}: expected an RFC 3339 time (2026-11-26T08:00:00Z) or an age (15m, 2h, 7d)"))
            })?;
            return Ok(arg.to_owned());
        }
    };
    let t = time::OffsetDateTime::now_utc() - time::Duration::seconds(secs);
    Ok(t.format(&time::format_description::well_known::Rfc3339)?)
}

pub fn run(g: &Global, a: AuditArgs) -> anyhow::Result<i32> {
    let start = a.since.as_deref().map(since).transpose()?;
    let c = ApiClient::from_global(g)?;
    let v = c.call(
        "cloudtrail",
        "LookupEvents",
        &json!({
            "StartTime": start,
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

#[cfg(test)]
mod tests {
    #[test]
    fn since_takes_ages_and_times() {
        assert!(super::since("15m").unwrap().ends_with('Z'));
        assert_eq!(
            super::since("2026-11-26T08:00:00Z").unwrap(),
            "2026-11-26T08:00:00Z"
        );
        let bad = super::since("yesterday").unwrap_err();
        assert_eq!(crate::output::exit_code(&bad), 2, "{bad}");
    }
}
