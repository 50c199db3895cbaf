//! Walks the JSON tree of a policy document into a [`Policy`], refusing
//! anything IAM would refuse, with the JSON path of the fault.

use std::fmt;

use crate::condition::{Clause, Operator};
use crate::error::PolicyError;
use crate::json::{self, Json};
use crate::model::{
    ActionSet, Effect, Policy, PolicyKind, PrincipalSet, PrincipalType, ResourceSet, Statement,
    Version,
};
use crate::pattern::{Template, compile};
use crate::suggest;

/// A JSON path such as `Statement[1].Condition.StringEquals`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Path(String);

impl Path {
    fn key(&self, key: &str) -> Path {
        let plain = !key.is_empty()
            && !key
                .chars()
                .any(|c| matches!(c, '.' | '[' | ']' | '"') || c.is_whitespace());
        let seg = if plain {
            key.to_string()
        } else {
            format!("[{key:?}]")
        };
        if self.0.is_empty() || !plain {
            Path(format!("{}{seg}", self.0))
        } else {
            Path(format!("{}.{seg}", self.0))
        }
    }

    fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, PolicyError>;

fn err<T>(path: &Path, reason: impl Into<String>) -> Result<T> {
    Err(PolicyError::malformed(path, reason))
}

const TOP_LEVEL: &[&str] = &["Version", "Id", "Statement"];
const STATEMENT: &[&str] = &[
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
];

fn unknown(path: &Path, key: &str, known: &[&str]) -> PolicyError {
    let hint = suggest::closest(key, known.iter().copied())
        .map(|s| format!("; did you mean \"{s}\"?"))
        .unwrap_or_default();
    PolicyError::malformed(path, format!("unknown element \"{key}\"{hint}"))
}

fn get<'a>(fields: &'a [(String, Json)], key: &str) -> Option<&'a Json> {
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Parses a policy document of the given kind.
pub(crate) fn policy(text: &str, kind: PolicyKind) -> Result<Policy> {
    let root = Path::default();
    let doc = json::parse(text)?;
    let Json::Object(fields) = doc else {
        return err(
            &root,
            format!(
                "a policy document must be a JSON object, found {}",
                doc.kind()
            ),
        );
    };
    if let Some((k, _)) = fields
        .iter()
        .find(|(k, _)| !TOP_LEVEL.contains(&k.as_str()))
    {
        return Err(unknown(&root.key(k), k, TOP_LEVEL));
    }
    let version = match get(&fields, "Version") {
        None => Version::V2008_10_17,
        Some(Json::String(v)) if v == "2012-10-17" => Version::V2012_10_17,
        Some(Json::String(v)) if v == "2008-10-17" => Version::V2008_10_17,
        Some(Json::String(v)) => {
            return err(
                &root.key("Version"),
                format!("unsupported version \"{v}\"; use \"2012-10-17\""),
            );
        }
        Some(other) => {
            return err(
                &root.key("Version"),
                format!(
                    "must be a string such as \"2012-10-17\", found {}",
                    other.kind()
                ),
            );
        }
    };
    let id = match get(&fields, "Id") {
        None => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(other) => {
            return err(
                &root.key("Id"),
                format!("must be a string, found {}", other.kind()),
            );
        }
    };
    let spath = root.key("Statement");
    let raw: Vec<(Path, &Json)> = match get(&fields, "Statement") {
        None => return err(&root, "missing required element \"Statement\""),
        Some(s @ Json::Object(_)) => vec![(spath, s)],
        Some(Json::Array(items)) if items.is_empty() => {
            return err(&spath, "must contain at least one statement");
        }
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, s)| (spath.index(i), s))
            .collect(),
        Some(other) => {
            return err(
                &spath,
                format!(
                    "must be an object or an array of objects, found {}",
                    other.kind()
                ),
            );
        }
    };
    let variables = version == Version::V2012_10_17;
    let mut statements = Vec::with_capacity(raw.len());
    for (path, json) in raw {
        let st = statement(&path, json, kind, variables)?;
        if let Some(sid) = &st.sid
            && statements
                .iter()
                .any(|s: &Statement| s.sid.as_ref() == Some(sid))
        {
            return err(
                &path.key("Sid"),
                format!("duplicate Sid \"{sid}\"; Sids must be unique within a policy"),
            );
        }
        statements.push(st);
    }
    Ok(Policy {
        version,
        id,
        kind,
        statements,
    })
}

