//! Listings filtered by policy: which of many resources (nodes, clusters)
//! the user may see is decided per resource with the same policies and
//! request context as the signed API, and audited once per listing rather
//! than once per row.

use airlock_policy::{Policy, evaluate};

use crate::api_error::ApiError;
use crate::audit;
use crate::iam::authz;
use crate::iam::store::{Iam, PrincipalKind};
use crate::iam::tag_context::TagContext;
use crate::ops::Ctx;

/// The caller's policies, loaded once for a listing.
pub struct Visibility<'c> {
    ctx: &'c Ctx<'c>,
    policies: Vec<(String, Policy)>,
}

impl<'c> Visibility<'c> {
    pub fn load(ctx: &'c Ctx<'c>) -> Result<Self, ApiError> {
        let iam = Iam::new(ctx.conn)?;
        let policies = authz::policies_of(&iam, PrincipalKind::User, &ctx.caller.user_name)?;
        Ok(Self { ctx, policies })
    }

    /// Whether `action` on `resource` is allowed, with the resource's tags
    /// as `ssm:resourceTag/…` and `aws:ResourceTag/…` (as `StartSession` has them).
    pub fn allows(&self, action: &str, resource: &str, tags: &[(String, String)]) -> bool {
        let c = self.ctx.caller;
        let req = TagContext::resource(tags).apply(authz::user_request(
            &c.arn,
            &c.user_name,
            &c.user_id,
            &c.tags,
            c.source_ip.as_deref(),
            action,
            resource,
        ));
        evaluate(self.policies.iter().map(|(n, p)| (n.as_str(), p)), &req).is_allowed()
    }

    /// Ends a listing: when nothing was visible and the action is not
    /// allowed on `*` either, refuses as the signed API does (audited);
    /// otherwise audits one Allow that says how much was shown.
    pub fn finish(&self, action: &str, shown: usize, total: usize) -> Result<(), ApiError> {
        if shown == 0 && !self.allows(action, "*", &[]) {
            return self.ctx.authorize(action, "*");
        }
        let detail = format!("console: {shown} of {total} visible (decided per resource)");
        audit::append(
            self.ctx.conn,
            &audit::Record {
                request_id: self.ctx.request_id,
                principal: &self.ctx.caller.arn,
                action,
                resource: "*",
                decision: "Allow",
                source_ip: self.ctx.caller.source_ip.as_deref(),
                detail: Some(&detail),
                ..audit::Record::default()
            },
        )
    }
}
