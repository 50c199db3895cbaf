//! The outcome of an evaluation and how to say it: which statements of
//! which policies decided, and the AWS-style refusal text.

use std::fmt;

use crate::context::Request;

/// The three outcomes, named as `simulate-principal-policy` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EvalDecision {
    /// At least one Allow matched and no Deny did.
    Allowed,
    /// A Deny statement matched.
    ExplicitDeny,
    /// Nothing matched.
    ImplicitDeny,
}

impl EvalDecision {
    /// `allowed`, `explicitDeny` or `implicitDeny` (the AWS CLI's spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            EvalDecision::Allowed => "allowed",
            EvalDecision::ExplicitDeny => "explicitDeny",
            EvalDecision::ImplicitDeny => "implicitDeny",
        }
    }
}

impl fmt::Display for EvalDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One statement of one policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatementRef {
    /// The policy's name: a managed policy ARN or an inline policy name.
    pub policy: String,
    /// The statement's `Sid`, if it has one.
    pub sid: Option<String>,
    /// 0-based position in the policy's `Statement` list.
    pub index: usize,
}

impl fmt::Display for StatementRef {
    /// `arn:aws:iam::aws:policy/X Statement[2] (Sid "DenyProd")`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Statement[{}]", self.policy, self.index)?;
        if let Some(sid) = &self.sid {
            write!(f, " (Sid \"{sid}\")")?;
        }
        Ok(())
    }
}

/// The decision and the statements that made it: every matching Deny for
/// an explicit deny, every matching Allow when allowed, none otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What was decided.
    pub effect: EvalDecision,
    /// The deciding statements, in the order the policies were given.
    pub matched: Vec<StatementRef>,
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        self.effect == EvalDecision::Allowed
    }
}

impl fmt::Display for Decision {
    /// `explicitDeny by P Statement[1] (Sid "X")`, `allowed by A; B`, or `implicitDeny`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.effect.as_str())?;
        for (i, m) in self.matched.iter().enumerate() {
            f.write_str(if i == 0 { " by " } else { "; " })?;
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

/// The AWS refusal text for a denied request, e.g.
/// `User: arn:aws:iam::123456789012:user/alice is not authorized to perform:
/// ssm:StartSession on resource: arn:aws:ec2:us-east-1:123456789012:instance/i-0123
/// because no identity-based policy allows the ssm:StartSession action`.
/// `None` when the request was allowed.
pub fn refusal_message(request: &Request, decision: &Decision) -> Option<String> {
    let head = format!(
        "User: {} is not authorized to perform: {} on resource: {}",
        request.principal, request.action, request.resource
    );
    match decision.effect {
        EvalDecision::Allowed => None,
        EvalDecision::ExplicitDeny => Some(format!(
            "{head} with an explicit deny in an identity-based policy"
        )),
        EvalDecision::ImplicitDeny => Some(format!(
            "{head} because no identity-based policy allows the {} action",
            request.action
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_display_names_every_deciding_statement() {
        let d = Decision {
            effect: EvalDecision::ExplicitDeny,
            matched: vec![
                StatementRef {
                    policy: "a".into(),
                    sid: Some("X".into()),
                    index: 1,
                },
                StatementRef {
                    policy: "b".into(),
                    sid: None,
                    index: 0,
                },
            ],
        };
        assert_eq!(
            d.to_string(),
            "explicitDeny by a Statement[1] (Sid \"X\"); b Statement[0]"
        );
    }
}
