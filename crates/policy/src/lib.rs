//! The IAM policy language, so that the policies administrators already use
//! for AWS Session Manager mean the same thing in airlock: parse JSON
//! policies (with IAM's validation and error paths), evaluate requests
//! across a principal's policies (explicit Deny, then Allow, then implicit
//! deny), explain which statements decided, and look up built-in managed
//! policies. Pure: no I/O.
//!
//! ```
//! use airlock_policy::{arn, catalog, evaluate, refusal_message, EvalDecision, Policy, Request};
//!
//! let mine = Policy::parse(r#"{
//!     "Version": "2012-10-17",
//!     "Statement": [{
//!         "Sid": "DenyProd",
//!         "Effect": "Deny",
//!         "Action": "ssm:StartSession",
//!         "Resource": "arn:aws:ec2:*:*:instance/*",
//!         "Condition": {"StringLike": {"ssm:resourceTag/Environment": "Prod*"}}
//!     }]
//! }"#)?;
//! let session_user = catalog::get(catalog::AIRLOCK_SESSION_USER).ok_or("not built in")?;
//! let policies = [("DenyProd", &mine), (catalog::AIRLOCK_SESSION_USER, session_user)];
//!
//! let alice = arn::user("123456789012", "alice");
//! let node = arn::instance("us-east-1", "123456789012", "i-0123456789abcdef0");
//! let dev = Request::new(&alice, "ssm:StartSession", &node)
//!     .with("ssm:resourceTag/Environment", "Dev");
//! assert_eq!(evaluate(policies, &dev).effect, EvalDecision::Allowed);
//!
//! let prod = dev.clone().with("ssm:resourceTag/Environment", "Production");
//! let decision = evaluate(policies, &prod);
//! assert_eq!(decision.to_string(), r#"explicitDeny by DenyProd Statement[0] (Sid "DenyProd")"#);
//! assert!(refusal_message(&prod, &decision)
//!     .is_some_and(|m| m.ends_with("with an explicit deny in an identity-based policy")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Semantics worth knowing (all as in IAM):
//! - action names match case-insensitively, resources case-sensitively;
//!   in `Resource`, `*` and `?` may span `:` and `/`, while `ArnLike` and
//!   `ArnEquals` match each of the six ARN parts separately;
//! - condition key names are case-insensitive; a missing key fails a
//!   condition, except with `...IfExists`, negated operators
//!   (`StringNotEquals`, `NotIpAddress`, ...) and `ForAllValues:`;
//! - policy variables are substituted only under `"Version": "2012-10-17"`;
//!   a variable with no value (and no default) voids its statement;
//! - `BinaryEquals` reads request values as base64.

#![forbid(unsafe_code)]

pub mod actions;
pub mod arn;
pub mod catalog;
mod condition;
mod context;
mod error;
mod eval;
mod explain;
mod json;
mod model;
mod parse;
mod pattern;
mod suggest;

pub use context::{Context, Request};
pub use error::PolicyError;
pub use eval::{evaluate, missing_context_keys};
pub use explain::{Decision, EvalDecision, StatementRef, refusal_message};
pub use model::{Effect, Policy, PolicyKind, Statement, Version};
