//! Tags in authorisation: the one place that turns a resource's tags and a
//! request's tags into condition keys (`ssm:resourceTag/K`,
//! `aws:ResourceTag/K`, `aws:RequestTag/K`, `aws:TagKeys`), and that holds
//! user tag writes to AWS's limits and the reserved prefixes.

use airlock_policy::Request;

use crate::api_error::{ApiError, ErrorCode};

/// Most tags one resource carries (AWS: 50).
pub const MAX_TAGS: usize = 50;
/// Longest key and value, in characters (AWS: 128 and 256).
pub const MAX_KEY_CHARS: usize = 128;
pub const MAX_VALUE_CHARS: usize = 256;
/// Prefixes only the service itself writes: `aws:` as AWS refuses it, and
/// the keys a cluster's identity rests on.
pub const RESERVED_PREFIXES: &[&str] = &["aws:", "parallelcluster:", "airlock:"];

/// The tag condition keys of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagContext {
    single: Vec<(String, String)>,
    tag_keys: Option<Vec<String>>,
}

impl TagContext {
    /// A resource's current tags, as `ssm:resourceTag/K` and
    /// `aws:ResourceTag/K` (Session Manager's documentation uses both).
    pub fn resource(tags: &[(String, String)]) -> Self {
        let single = tags
            .iter()
            .flat_map(|(k, v)| {
                [
                    (format!("ssm:resourceTag/{k}"), v.clone()),
                    (format!("aws:ResourceTag/{k}"), v.clone()),
                ]
            })
            .collect();
        TagContext {
            single,
            tag_keys: None,
        }
    }

    /// Tags a request writes: `aws:RequestTag/K` and `aws:TagKeys`.
    pub fn request_tags(mut self, tags: &[(String, String)]) -> Self {
        for (k, v) in tags {
            self.single.push((format!("aws:RequestTag/{k}"), v.clone()));
        }
        self.tag_keys(tags.iter().map(|(k, _)| k.clone()))
    }

    /// Keys a request names (`RemoveTagsFromResource`): `aws:TagKeys`.
    pub fn tag_keys(mut self, keys: impl IntoIterator<Item = String>) -> Self {
        self.tag_keys.get_or_insert_with(Vec::new).extend(keys);
        self
    }

    /// Adds one other condition key (e.g. `ec2:osuser`).
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.single.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The request with these keys in its context.
    pub fn apply(&self, mut req: Request) -> Request {
        for (k, v) in &self.single {
            req = req.with(k.clone(), v.clone());
        }
        if let Some(keys) = &self.tag_keys {
            req = req.with_values("aws:TagKeys", keys.iter().cloned());
        }
        req
    }
}

fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

fn invalid(msg: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidTag, msg)
}

/// Checks one key a user writes or removes.
pub fn check_key(key: &str) -> Result<(), ApiError> {
    let n = key.chars().count();
    if n == 0 || n > MAX_KEY_CHARS {
        return Err(invalid(format!(
            "Tag key {:?} must be 1-{MAX_KEY_CHARS} characters long.",
            clip(key)
        )));
    }
    if !key.chars().all(is_tag_char) {
        return Err(invalid(format!(
            "Tag key {:?} may contain only letters, digits, spaces and _ . : / = + - @.",
            clip(key)
        )));
    }
    if let Some(p) = RESERVED_PREFIXES
        .iter()
        .find(|p| key.to_ascii_lowercase().starts_with(*p))
    {
        return Err(invalid(format!(
            "Tag keys beginning with {p} are reserved for the service; {key:?} cannot be written or removed by users."
        )));
    }
    Ok(())
}

/// Checks the tags a user writes onto a resource that carries `existing`
/// keys now: keys, values, and the count after the write.
pub fn check_write(
    existing: &[(String, String)],
    add: &[(String, String)],
) -> Result<(), ApiError> {
    for (k, v) in add {
        check_key(k)?;
        if v.chars().count() > MAX_VALUE_CHARS || !v.chars().all(is_tag_char) {
            return Err(invalid(format!(
                "The value of tag {k:?} must be at most {MAX_VALUE_CHARS} letters, digits, spaces and _ . : / = + - @."
            )));
        }
    }
    let mut keys: Vec<&str> = existing.iter().map(|(k, _)| k.as_str()).collect();
    keys.extend(add.iter().map(|(k, _)| k.as_str()));
    keys.sort_unstable();
    keys.dedup();
    if keys.len() > MAX_TAGS {
        return Err(ApiError::new(
            ErrorCode::TooManyTagsError,
            format!(
                "A resource can have at most {MAX_TAGS} tags; this request would leave {}.",
                keys.len()
            ),
        ));
    }
    Ok(())
}

/// A key cut short for an error message.
fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_policy::{Policy, evaluate};

    fn t(k: &str, v: &str) -> (String, String) {
        (k.into(), v.into())
    }

    fn allowed(policy: &str, ctx: &TagContext) -> bool {
        let p = Policy::parse(policy).unwrap();
        let req = ctx.apply(Request::new("arn:u", "ssm:AddTagsToResource", "arn:i"));
        evaluate([("p", &p)], &req).is_allowed()
    }

    #[test]
    fn tag_keys_conditions_bind() {
        let only_team = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:AddTagsToResource","Resource":"*",
            "Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["Team"]}}}]}"#;
        let team = TagContext::default().request_tags(&[t("Team", "a")]);
        let env = TagContext::default().request_tags(&[t("Team", "a"), t("Env", "prod")]);
        assert!(allowed(only_team, &team));
        assert!(!allowed(only_team, &env));
    }

    #[test]
    fn resource_and_request_tags_are_both_in_context() {
        let deny_prod = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"ssm:resourceTag/Env":"prod"}}},
            {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/Env":"prod"}}}]}"#;
        assert!(!allowed(
            deny_prod,
            &TagContext::resource(&[t("Env", "prod")])
        ));
        assert!(!allowed(
            deny_prod,
            &TagContext::resource(&[t("Env", "dev")]).request_tags(&[t("Env", "prod")])
        ));
        assert!(allowed(
            deny_prod,
            &TagContext::resource(&[t("Env", "dev")])
        ));
    }

    #[test]
    fn aws_limits_and_reserved_prefixes() {
        assert!(check_write(&[], &[t("Team", "hpc-1 a/b")]).is_ok());
        for bad in [
            "",
            "aws:x",
            "AWS:x",
            "parallelcluster:node-type",
            "airlock:x",
            "a;b",
            "\u{1b}[2J",
        ] {
            assert!(check_write(&[], &[t(bad, "v")]).is_err(), "{bad:?}");
        }
        assert!(check_write(&[], &[t(&"k".repeat(129), "v")]).is_err());
        assert!(check_write(&[], &[t("k", &"v".repeat(257))]).is_err());
        let fifty: Vec<_> = (0..50).map(|i| t(&format!("k{i}"), "v")).collect();
        assert!(check_write(&fifty, &[t("k0", "new")]).is_ok());
        let e = check_write(&fifty, &[t("k50", "v")]).unwrap_err();
        assert_eq!(e.code.as_str(), "TooManyTagsError");
    }
}
