//! The managed-nodes page's data: every node the user may describe
//! (`ssm:DescribeInstanceInformation` on the node's ARN, with its tags as
//! resource tags), with the columns the page shows.

use serde::Serialize;

use super::filter::Visibility;
use crate::api_error::ApiError;
use crate::iam::store::Iam;
use crate::instances::control::instance_arn;
use crate::instances::store::{self, CLUSTER_TAG, InstanceIdentity};
use crate::ops::Ctx;

/// One row of the nodes page.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Node {
    pub instance_id: String,
    pub hostname: Option<String>,
    pub cluster: Option<String>,
    pub ip_address: Option<String>,
    pub platform: Option<String>,
    pub agent_version: Option<String>,
    pub ping_status: crate::instances::store::PingStatus,
    pub last_ping_date_time: Option<String>,
    pub tags: Vec<(String, String)>,
}

pub const ACTION: &str = "ssm:DescribeInstanceInformation";

/// The nodes the caller may describe; refuses (as the CLI does) when the
/// caller may describe none.
pub fn visible(ctx: &Ctx<'_>) -> Result<Vec<Node>, ApiError> {
    let iam = Iam::new(ctx.conn)?;
    let vis = Visibility::load(ctx)?;
    let all = store::describe_instances(ctx.conn)?;
    let total = all.len();
    let mut out = Vec::new();
    for i in all {
        let tags = store::tags(ctx.conn, &i.instance_id)?;
        let id = InstanceIdentity {
            instance_id: i.instance_id.clone(),
            role_name: i.iam_role.clone(),
            resource_type: i.resource_type.clone(),
        };
        let arn = instance_arn(&ctx.state.region, &iam.account, &id);
        if !vis.allows(ACTION, &arn, &tags) {
            continue;
        }
        // The name ("Debian GNU/Linux 12 (bookworm)") already says what the
        // type ("Linux") would; the type only stands in for a missing name.
        let platform = match (i.platform_name.clone(), i.platform_type.clone()) {
            (Some(n), _) if !n.is_empty() => Some(n),
            (_, t) => t,
        };
        let clean = |v: Option<String>| v.map(|s| s.chars().filter(|c| !c.is_control()).collect());
        let platform = clean(platform);
        out.push(Node {
            hostname: clean(i.computer_name),
            cluster: tags
                .iter()
                .find(|(k, _)| k == CLUSTER_TAG)
                .map(|(_, v)| v.clone()),
            ip_address: i.i_p_address,
            platform,
            agent_version: clean(i.agent_version),
            ping_status: i.ping_status,
            last_ping_date_time: i.last_ping_date_time,
            instance_id: i.instance_id,
            tags,
        });
    }
    vis.finish(ACTION, out.len(), total)?;
    Ok(out)
}
