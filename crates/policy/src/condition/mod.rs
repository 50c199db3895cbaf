//! The `Condition` element: one clause per (operator, key) pair, and how a
//! clause is decided against a request context, with IAM's rules for
//! missing keys, `IfExists`, and the `ForAnyValue:`/`ForAllValues:` sets.

mod operator;
pub(crate) mod typed;

use std::borrow::Cow;

use crate::context::Context;
use crate::pattern::{PChar, Template, Unresolved, glob};
pub(crate) use operator::Operator;
use operator::{Cmp, Kind, Qualifier};
use typed::{Cidr, Instant};

/// One condition: `"Operator": { "key": [values] }`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Clause {
    pub(crate) op: Operator,
    /// The key as written (e.g. `ssm:resourceTag/Finance`).
    pub(crate) key: String,
    key_lower: String,
    values: Values,
}

/// The policy's values, already converted to the operator's type.
#[derive(Debug, Clone, PartialEq)]
enum Values {
    Text(Vec<Template>),
    Numbers(Vec<f64>),
    Dates(Vec<Instant>),
    Bools(Vec<bool>),
    Binaries(Vec<Vec<u8>>),
    Cidrs(Vec<Cidr>),
}

impl Clause {
    /// Builds a clause from the raw values. On error, gives the index of
    /// the offending value and the reason.
    pub(crate) fn new(
        op: Operator,
        key: &str,
        raw: &[String],
        variables: bool,
    ) -> Result<Clause, (usize, String)> {
        fn each<T>(
            raw: &[String],
            f: impl Fn(&str) -> Option<T>,
            what: &str,
        ) -> Result<Vec<T>, (usize, String)> {
            raw.iter()
                .enumerate()
                .map(|(i, s)| f(s).ok_or_else(|| (i, format!("\"{s}\" is not {what}"))))
                .collect()
        }
        let values = match op.base.kind {
            Kind::String | Kind::StringIgnoreCase | Kind::StringLike | Kind::Arn => Values::Text(
                raw.iter()
                    .enumerate()
                    .map(|(i, s)| Template::parse(s, variables).map_err(|e| (i, e)))
                    .collect::<Result<_, _>>()?,
            ),
            Kind::Numeric => Values::Numbers(each(raw, typed::number, "a number")?),
            Kind::Date => Values::Dates(each(
                raw,
                typed::date,
                "a date (ISO 8601 such as 2019-07-16T12:00:00Z, or epoch seconds)",
            )?),
            Kind::Bool | Kind::Null => {
                Values::Bools(each(raw, typed::boolean, "\"true\" or \"false\"")?)
            }
            Kind::Binary => Values::Binaries(each(raw, typed::base64, "base64")?),
            Kind::Ip => Values::Cidrs(each(
                raw,
                Cidr::parse,
                "an IP address or CIDR block such as 203.0.113.0/24",
            )?),
        };
        Ok(Clause {
            op,
            key: key.to_string(),
            key_lower: key.to_lowercase(),
            values,
        })
    }

    /// Context keys this clause reads: its own key and any policy variables.
    pub(crate) fn keys(&self) -> impl Iterator<Item = (&str, &str)> {
        let vars: &[Template] = match &self.values {
            Values::Text(t) => t,
            _ => &[],
        };
        std::iter::once((self.key.as_str(), self.key_lower.as_str())).chain(
            vars.iter()
                .flat_map(|t| t.variables())
                .filter(|v| v.default.is_none())
                .map(|v| (v.name.as_str(), v.key.as_str())),
        )
    }

