//! Identity: users, access keys, roles, policies, and the authorisation of
//! every API call by the policy engine.

pub mod authz;
pub mod error;
pub mod ids;
pub mod store;
pub mod tag_context;

/// The document of a built-in (AWS-managed) policy, as JSON text.
pub fn builtin_policy_document(arn: &str) -> Option<String> {
    airlock_policy::catalog::entry(arn).map(|p| p.document.to_owned())
}
