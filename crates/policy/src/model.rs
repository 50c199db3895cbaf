//! The parsed form of a policy: statements with their action, resource and
//! principal sets and conditions, and how one statement matches a request.

use crate::condition::Clause;
use crate::context::Request;
use crate::pattern::{PChar, Template, Unresolved, glob};

/// The policy language version. Only `2012-10-17` substitutes policy
/// variables; a document without `Version` is `2008-10-17`, as in IAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `2012-10-17`: the current language, with policy variables.
    V2012_10_17,
    /// `2008-10-17`: `${...}` is plain text.
    V2008_10_17,
}

impl Version {
    /// The version string as written in a document.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2012_10_17 => "2012-10-17",
            Version::V2008_10_17 => "2008-10-17",
        }
    }
}

/// What a policy is attached to, which decides its required elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a user or role: needs `Resource`, may not name a `Principal`.
    Identity,
    /// Attached to a resource, such as a role's trust policy: needs
    /// `Principal`/`NotPrincipal`; `Resource` is optional.
    Resource,
}

/// A statement's `Effect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// `"Allow"`.
    Allow,
    /// `"Deny"`.
    Deny,
}

/// A parsed, validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub(crate) version: Version,
    pub(crate) id: Option<String>,
    pub(crate) kind: PolicyKind,
    pub(crate) statements: Vec<Statement>,
}

impl Policy {
    /// The document's `Version`.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The document's `Id`, if any.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Identity-based or resource-based.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The statements, in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

/// One statement of a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    pub(crate) actions: ActionSet,
    pub(crate) resources: Option<ResourceSet>,
    pub(crate) principals: Option<PrincipalSet>,
    pub(crate) conditions: Vec<Clause>,
}

impl Statement {
    /// The statement's `Sid` (an empty `Sid` reads as none).
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// `Allow` or `Deny`.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// Whether the statement applies to `request`; `action` is the
    /// request's action, lowercased once by the caller.
    pub(crate) fn applies(&self, action: &str, request: &Request) -> bool {
        self.actions.matches(action)
            && self
                .principals
                .as_ref()
                .is_none_or(|p| p.matches(&request.principal))
            && self.resource_applies(request) == Ok(true)
            && self.conditions_hold(request) == Ok(true)
    }

    /// Action, principal and resource match (conditions not considered).
    pub(crate) fn targets(&self, action: &str, request: &Request) -> bool {
        self.actions.matches(action)
            && self
                .principals
                .as_ref()
                .is_none_or(|p| p.matches(&request.principal))
            && self.resource_applies(request) != Ok(false)
    }

    fn resource_applies(&self, request: &Request) -> Result<bool, Unresolved> {
        match &self.resources {
            None => Ok(true),
            Some(r) => r.matches(request),
        }
    }

    fn conditions_hold(&self, request: &Request) -> Result<bool, Unresolved> {
        for clause in &self.conditions {
            if !clause.eval(&request.context)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Context keys the statement reads (resource variables and conditions),
    /// as (spelling, lowercased).
    pub(crate) fn context_keys(&self) -> impl Iterator<Item = (&str, &str)> {
        let resource_vars = self
            .resources
            .iter()
            .flat_map(|r| r.templates.iter())
            .flat_map(|t| t.variables())
            .filter(|v| v.default.is_none())
            .map(|v| (v.name.as_str(), v.key.as_str()));
        resource_vars.chain(self.conditions.iter().flat_map(|c| c.keys()))
    }
}

/// `Action` or `NotAction`: lowercased wildcard patterns.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ActionSet {
    pub(crate) negated: bool,
    pub(crate) patterns: Vec<Vec<PChar>>,
}

impl ActionSet {
    fn matches(&self, action_lower: &str) -> bool {
        self.patterns.iter().any(|p| glob(p, action_lower)) != self.negated
    }
}

/// `Resource` or `NotResource`: ARN patterns that may hold variables.
/// A `*` may span `:` and `/`, as in IAM's `Resource` element.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourceSet {
    pub(crate) negated: bool,
    pub(crate) templates: Vec<Template>,
}

impl ResourceSet {
    fn matches(&self, request: &Request) -> Result<bool, Unresolved> {
        let mut hit = false;
        for t in &self.templates {
            // Resolve every template: one unresolved variable voids the statement.
            let p = t.pattern(&request.context)?;
            hit = hit || glob(&p, &request.resource);
        }
        Ok(hit != self.negated)
    }
}

/// The kinds of principal a `Principal` element can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrincipalType {
    Aws,
    Service,
    Federated,
    CanonicalUser,
}

/// `Principal` or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PrincipalSet {
    pub(crate) negated: bool,
    /// `"Principal": "*"`.
    pub(crate) any: bool,
    pub(crate) entries: Vec<(PrincipalType, String)>,
}

impl PrincipalSet {
    fn matches(&self, principal: &str) -> bool {
        let hit = self.any
            || self.entries.iter().any(|(kind, id)| match kind {
                PrincipalType::Aws => aws_principal_matches(id, principal),
                _ => id == principal,
            });
        hit != self.negated
    }
}

/// `"AWS"` principal: `*`, an account (`123456789012` or its `:root` ARN,
/// meaning any principal of that account), or one exact ARN.
fn aws_principal_matches(id: &str, principal: &str) -> bool {
    if id == "*" || id == principal {
        return true;
    }
    let account = if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Some(id)
    } else {
        id.strip_prefix("arn:")
            .and_then(|rest| rest.split(':').nth(3).filter(|_| rest.ends_with(":root")))
    };
    let Some(account) = account else {
        return false;
    };
    let principal_account = principal
        .strip_prefix("arn:")
        .and_then(|rest| rest.split(':').nth(3));
    principal_account == Some(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_principal_matches_every_principal_of_that_account() {
        assert!(aws_principal_matches(
            "123456789012",
            "arn:aws:iam::123456789012:user/a"
        ));
        assert!(aws_principal_matches(
            "arn:aws:iam::123456789012:root",
            "arn:aws:iam::123456789012:role/r"
        ));
        assert!(!aws_principal_matches(
            "123456789012",
            "arn:aws:iam::210987654321:user/a"
        ));
        assert!(!aws_principal_matches(
            "arn:aws:iam::123456789012:user/b",
            "arn:aws:iam::123456789012:user/a"
        ));
        assert!(aws_principal_matches("*", "anything"));
    }
}