fn statement(path: &Path, json: &Json, kind: PolicyKind, variables: bool) -> Result<Statement> {
    let Json::Object(fields) = json else {
        return err(
            path,
            format!("a statement must be an object, found {}", json.kind()),
        );
    };
    if let Some((k, _)) = fields
        .iter()
        .find(|(k, _)| !STATEMENT.contains(&k.as_str()))
    {
        return Err(unknown(&path.key(k), k, STATEMENT));
    }
    let sid = match get(fields, "Sid") {
        None => None,
        Some(Json::String(s)) if s.is_empty() => None,
        Some(Json::String(s)) if s.chars().all(|c| c.is_ascii_alphanumeric()) => Some(s.clone()),
        Some(Json::String(s)) => {
            return err(
                &path.key("Sid"),
                format!("\"{s}\" is not a valid Sid: use only letters A-Z, a-z and digits 0-9"),
            );
        }
        Some(other) => {
            return err(
                &path.key("Sid"),
                format!("must be a string, found {}", other.kind()),
            );
        }
    };
    let effect = match get(fields, "Effect") {
        None => return err(path, "missing required element \"Effect\""),
        Some(Json::String(e)) if e == "Allow" => Effect::Allow,
        Some(Json::String(e)) if e == "Deny" => Effect::Deny,
        Some(Json::String(e)) => {
            return err(
                &path.key("Effect"),
                format!("must be \"Allow\" or \"Deny\", found \"{e}\""),
            );
        }
        Some(other) => {
            return err(
                &path.key("Effect"),
                format!("must be \"Allow\" or \"Deny\", found {}", other.kind()),
            );
        }
    };
    let actions = match pair(path, fields, "Action", "NotAction")? {
        None => {
            return err(
                path,
                "missing required element \"Action\" (or \"NotAction\")",
            );
        }
        Some((negated, p, v)) => ActionSet {
            negated,
            patterns: strings(&p, v)?
                .into_iter()
                .map(|(p, s)| action(&p, &s))
                .collect::<Result<_>>()?,
        },
    };
    let resources = match pair(path, fields, "Resource", "NotResource")? {
        None if kind == PolicyKind::Identity => {
            return err(
                path,
                "missing required element \"Resource\" (or \"NotResource\")",
            );
        }
        None => None,
        Some((negated, p, v)) => Some(ResourceSet {
            negated,
            templates: strings(&p, v)?
                .into_iter()
                .map(|(p, s)| resource(&p, &s, variables))
                .collect::<Result<_>>()?,
        }),
    };
    let principals = match pair(path, fields, "Principal", "NotPrincipal")? {
        Some((_, p, _)) if kind == PolicyKind::Identity => {
            return err(
                &p,
                "an identity-based policy may not name a principal (Principal belongs in a role's trust policy)",
            );
        }
        None if kind == PolicyKind::Resource => {
            return err(
                path,
                "missing required element \"Principal\" (or \"NotPrincipal\")",
            );
        }
        None => None,
        Some((negated, p, v)) => Some(principal(&p, v, negated)?),
    };
    let conditions = match get(fields, "Condition") {
        None => Vec::new(),
        Some(c) => condition(&path.key("Condition"), c, variables)?,
    };
    Ok(Statement {
        sid,
        effect,
        actions,
        resources,
        principals,
        conditions,
    })
}

/// An element and its `Not` form: at most one may appear.
fn pair<'a>(
    path: &Path,
    fields: &'a [(String, Json)],
    yes: &str,
    not: &str,
) -> Result<Option<(bool, Path, &'a Json)>> {
    match (get(fields, yes), get(fields, not)) {
        (Some(_), Some(_)) => err(
            path,
            format!("a statement may have \"{yes}\" or \"{not}\", not both"),
        ),
        (Some(v), None) => Ok(Some((false, path.key(yes), v))),
        (None, Some(v)) => Ok(Some((true, path.key(not), v))),
        (None, None) => Ok(None),
    }
}

/// A string or a non-empty array of strings, with each item's path.
fn strings(path: &Path, json: &Json) -> Result<Vec<(Path, String)>> {
    match json {
        Json::String(s) => Ok(vec![(path.clone(), s.clone())]),
        Json::Array(items) if items.is_empty() => err(path, "must not be empty"),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Json::String(s) => Ok((path.index(i), s.clone())),
                other => err(
                    &path.index(i),
                    format!("must be a string, found {}", other.kind()),
                ),
            })
            .collect(),
        other => err(
            path,
            format!(
                "must be a string or an array of strings, found {}",
                other.kind()
            ),
        ),
    }
}

fn action(path: &Path, s: &str) -> Result<Vec<crate::pattern::PChar>> {
    if s == "*" {
        return Ok(compile(s));
    }
    let valid = s.split_once(':').is_some_and(|(service, name)| {
        !service.is_empty()
            && !name.is_empty()
            && service
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '*' | '?'))
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*' | '?'))
    });
    if !valid {
        return err(
            path,
            format!(
                "\"{s}\" is not an action: expected service:Action, e.g. \"ssm:StartSession\", or \"*\""
            ),
        );
    }
    Ok(compile(&s.to_lowercase()))
}

fn resource(path: &Path, s: &str, variables: bool) -> Result<Template> {
    let colons = s.matches(':').count();
    let valid = s == "*" || (s.starts_with("arn:") && (colons >= 5 || s.contains('*')));
    if !valid {
        return err(
            path,
            format!(
                "\"{s}\" is not a resource: expected an ARN (arn:partition:service:region:account:resource) or \"*\""
            ),
        );
    }
    Template::parse(s, variables).or_else(|reason| err(path, reason))
}