    /// Decides this clause for `ctx`. `Err(Unresolved)` means a policy
    /// variable had no value: the statement does not apply.
    pub(crate) fn eval(&self, ctx: &Context) -> Result<bool, Unresolved> {
        let present = ctx.values_lower(&self.key_lower).filter(|v| !v.is_empty());
        if self.op.base.kind == Kind::Null {
            let Values::Bools(want) = &self.values else {
                return Ok(false);
            };
            return Ok(want.iter().any(|w| *w == present.is_none()));
        }
        let Some(request_values) = present else {
            // IAM: a missing key fails a condition, except IfExists, the
            // negated operators, and ForAllValues (vacuously true).
            return Ok(self.op.if_exists
                || match self.op.qualifier {
                    Qualifier::ForAllValues => true,
                    Qualifier::ForAnyValue => false,
                    Qualifier::Single => self.op.base.negated,
                });
        };
        let prepared = self.prepare(ctx)?;
        let negated = self.op.base.negated;
        // Whether one request value satisfies the (possibly negated) operator.
        // A value that does not convert to the operator's type never does.
        let satisfies = |v: &String| match prepared.positive(v, self.op.base.kind, self.op.base.cmp)
        {
            Some(hit) => hit != negated,
            None => false,
        };
        let mut each = request_values.iter();
        Ok(match self.op.qualifier {
            Qualifier::ForAnyValue => each.any(satisfies),
            Qualifier::ForAllValues => each.all(satisfies),
            Qualifier::Single if negated => each.all(satisfies),
            Qualifier::Single => each.any(satisfies),
        })
    }

    fn prepare<'a>(&'a self, ctx: &Context) -> Result<Prepared<'a>, Unresolved> {
        Ok(match &self.values {
            Values::Text(templates) => match self.op.base.kind {
                Kind::StringLike | Kind::Arn => Prepared::Patterns(
                    templates
                        .iter()
                        .map(|t| t.pattern(ctx))
                        .collect::<Result<_, _>>()?,
                ),
                Kind::StringIgnoreCase => Prepared::Texts(
                    templates
                        .iter()
                        .map(|t| t.text(ctx).map(|s| Cow::Owned(s.to_lowercase())))
                        .collect::<Result<_, _>>()?,
                ),
                _ => Prepared::Texts(
                    templates
                        .iter()
                        .map(|t| t.text(ctx))
                        .collect::<Result<_, _>>()?,
                ),
            },
            Values::Numbers(n) => Prepared::Numbers(n),
            Values::Dates(d) => Prepared::Dates(d),
            Values::Bools(b) => Prepared::Bools(b),
            Values::Binaries(b) => Prepared::Binaries(b),
            Values::Cidrs(c) => Prepared::Cidrs(c),
        })
    }
}

