//! A request to authorise: principal, action, resource and the request
//! context (condition keys, each with one or more string values).

use std::collections::BTreeMap;

/// The condition keys of a request. Key names are case-insensitive, as in
/// IAM; every value is a string, converted by the operator that reads it.
/// A key may hold several values (e.g. `aws:TagKeys`); a key with an empty
/// list of values counts as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// Lowercased key → (key as given, values).
    entries: BTreeMap<String, (String, Vec<String>)>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to the single value `value` (replacing earlier values).
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.insert_values(key, [value.into()]);
    }

    /// Sets `key` to several values (replacing earlier values).
    pub fn insert_values<I, V>(&mut self, key: impl Into<String>, values: I)
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        let key = key.into();
        let values = values.into_iter().map(Into::into).collect();
        self.entries.insert(key.to_lowercase(), (key, values));
    }

    /// Builder form of [`Context::insert`].
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(key, value);
        self
    }

    /// Builder form of [`Context::insert_values`].
    pub fn with_values<I, V>(mut self, key: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        self.insert_values(key, values);
        self
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.entries.remove(&key.to_lowercase());
    }

    /// The values of `key` (any case), if it is present.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values_lower(&key.to_lowercase())
    }

    /// Whether `key` (any case) is present with at least one value.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| !v.is_empty())
    }

    /// Keys as given and their values, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries
            .values()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Lookup by an already-lowercased key.
    pub(crate) fn values_lower(&self, key: &str) -> Option<&[String]> {
        self.entries.get(key).map(|(_, v)| v.as_slice())
    }
}

/// "May `principal` perform `action` on `resource`, given `context`?"
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The caller: a user or role ARN, or for trust policies a service
    /// principal such as `ec2.amazonaws.com`.
    pub principal: String,
    /// e.g. `ssm:StartSession` (matched case-insensitively).
    pub action: String,
    /// e.g. `arn:aws:ec2:us-east-1:123456789012:instance/i-0123` (or `*`).
    pub resource: String,
    /// Condition keys and policy-variable values.
    pub context: Context,
}

impl Request {
    /// A request with an empty context.
    pub fn new(
        principal: impl Into<String>,
        action: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        Request {
            principal: principal.into(),
            action: action.into(),
            resource: resource.into(),
            context: Context::new(),
        }
    }

    /// Adds one context value (builder style).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.context.insert(key, value);
        self
    }

    /// Adds a multivalued context key (builder style).
    pub fn with_values<I, V>(mut self, key: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        self.context.insert_values(key, values);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_case_insensitive() {
        let c = Context::new().with("aws:PrincipalTag/Team", "hpc");
        assert_eq!(
            c.get("AWS:principaltag/team"),
            Some(&["hpc".to_string()][..])
        );
        assert!(c.contains("aws:principaltag/TEAM"));
    }

    #[test]
    fn empty_value_list_counts_as_absent() {
        let c = Context::new().with_values("aws:TagKeys", Vec::<String>::new());
        assert!(!c.contains("aws:TagKeys"));
        assert_eq!(c.get("aws:tagkeys"), Some(&[][..]));
    }

    #[test]
    fn insert_replaces_and_keeps_given_spelling() {
        let mut c = Context::new().with("aws:UserName", "a");
        c.insert("AWS:USERNAME", "b");
        let all: Vec<_> = c.iter().collect();
        assert_eq!(all, vec![("AWS:USERNAME", &["b".to_string()][..])]);
        c.remove("aws:username");
        assert_eq!(c.iter().count(), 0);
    }
}
