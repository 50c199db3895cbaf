//! Users, access keys, roles and policies in the database.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::{Map, Value};

pub use super::error::IamError;
use super::ids;

/// `user` or `role`: whose policies a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    User,
    Role,
}

impl PrincipalKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Role => "role",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    pub user_name: String,
    pub user_id: String,
    pub arn: String,
    pub path: String,
    pub create_date: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeyMetadata {
    pub user_name: String,
    pub access_key_id: String,
    pub status: String,
    pub create_date: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    pub role_name: String,
    pub role_id: String,
    pub arn: String,
    pub path: String,
    pub create_date: String,
    pub description: String,
    pub assume_role_policy_document: String,
    pub tags: Vec<Tag>,
}

/// What authentication needs to know about an access key.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub user_name: String,
    pub public_key: Vec<u8>,
    pub active: bool,
}

pub fn now_iso() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn tags_from_json(s: &str) -> Vec<Tag> {
    serde_json::from_str::<Map<String, Value>>(s)
        .map(|m| {
            m.into_iter()
                .map(|(key, v)| Tag {
                    key,
                    value: v.as_str().unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn tags_to_json(tags: &[Tag]) -> String {
    let m: Map<String, Value> = tags
        .iter()
        .map(|t| (t.key.clone(), Value::String(t.value.clone())))
        .collect();
    Value::Object(m).to_string()
}

/// The account this server plays, created at first start.
pub fn account_id(conn: &Connection) -> Result<String, IamError> {
    let existing: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = 'account_id'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    if let Some(a) = existing {
        return Ok(a);
    }
    let a = ids::account_id();
    conn.execute(
        "INSERT INTO meta(key, value) VALUES ('account_id', ?1)",
        params![a],
    )?;
    Ok(a)
}

fn check_name(what: &'static str, name: &str) -> Result<(), IamError> {
    if ids::valid_iam_name(name, 64) {
        Ok(())
    } else {
        Err(IamError::InvalidName {
            field: what,
            name: name.to_owned(),
        })
    }
}

/// The tables `DescribeServer` counts.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    Users,
    AccessKeys,
    Roles,
    ManagedPolicies,
    AuditLog,
    Instances,
}

pub struct Iam<'a> {
    pub conn: &'a Connection,
    pub account: String,
}

impl<'a> Iam<'a> {
    pub fn new(conn: &'a Connection) -> Result<Self, IamError> {
        Ok(Self {
            account: account_id(conn)?,
            conn,
        })
    }

    pub fn user_arn(&self, name: &str, path: &str) -> String {
        format!("arn:aws:iam::{}:user{path}{name}", self.account)
    }
    pub fn role_arn(&self, name: &str, path: &str) -> String {
        format!("arn:aws:iam::{}:role{path}{name}", self.account)
    }

    pub fn create_user(&self, name: &str, tags: &[Tag]) -> Result<User, IamError> {
        check_name("userName", name)?;
        let id = ids::user_id();
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO users(user_name, user_id, created_at, tags) VALUES (?1, ?2, ?3, ?4)",
            params![name, id, now_iso(), tags_to_json(tags)],
        )?;
        if n == 0 {
            return Err(IamError::UserExists(name.to_owned()));
        }
        self.get_user(name)
    }

    pub fn get_user(&self, name: &str) -> Result<User, IamError> {
        self.conn
            .query_row(
                "SELECT user_name, user_id, path, created_at, tags FROM users WHERE user_name = ?1",
                params![name],
                |r| {
                    let (n, id, path, at, tags): (String, String, String, String, String) =
                        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
                    Ok(User {
                        arn: self.user_arn(&n, &path),
                        user_name: n,
                        user_id: id,
                        path,
                        create_date: at,
                        tags: tags_from_json(&tags),
                    })
                },
            )
            .optional()?
            .ok_or_else(|| IamError::NoSuchUser(name.to_owned()))
    }

    pub fn list_users(&self) -> Result<Vec<User>, IamError> {
        let mut st = self
            .conn
            .prepare("SELECT user_name FROM users ORDER BY user_name")?;
        let names: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        names.iter().map(|n| self.get_user(n)).collect()
    }

    pub fn delete_user(&self, name: &str) -> Result<(), IamError> {
        crate::db::immediate(self.conn, || {
            self.get_user(name)?;
            let keys: i64 = self.conn.query_row(
                "SELECT count(*) FROM access_keys WHERE user_name = ?1",
                params![name],
                |r| r.get(0),
            )?;
            let pols: i64 = self.conn.query_row(
            "SELECT (SELECT count(*) FROM inline_policies WHERE principal_kind='user' AND principal_name=?1) + (SELECT count(*) FROM attached_policies WHERE principal_kind='user' AND principal_name=?1)",
            params![name],
            |r| r.get(0),
        )?;
            if keys + pols > 0 {
                return Err(IamError::UserInUse {
                    user: name.to_owned(),
                    keys,
                    policies: pols,
                });
            }
            self.conn
                .execute("DELETE FROM users WHERE user_name = ?1", params![name])?;
            Ok(())
        })
    }

    pub fn tag_user(&self, name: &str, tags: &[Tag]) -> Result<(), IamError> {
        crate::db::immediate(self.conn, || {
            let mut user = self.get_user(name)?;
            for t in tags {
                match user.tags.iter_mut().find(|x| x.key == t.key) {
                    Some(x) => x.value = t.value.clone(),
                    None => user.tags.push(t.clone()),
                }
            }
            self.conn.execute(
                "UPDATE users SET tags = ?2 WHERE user_name = ?1",
                params![name, tags_to_json(&user.tags)],
            )?;
            Ok(())
        })
    }

    /// Creates a key pair; returns the metadata and the private key, which
    /// is never stored.
    pub fn create_access_key(
        &self,
        user: &str,
    ) -> Result<(AccessKeyMetadata, ed25519_dalek::SigningKey), IamError> {
        crate::db::immediate(self.conn, || {
            self.get_user(user)?;
            let count: i64 = self.conn.query_row(
                "SELECT count(*) FROM access_keys WHERE user_name = ?1",
                params![user],
                |r| r.get(0),
            )?;
            if count >= 2 {
                return Err(IamError::AccessKeyQuota);
            }
            let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
            let id = ids::access_key_id();
            let at = now_iso();
            self.conn.execute(
            "INSERT INTO access_keys(access_key_id, user_name, public_key, status, created_at) VALUES (?1, ?2, ?3, 'Active', ?4)",
            params![id, user, key.verifying_key().to_bytes().to_vec(), at],
        )?;
            Ok((
                AccessKeyMetadata {
                    user_name: user.to_owned(),
                    access_key_id: id,
                    status: "Active".into(),
                    create_date: at,
                },
                key,
            ))
        })
    }

    pub fn list_access_keys(&self, user: &str) -> Result<Vec<AccessKeyMetadata>, IamError> {
        self.get_user(user)?;
        let mut st = self.conn.prepare(
            "SELECT access_key_id, status, created_at FROM access_keys WHERE user_name = ?1 ORDER BY created_at",
        )?;
        let rows = st
            .query_map(params![user], |r| {
                Ok(AccessKeyMetadata {
                    user_name: user.to_owned(),
                    access_key_id: r.get(0)?,
                    status: r.get(1)?,
                    create_date: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    pub fn update_access_key(&self, user: &str, id: &str, active: bool) -> Result<(), IamError> {
        let status = if active { "Active" } else { "Inactive" };
        let n = self.conn.execute(
            "UPDATE access_keys SET status = ?3 WHERE user_name = ?1 AND access_key_id = ?2",
            params![user, id, status],
        )?;
        if n == 0 {
            return Err(IamError::NoSuchAccessKey(id.to_owned()));
        }
        Ok(())
    }

    pub fn delete_access_key(&self, user: &str, id: &str) -> Result<(), IamError> {
        let n = self.conn.execute(
            "DELETE FROM access_keys WHERE user_name = ?1 AND access_key_id = ?2",
            params![user, id],
        )?;
        if n == 0 {
            return Err(IamError::NoSuchAccessKey(id.to_owned()));
        }
        Ok(())
    }

    pub fn key_record(&self, id: &str) -> Result<Option<KeyRecord>, IamError> {
        Ok(self
            .conn
            .query_row(
                "SELECT user_name, public_key, status FROM access_keys WHERE access_key_id = ?1",
                params![id],
                |r| {
                    Ok(KeyRecord {
                        user_name: r.get(0)?,
                        public_key: r.get(1)?,
                        active: r.get::<_, String>(2)? == "Active",
                    })
                },
            )
            .optional()?)
    }

    pub fn touch_access_key(&self, id: &str) -> Result<(), IamError> {
        self.conn.execute(
            "UPDATE access_keys SET last_used_at = ?2 WHERE access_key_id = ?1",
            params![id, now_iso()],
        )?;
        Ok(())
    }

    pub fn create_role(
        &self,
        name: &str,
        trust_policy: &str,
        description: &str,
        tags: &[Tag],
    ) -> Result<Role, IamError> {
        check_name("roleName", name)?;
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO roles(role_name, role_id, trust_policy, description, created_at, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![name, ids::role_id(), trust_policy, description, now_iso(), tags_to_json(tags)],
        )?;
        if n == 0 {
            return Err(IamError::RoleExists(name.to_owned()));
        }
        self.get_role(name)
    }

    pub fn get_role(&self, name: &str) -> Result<Role, IamError> {
        self.conn
            .prepare_cached(
                "SELECT role_name, role_id, path, created_at, description, trust_policy, tags FROM roles WHERE role_name = ?1",
            )?
            .query_row(
                params![name],
                |r| {
                    let n: String = r.get(0)?;
                    let path: String = r.get(2)?;
                    Ok(Role {
                        arn: self.role_arn(&n, &path),
                        role_name: n,
                        role_id: r.get(1)?,
                        path,
                        create_date: r.get(3)?,
                        description: r.get(4)?,
                        assume_role_policy_document: r.get(5)?,
                        tags: tags_from_json(&r.get::<_, String>(6)?),
                    })
                },
            )
            .optional()?
            .ok_or_else(|| {
                IamError::NoSuchRole(name.to_owned())
            })
    }

    pub fn list_roles(&self) -> Result<Vec<Role>, IamError> {
        let mut st = self
            .conn
            .prepare("SELECT role_name FROM roles ORDER BY role_name")?;
        let names: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        names.iter().map(|n| self.get_role(n)).collect()
    }

    pub fn delete_role(&self, name: &str) -> Result<(), IamError> {
        crate::db::immediate(self.conn, || {
            self.get_role(name)?;
            self.conn.execute(
                "DELETE FROM inline_policies WHERE principal_kind='role' AND principal_name=?1",
                params![name],
            )?;
            self.conn.execute(
                "DELETE FROM attached_policies WHERE principal_kind='role' AND principal_name=?1",
                params![name],
            )?;
            self.conn
                .execute("DELETE FROM roles WHERE role_name = ?1", params![name])?;
            Ok(())
        })
    }

    fn check_principal(&self, kind: PrincipalKind, name: &str) -> Result<(), IamError> {
        match kind {
            PrincipalKind::User => self.get_user(name).map(drop),
            PrincipalKind::Role => self.get_role(name).map(drop),
        }
    }

    pub fn put_inline_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        crate::db::immediate(self.conn, || {
            self.check_principal(kind, principal)?;
            check_name("policyName", policy_name)?;
            self.conn.execute(
            "INSERT INTO inline_policies(principal_kind, principal_name, policy_name, document) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(principal_kind, principal_name, policy_name) DO UPDATE SET document = excluded.document",
            params![kind.as_str(), principal, policy_name, document],
        )?;
            Ok(())
        })
    }

    pub fn delete_inline_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        policy_name: &str,
    ) -> Result<(), IamError> {
        let n = self.conn.execute(
            "DELETE FROM inline_policies WHERE principal_kind=?1 AND principal_name=?2 AND policy_name=?3",
            params![kind.as_str(), principal, policy_name],
        )?;
        if n == 0 {
            return Err(IamError::NoSuchInlinePolicy {
                kind: kind.as_str(),
                name: policy_name.to_owned(),
            });
        }
        Ok(())
    }

    /// Inline policies as (name, document).
    pub fn inline_policies(
        &self,
        kind: PrincipalKind,
        principal: &str,
    ) -> Result<Vec<(String, String)>, IamError> {
        let mut st = self.conn.prepare_cached(
            "SELECT policy_name, document FROM inline_policies WHERE principal_kind=?1 AND principal_name=?2 ORDER BY policy_name",
        )?;
        let rows = st
            .query_map(params![kind.as_str(), principal], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    pub fn attach_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        arn: &str,
    ) -> Result<(), IamError> {
        crate::db::immediate(self.conn, || {
            self.check_principal(kind, principal)?;
            if self.managed_policy_document(arn)?.is_none() {
                return Err(IamError::NotAttachable(arn.to_owned()));
            }
            self.conn.execute(
            "INSERT OR IGNORE INTO attached_policies(principal_kind, principal_name, policy_arn) VALUES (?1, ?2, ?3)",
            params![kind.as_str(), principal, arn],
        )?;
            Ok(())
        })
    }

    pub fn detach_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        arn: &str,
    ) -> Result<(), IamError> {
        let n = self.conn.execute(
            "DELETE FROM attached_policies WHERE principal_kind=?1 AND principal_name=?2 AND policy_arn=?3",
            params![kind.as_str(), principal, arn],
        )?;
        if n == 0 {
            return Err(IamError::NotAttached {
                arn: arn.to_owned(),
                principal: principal.to_owned(),
            });
        }
        Ok(())
    }

    pub fn attached_policies(
        &self,
        kind: PrincipalKind,
        principal: &str,
    ) -> Result<Vec<String>, IamError> {
        let mut st = self.conn.prepare_cached(
            "SELECT policy_arn FROM attached_policies WHERE principal_kind=?1 AND principal_name=?2 ORDER BY policy_arn",
        )?;
        let rows = st
            .query_map(params![kind.as_str(), principal], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// A customer-managed policy created with `create-policy`.
    pub fn create_policy(&self, name: &str, document: &str) -> Result<String, IamError> {
        check_name("policyName", name)?;
        let arn = format!("arn:aws:iam::{}:policy/{name}", self.account);
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO managed_policies(arn, policy_name, document, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![arn, name, document, now_iso()],
        )?;
        if n == 0 {
            return Err(IamError::PolicyExists(name.to_owned()));
        }
        Ok(arn)
    }

    pub fn list_customer_policies(&self) -> Result<Vec<(String, String)>, IamError> {
        let mut st = self
            .conn
            .prepare("SELECT policy_name, arn FROM managed_policies ORDER BY policy_name")?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The document of a managed policy: built-in (AWS) or customer.
    pub fn managed_policy_document(&self, arn: &str) -> Result<Option<String>, IamError> {
        if let Some(doc) = crate::iam::builtin_policy_document(arn) {
            return Ok(Some(doc));
        }
        Ok(self
            .conn
            .prepare_cached("SELECT document FROM managed_policies WHERE arn = ?1")?
            .query_row(params![arn], |r| r.get(0))
            .optional()?)
    }

    pub fn count(&self, table: Table) -> Result<i64, IamError> {
        let name = match table {
            Table::Users => "users",
            Table::AccessKeys => "access_keys",
            Table::Roles => "roles",
            Table::ManagedPolicies => "managed_policies",
            Table::AuditLog => "audit_log",
            Table::Instances => "instances",
        };
        Ok(self
            .conn
            .query_row(&format!("SELECT count(*) FROM {name}"), [], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let tmp = tempfile::tempdir().unwrap();
        let (conn, _) = crate::db::open(&tmp.path().join("a.db")).unwrap();
        (tmp, conn)
    }

    #[test]
    fn user_names_differing_only_in_case_are_the_same_name() {
        let (_t, conn) = db();
        let iam = Iam::new(&conn).unwrap();
        iam.create_user("alice", &[]).unwrap();
        for other in ["Alice", "ALICE", "aLiCe"] {
            let e = iam.create_user(other, &[]).unwrap_err();
            assert!(matches!(&e, IamError::UserExists(n) if n == other), "{e:?}");
            assert_eq!(
                e.to_string(),
                format!("User with name {other} already exists.")
            );
        }
        assert_eq!(iam.list_users().unwrap().len(), 1);
        assert_eq!(iam.get_user("alice").unwrap().user_name, "alice");
        iam.create_user("alice2", &[]).unwrap();
    }

    #[test]
    fn role_names_differing_only_in_case_are_the_same_name() {
        let (_t, conn) = db();
        let iam = Iam::new(&conn).unwrap();
        iam.create_role("NodeRole", "{}", "", &[]).unwrap();
        let e = iam.create_role("noderole", "{}", "", &[]).unwrap_err();
        assert!(
            matches!(&e, IamError::RoleExists(n) if n == "noderole"),
            "{e:?}"
        );
        iam.delete_role("NodeRole").unwrap();
        iam.create_role("noderole", "{}", "", &[]).unwrap();
    }
}