/// Policy values ready for one request (variables substituted).
enum Prepared<'a> {
    Texts(Vec<Cow<'a, str>>),
    Patterns(Vec<Cow<'a, [PChar]>>),
    Numbers(&'a [f64]),
    Dates(&'a [Instant]),
    Bools(&'a [bool]),
    Binaries(&'a [Vec<u8>]),
    Cidrs(&'a [Cidr]),
}

fn compare<T: PartialOrd>(cmp: Cmp, request: &T, policy: &T) -> bool {
    match cmp {
        Cmp::Eq => request == policy,
        Cmp::Lt => request < policy,
        Cmp::Le => request <= policy,
        Cmp::Gt => request > policy,
        Cmp::Ge => request >= policy,
    }
}

impl Prepared<'_> {
    /// Whether request value `v` matches any policy value under the
    /// un-negated operator; `None` if `v` is not of the operator's type.
    fn positive(&self, v: &str, kind: Kind, cmp: Cmp) -> Option<bool> {
        Some(match self {
            Prepared::Texts(texts) if kind == Kind::StringIgnoreCase => {
                let v = v.to_lowercase();
                texts.iter().any(|t| **t == *v)
            }
            Prepared::Texts(texts) => texts.iter().any(|t| **t == *v),
            Prepared::Patterns(ps) if kind == Kind::Arn => ps.iter().any(|p| arn_match(p, v)),
            Prepared::Patterns(ps) => ps.iter().any(|p| glob(p, v)),
            Prepared::Numbers(ns) => {
                let x = typed::number(v)?;
                ns.iter().any(|n| compare(cmp, &x, n))
            }
            Prepared::Dates(ds) => {
                let x = typed::date(v)?;
                ds.iter().any(|d| compare(cmp, &x, d))
            }
            Prepared::Bools(bs) => {
                let x = typed::boolean(v)?;
                bs.contains(&x)
            }
            Prepared::Binaries(bs) => {
                let x = typed::base64(v)?;
                bs.contains(&x)
            }
            Prepared::Cidrs(cs) => {
                let x = typed::ip(v)?;
                cs.iter().any(|c| c.contains(x))
            }
        })
    }
}

/// ARN matching as `ArnLike`/`ArnEquals` do it: the six colon-separated
/// parts are matched one by one, so a wildcard stays within its part.
/// Values that are not six-part ARNs are matched as whole strings.
pub(crate) fn arn_match(pattern: &[PChar], value: &str) -> bool {
    let colon = PChar::Lit(':');
    let pattern_parts = pattern.iter().filter(|c| **c == colon).count() + 1;
    let value_parts = value.matches(':').count() + 1;
    if pattern_parts < 6 || value_parts < 6 {
        return glob(pattern, value);
    }
    pattern
        .splitn(6, |c| *c == colon)
        .zip(value.splitn(6, ':'))
        .all(|(p, v)| glob(p, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::compile;

    #[test]
    fn arn_wildcards_stay_within_their_segment() {
        let p = compile("arn:aws:ec2:*:123456789012:instance/*");
        assert!(arn_match(
            &p,
            "arn:aws:ec2:us-east-1:123456789012:instance/i-1"
        ));
        // `*` in the region may not swallow the account and more.
        let p = compile("arn:aws:ec2:us-east-*:*:instance/*");
        let v = "arn:aws:ec2:us-east-1:123456789012:x:instance/i-1";
        assert!(glob(&p, v), "a whole-string match would succeed");
        assert!(!arn_match(&p, v));
        // The resource part keeps its colons.
        let p = compile("arn:aws:logs:*:*:log-group:app:*");
        assert!(arn_match(
            &p,
            "arn:aws:logs:us-east-1:1:log-group:app:log-stream:x"
        ));
    }

    #[test]
    fn short_values_are_matched_whole() {
        assert!(arn_match(&compile("*"), "arn:aws:iam::1:user/a"));
        assert!(!arn_match(&compile("arn:aws:iam::1:user/a"), "not-an-arn"));
    }

    fn clause(op: &str, key: &str, raw: &[&str]) -> Clause {
        let raw: Vec<String> = raw.iter().map(|s| s.to_string()).collect();
        let Ok(op) = Operator::parse(op) else {
            panic!("operator {op}");
        };
        match Clause::new(op, key, &raw, true) {
            Ok(c) => c,
            Err(e) => panic!("clause: {e:?}"),
        }
    }

    #[test]
    fn unresolved_variable_is_reported_not_guessed() {
        let c = clause(
            "StringEquals",
            "aws:ResourceTag/Owner",
            &["${aws:username}"],
        );
        let ctx = Context::new().with("aws:ResourceTag/Owner", "alice");
        assert_eq!(c.eval(&ctx), Err(Unresolved));
        let keys: Vec<_> = c.keys().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["aws:ResourceTag/Owner", "aws:username"]);
    }

    #[test]
    fn bad_typed_values_name_their_index() {
        let Ok(op) = Operator::parse("NumericLessThan") else {
            panic!("op");
        };
        let raw = vec!["1".to_string(), "two".to_string()];
        assert_eq!(
            Clause::new(op, "k:x", &raw, true).map(|_| ()),
            Err((1, "\"two\" is not a number".to_string()))
        );
    }

    #[test]
    fn request_value_of_wrong_type_fails_even_negated() {
        let c = clause("NumericNotEquals", "s3:max-keys", &["10"]);
        assert_eq!(
            c.eval(&Context::new().with("s3:max-keys", "ten")),
            Ok(false)
        );
        assert_eq!(c.eval(&Context::new().with("s3:max-keys", "11")), Ok(true));
    }
}