fn principal(path: &Path, json: &Json, negated: bool) -> Result<PrincipalSet> {
    const TYPES: &[&str] = &["AWS", "Service", "Federated", "CanonicalUser"];
    let fields = match json {
        Json::String(s) if s == "*" => {
            return Ok(PrincipalSet {
                negated,
                any: true,
                entries: Vec::new(),
            });
        }
        Json::Object(fields) if !fields.is_empty() => fields,
        _ => {
            return err(
                path,
                "must be \"*\" or an object such as {\"AWS\": \"arn:aws:iam::123456789012:root\"} or {\"Service\": \"ec2.amazonaws.com\"}",
            );
        }
    };
    let mut entries = Vec::new();
    for (k, v) in fields {
        let kind = match k.as_str() {
            "AWS" => PrincipalType::Aws,
            "Service" => PrincipalType::Service,
            "Federated" => PrincipalType::Federated,
            "CanonicalUser" => PrincipalType::CanonicalUser,
            _ => {
                let hint = suggest::closest(k, TYPES.iter().copied())
                    .map(|s| format!("; did you mean \"{s}\"?"))
                    .unwrap_or_default();
                return err(
                    &path.key(k),
                    format!("unknown principal type \"{k}\"{hint}"),
                );
            }
        };
        for (p, id) in strings(&path.key(k), v)? {
            let valid = match kind {
                PrincipalType::Aws => {
                    id == "*"
                        || (id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
                        || (id.starts_with("arn:")
                            && id.matches(':').count() >= 5
                            && !id.contains(['*', '?']))
                }
                _ => !id.trim().is_empty(),
            };
            if !valid {
                return err(
                    &p,
                    format!(
                        "\"{id}\" is not a valid principal: expected an account id, an ARN without wildcards, or \"*\""
                    ),
                );
            }
            entries.push((kind, id));
        }
    }
    Ok(PrincipalSet {
        negated,
        any: false,
        entries,
    })
}

fn condition(path: &Path, json: &Json, variables: bool) -> Result<Vec<Clause>> {
    let Json::Object(ops) = json else {
        return err(
            path,
            format!(
                "must be an object of condition operators, found {}",
                json.kind()
            ),
        );
    };
    let mut clauses = Vec::new();
    for (op_name, block) in ops {
        let op_path = path.key(op_name);
        let op = Operator::parse(op_name).or_else(|reason| err(&op_path, reason))?;
        let Json::Object(keys) = block else {
            return err(
                &op_path,
                format!(
                    "must be an object of condition keys, found {}",
                    block.kind()
                ),
            );
        };
        for (key, values) in keys {
            let key_path = op_path.key(key);
            let (prefix, name) = key.split_once(':').unwrap_or(("", ""));
            if prefix.is_empty() || name.is_empty() {
                return err(
                    &key_path,
                    format!(
                        "condition key \"{key}\" must have a service prefix, e.g. \"aws:username\""
                    ),
                );
            }
            let raw = condition_values(&key_path, values)?;
            let is_array = matches!(values, Json::Array(_));
            let clause = Clause::new(op, key, &raw, variables).or_else(|(i, reason)| {
                let p = if is_array {
                    key_path.index(i)
                } else {
                    key_path.clone()
                };
                err(&p, reason)
            })?;
            clauses.push(clause);
        }
    }
    Ok(clauses)
}

/// Condition values: strings, numbers or booleans, alone or in a non-empty array.
fn condition_values(path: &Path, json: &Json) -> Result<Vec<String>> {
    fn scalar(path: &Path, j: &Json) -> Result<String> {
        match j {
            Json::String(s) | Json::Number(s) => Ok(s.clone()),
            Json::Bool(b) => Ok(b.to_string()),
            other => err(
                path,
                format!(
                    "a condition value must be a string, number or boolean, found {}",
                    other.kind()
                ),
            ),
        }
    }
    match json {
        Json::Array(items) if items.is_empty() => err(path, "must have at least one value"),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, j)| scalar(&path.index(i), j))
            .collect(),
        other => Ok(vec![scalar(path, other)?]),
    }
}

impl Policy {
    /// Parses an identity-based policy (attached to a user or role).
    pub fn parse(text: &str) -> Result<Policy> {
        policy(text, PolicyKind::Identity)
    }

    /// Parses a resource-based policy, such as a role's trust policy:
    /// every statement names a `Principal` or `NotPrincipal`.
    pub fn parse_resource_policy(text: &str) -> Result<Policy> {
        policy(text, PolicyKind::Resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_quote_keys_that_would_be_ambiguous() {
        let p = Path::default()
            .key("Statement")
            .index(1)
            .key("Condition")
            .key("a.b");
        assert_eq!(p.to_string(), "Statement[1].Condition[\"a.b\"]");
        let p = Path::default()
            .key("Statement")
            .key("Condition")
            .key("aws:PrincipalTag/x");
        assert_eq!(p.to_string(), "Statement.Condition.aws:PrincipalTag/x");
    }
}
