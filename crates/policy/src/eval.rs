//! Evaluation across all of a principal's policies: an explicit Deny wins,
//! then any Allow, else the implicit deny.

use crate::context::Request;
use crate::explain::{Decision, EvalDecision, StatementRef};
use crate::model::{Effect, Policy};

/// Decides `request` against every policy of the principal. Each policy is
/// named (a managed policy ARN or an inline policy name) so the decision
/// can say which statements decided it. Order does not matter.
///
/// ```
/// use airlock_policy::{evaluate, EvalDecision, Policy, Request};
///
/// let p = Policy::parse(r#"{"Version":"2012-10-17","Statement":
///     {"Effect":"Allow","Action":"ssm:*","Resource":"*"}}"#)?;
/// let req = Request::new("arn:aws:iam::123456789012:user/alice", "ssm:StartSession", "*");
/// assert_eq!(evaluate([("inline", &p)], &req).effect, EvalDecision::Allowed);
/// # Ok::<(), airlock_policy::PolicyError>(())
/// ```
pub fn evaluate<'a, I>(policies: I, request: &Request) -> Decision
where
    I: IntoIterator<Item = (&'a str, &'a Policy)>,
{
    let action = request.action.to_lowercase();
    let mut allows = Vec::new();
    let mut denies = Vec::new();
    for (name, policy) in policies {
        for (index, st) in policy.statements.iter().enumerate() {
            if st.applies(&action, request) {
                let r = StatementRef {
                    policy: name.to_string(),
                    sid: st.sid.clone(),
                    index,
                };
                match st.effect {
                    Effect::Allow => allows.push(r),
                    Effect::Deny => denies.push(r),
                }
            }
        }
    }
    if !denies.is_empty() {
        Decision {
            effect: EvalDecision::ExplicitDeny,
            matched: denies,
        }
    } else if !allows.is_empty() {
        Decision {
            effect: EvalDecision::Allowed,
            matched: allows,
        }
    } else {
        Decision {
            effect: EvalDecision::ImplicitDeny,
            matched: Vec::new(),
        }
    }
}

/// The context keys that statements targeting this request (right action,
/// resource and principal) read but the request lacks, as written in the
/// policies: what `simulate-principal-policy` reports as
/// `MissingContextValues`. Sorted, without duplicates (case-insensitively).
pub fn missing_context_keys<'a, I>(policies: I, request: &Request) -> Vec<String>
where
    I: IntoIterator<Item = (&'a str, &'a Policy)>,
{
    let action = request.action.to_lowercase();
    let mut seen: Vec<(String, String)> = Vec::new();
    for (_, policy) in policies {
        for st in policy
            .statements
            .iter()
            .filter(|s| s.targets(&action, request))
        {
            for (name, lower) in st.context_keys() {
                let absent = request
                    .context
                    .values_lower(lower)
                    .is_none_or(<[String]>::is_empty);
                if absent && !seen.iter().any(|(_, l)| l == lower) {
                    seen.push((name.to_string(), lower.to_string()));
                }
            }
        }
    }
    seen.sort_by(|a, b| a.1.cmp(&b.1));
    seen.into_iter().map(|(n, _)| n).collect()
}
