//! API operations: each maps to an IAM action and a resource ARN, is
//! authorised by the policy engine, and is audited.

mod clusters;
mod ec2;
mod iam;
mod server;
mod sessions;
mod ssm;

use rusqlite::Connection;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api_error::{ApiError, ErrorCode};
use crate::auth::Caller;
use crate::http::AppState;

/// Everything an operation may use.
pub struct Ctx<'a> {
    pub conn: &'a Connection,
    pub caller: &'a Caller,
    pub request_id: &'a str,
    pub state: &'a AppState,
}

impl Ctx<'_> {
    /// Decides `action` on `resource` for the caller; audits the decision.
    pub fn authorize(&self, action: &str, resource: &str) -> Result<(), ApiError> {
        crate::iam::authz::authorize(self, action, resource, &[])
    }
}

/// Parses an operation's input, naming the bad field on failure.
pub fn input<T: DeserializeOwned>(v: &Value) -> Result<T, ApiError> {
    T::deserialize(v).map_err(|e| ApiError::validation(format!("invalid request: {e}")))
}

pub fn dispatch(
    ctx: &Ctx<'_>,
    service: &str,
    operation: &str,
    body: &Value,
) -> Result<Value, ApiError> {
    match service {
        "iam" => iam::call(ctx, operation, body),
        "ssm" => match operation {
            "StartSession"
            | "TerminateSession"
            | "DescribeSessions"
            | "GetSessionRecording"
            | "GetDocument"
            | "UpdateDocument" => sessions::call(ctx, operation, body),
            _ => ssm::call(ctx, operation, body),
        },
        "cluster" => clusters::call(ctx, operation, body),
        "ec2" | "ec2-instance-connect" => ec2::call(ctx, service, operation, body),
        "airlock" | "cloudtrail" => server::call(ctx, service, operation, body),
        "console" => crate::console::signin::call(ctx, operation, body),
        _ => Err(unknown_operation(service, operation)),
    }
}

pub fn unknown_operation(service: &str, operation: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidAction,
        format!("The action {service}:{operation} is not valid for this endpoint."),
    )
}
