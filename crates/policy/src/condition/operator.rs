//! Condition operator names: the base operators, the `IfExists` suffix and
//! the `ForAnyValue:`/`ForAllValues:` set qualifiers.

/// What kind of values an operator compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    StringIgnoreCase,
    StringLike,
    Numeric,
    Date,
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// How an operator compares one request value with one policy value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A base operator: its kind, comparison, and whether it is negated
/// (`StringNotEquals`, `NotIpAddress`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Base {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) cmp: Cmp,
    pub(crate) negated: bool,
}

const fn op(name: &'static str, kind: Kind, cmp: Cmp, negated: bool) -> Base {
    Base {
        name,
        kind,
        cmp,
        negated,
    }
}

/// Every base operator IAM defines.
pub(crate) const BASES: &[Base] = &[
    op("StringEquals", Kind::String, Cmp::Eq, false),
    op("StringNotEquals", Kind::String, Cmp::Eq, true),
    op(
        "StringEqualsIgnoreCase",
        Kind::StringIgnoreCase,
        Cmp::Eq,
        false,
    ),
    op(
        "StringNotEqualsIgnoreCase",
        Kind::StringIgnoreCase,
        Cmp::Eq,
        true,
    ),
    op("StringLike", Kind::StringLike, Cmp::Eq, false),
    op("StringNotLike", Kind::StringLike, Cmp::Eq, true),
    op("NumericEquals", Kind::Numeric, Cmp::Eq, false),
    op("NumericNotEquals", Kind::Numeric, Cmp::Eq, true),
    op("NumericLessThan", Kind::Numeric, Cmp::Lt, false),
    op("NumericLessThanEquals", Kind::Numeric, Cmp::Le, false),
    op("NumericGreaterThan", Kind::Numeric, Cmp::Gt, false),
    op("NumericGreaterThanEquals", Kind::Numeric, Cmp::Ge, false),
    op("DateEquals", Kind::Date, Cmp::Eq, false),
    op("DateNotEquals", Kind::Date, Cmp::Eq, true),
    op("DateLessThan", Kind::Date, Cmp::Lt, false),
    op("DateLessThanEquals", Kind::Date, Cmp::Le, false),
    op("DateGreaterThan", Kind::Date, Cmp::Gt, false),
    op("DateGreaterThanEquals", Kind::Date, Cmp::Ge, false),
    op("Bool", Kind::Bool, Cmp::Eq, false),
    op("BinaryEquals", Kind::Binary, Cmp::Eq, false),
    op("IpAddress", Kind::Ip, Cmp::Eq, false),
    op("NotIpAddress", Kind::Ip, Cmp::Eq, true),
    op("ArnEquals", Kind::Arn, Cmp::Eq, false),
    op("ArnLike", Kind::Arn, Cmp::Eq, false),
    op("ArnNotEquals", Kind::Arn, Cmp::Eq, true),
    op("ArnNotLike", Kind::Arn, Cmp::Eq, true),
    op("Null", Kind::Null, Cmp::Eq, false),
];

/// `ForAnyValue:` / `ForAllValues:`, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Qualifier {
    Single,
    ForAnyValue,
    ForAllValues,
}

/// A full operator as written in a policy, e.g. `ForAllValues:StringLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Operator {
    pub(crate) base: Base,
    pub(crate) qualifier: Qualifier,
    pub(crate) if_exists: bool,
}

impl Operator {
    /// Parses an operator name, or says what is wrong with it.
    pub(crate) fn parse(name: &str) -> Result<Operator, String> {
        let (qualifier, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (Qualifier::ForAnyValue, r)
        } else if let Some(r) = name.strip_prefix("ForAllValues:") {
            (Qualifier::ForAllValues, r)
        } else {
            (Qualifier::Single, name)
        };
        let (if_exists, base_name) = match rest.strip_suffix("IfExists") {
            Some(b) => (true, b),
            None => (false, rest),
        };
        let Some(base) = BASES.iter().find(|b| b.name == base_name).copied() else {
            let names = all_names();
            let hint = crate::suggest::closest(name, names.iter().map(String::as_str))
                .map(|s| format!("; did you mean \"{s}\"?"))
                .unwrap_or_default();
            return Err(format!("unknown condition operator \"{name}\"{hint}"));
        };
        if base.kind == Kind::Null && (if_exists || qualifier != Qualifier::Single) {
            return Err(format!(
                "\"{name}\": the Null operator takes no IfExists suffix or set qualifier"
            ));
        }
        Ok(Operator {
            base,
            qualifier,
            if_exists,
        })
    }
}

/// All spellings, for suggestions.
fn all_names() -> Vec<String> {
    let mut out = Vec::new();
    for b in BASES {
        out.push(b.name.to_string());
        if b.kind != Kind::Null {
            out.push(format!("{}IfExists", b.name));
            out.push(format!("ForAnyValue:{}", b.name));
            out.push(format!("ForAllValues:{}", b.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifiers_and_suffix_are_recognised() {
        let Ok(o) = Operator::parse("ForAllValues:StringNotLikeIfExists") else {
            panic!("parse");
        };
        assert_eq!(o.qualifier, Qualifier::ForAllValues);
        assert!(o.if_exists);
        assert_eq!(o.base.name, "StringNotLike");
        assert!(o.base.negated);
    }

    #[test]
    fn unknown_operator_suggests_the_nearest() {
        assert_eq!(
            Operator::parse("StringEqual"),
            Err(
                "unknown condition operator \"StringEqual\"; did you mean \"StringEquals\"?".into()
            )
        );
        assert_eq!(
            Operator::parse("stringequals"),
            Err(
                "unknown condition operator \"stringequals\"; did you mean \"StringEquals\"?"
                    .into()
            )
        );
    }

    #[test]
    fn null_takes_no_modifiers() {
        assert!(Operator::parse("Null").is_ok());
        assert!(Operator::parse("NullIfExists").is_err());
        assert!(Operator::parse("ForAnyValue:Null").is_err());
    }
}
