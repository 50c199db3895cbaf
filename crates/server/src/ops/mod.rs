//! API operations, as one table: each [`Operation`] names its service, its
//! name and the IAM action it needs, says which resources a request acts on,
//! and does its work only with an [`Allowed`], which only this module makes,
//! after the policy engine allowed every one of those resources (and
//! audited each decision). Nothing runs unauthorised by construction.

mod clusters;
mod ec2;
mod iam;
mod server;
mod sessions;
mod ssm;

use std::ops::Deref;

use rusqlite::Connection;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api_error::{ApiError, ErrorCode};
use crate::auth::Caller;
use crate::http::AppState;
use crate::iam::tag_context::TagContext;

/// Everything an operation may use.
pub struct Ctx<'a> {
    pub conn: &'a Connection,
    pub caller: &'a Caller,
    pub request_id: &'a str,
    pub state: &'a AppState,
}

impl Ctx<'_> {
    /// Decides `action` on `resource` for the caller; audits the decision.
    /// For decisions beyond an operation's own (a listing filtered per item).
    pub fn authorize(&self, action: &str, resource: &str) -> Result<(), ApiError> {
        crate::iam::authz::authorize(self, action, resource, &[])
    }
}

/// One resource a request acts on, as the policy decision sees it.
pub struct Resource {
    pub arn: String,
    /// The resource's and the request's tags (condition keys).
    pub tags: TagContext,
    /// Another action this resource needs (`iam:PassRole` on a role a
    /// request hands over); by default the operation's own.
    pub action: Option<&'static str>,
}

impl Resource {
    pub fn arn(arn: impl Into<String>) -> Self {
        Resource {
            arn: arn.into(),
            tags: TagContext::default(),
            action: None,
        }
    }
    /// Every resource of the kind (`*`): listings and account-wide calls.
    pub fn any() -> Self {
        Self::arn("*")
    }
    pub fn tagged(arn: impl Into<String>, tags: TagContext) -> Self {
        Resource {
            tags,
            ..Self::arn(arn)
        }
    }
    /// This resource is decided for `action` instead of the operation's.
    pub fn for_action(self, action: &'static str) -> Self {
        Resource {
            action: Some(action),
            ..self
        }
    }
}

/// A request the policy engine allowed. Handlers get one; only
/// [`Operation::call`] makes one.
pub struct Allowed<'c, 'a> {
    ctx: &'c Ctx<'a>,
    /// The operation's IAM action.
    pub action: &'static str,
}

impl<'a> Deref for Allowed<'_, 'a> {
    type Target = Ctx<'a>;
    fn deref(&self) -> &Ctx<'a> {
        self.ctx
    }
}

/// Names what a request acts on (it may look things up, and may refuse a
/// request that names nothing valid).
pub type Resources<I> = fn(&Ctx<'_>, &I) -> Result<Vec<Resource>, ApiError>;
/// Does an allowed request's work.
pub type Run<I> = fn(&Allowed<'_, '_>, I) -> Result<Value, ApiError>;

/// An operation's typed parts, behind [`Handler`].
pub struct Op<I> {
    pub resources: Resources<I>,
    pub run: Run<I>,
}

/// Parses, authorises and runs one request.
pub trait Handler: Sync {
    fn handle(&self, ctx: &Ctx<'_>, action: &'static str, body: &Value) -> Result<Value, ApiError>;
}

impl<I: DeserializeOwned> Handler for Op<I> {
    fn handle(&self, ctx: &Ctx<'_>, action: &'static str, body: &Value) -> Result<Value, ApiError> {
        let i: I = input(body)?;
        let resources = (self.resources)(ctx, &i)?;
        if resources.is_empty() {
            return Err(ApiError::internal(format!(
                "{action} names no resource to authorise"
            )));
        }
        for r in &resources {
            let action = r.action.unwrap_or(action);
            crate::iam::authz::authorize_tagged(ctx, action, &r.arn, &r.tags)?;
        }
        (self.run)(&Allowed { ctx, action }, i)
    }
}

/// One row of the operations table.
pub struct Operation {
    pub service: &'static str,
    pub name: &'static str,
    /// The IAM action policies name (`iam:CreateUser`).
    pub action: &'static str,
    pub handler: &'static dyn Handler,
}

impl Operation {
    pub fn call(&self, ctx: &Ctx<'_>, body: &Value) -> Result<Value, ApiError> {
        self.handler.handle(ctx, self.action, body)
    }
}

/// A table row: `op!("iam", "CreateUser", "iam:CreateUser", resources, run)`.
#[macro_export]
macro_rules! op {
    ($service:literal, $name:literal, $action:literal, $resources:expr, $run:expr $(,)?) => {
        $crate::ops::Operation {
            service: $service,
            name: $name,
            action: $action,
            handler: &$crate::ops::Op {
                resources: $resources,
                run: $run,
            },
        }
    };
}

/// Every operation of the signed API.
pub fn table() -> impl Iterator<Item = &'static Operation> {
    [
        iam::OPERATIONS,
        ssm::OPERATIONS,
        sessions::OPERATIONS,
        clusters::OPERATIONS,
        ec2::OPERATIONS,
        server::OPERATIONS,
        crate::console::signin::OPERATIONS,
    ]
    .into_iter()
    .flatten()
}

/// The operation `service:name`, if there is one.
pub fn find(service: &str, name: &str) -> Option<&'static Operation> {
    table().find(|o| o.service == service && o.name == name)
}

/// Parses an operation's input, naming the bad field on failure.
pub fn input<T: DeserializeOwned>(v: &Value) -> Result<T, ApiError> {
    T::deserialize(v).map_err(|e| ApiError::validation(format!("invalid request: {e}")))
}

/// An input with no fields (any object is accepted, as AWS ignores extras).
#[derive(serde::Deserialize)]
pub struct NoInput {}

pub fn dispatch(
    ctx: &Ctx<'_>,
    service: &str,
    operation: &str,
    body: &Value,
) -> Result<Value, ApiError> {
    find(service, operation)
        .ok_or_else(|| unknown_operation(service, operation))?
        .call(ctx, body)
}

pub fn unknown_operation(service: &str, operation: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidAction,
        format!("The action {service}:{operation} is not valid for this endpoint."),
    )
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod table_tests {
    use std::collections::HashSet;

    #[test]
    fn every_operation_is_listed_once_with_its_services_action() {
        let mut seen = HashSet::new();
        for op in super::table() {
            assert!(
                seen.insert((op.service, op.name)),
                "{}:{} twice",
                op.service,
                op.name
            );
            let (prefix, action) = op.action.split_once(':').expect("service:Action");
            assert!(!prefix.is_empty() && !action.is_empty(), "{}", op.action);
        }
        assert!(seen.len() > 40, "{} operations", seen.len());
    }
}
