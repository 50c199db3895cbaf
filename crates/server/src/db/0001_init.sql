-- Identity, audit and replay protection.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE users (
    user_name  TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL UNIQUE,
    path       TEXT NOT NULL DEFAULT '/',
    created_at TEXT NOT NULL,
    tags       TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    user_name     TEXT NOT NULL REFERENCES users(user_name) ON DELETE CASCADE,
    public_key    BLOB NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
    created_at    TEXT NOT NULL,
    last_used_at  TEXT
);
CREATE TABLE roles (
    role_name     TEXT PRIMARY KEY,
    role_id       TEXT NOT NULL UNIQUE,
    path          TEXT NOT NULL DEFAULT '/',
    trust_policy  TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    tags          TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE managed_policies (
    arn         TEXT PRIMARY KEY,
    policy_name TEXT NOT NULL UNIQUE,
    document    TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
-- principal_kind is 'user' or 'role'.
CREATE TABLE inline_policies (
    principal_kind TEXT NOT NULL,
    principal_name TEXT NOT NULL,
    policy_name    TEXT NOT NULL,
    document       TEXT NOT NULL,
    PRIMARY KEY (principal_kind, principal_name, policy_name)
);
CREATE TABLE attached_policies (
    principal_kind TEXT NOT NULL,
    principal_name TEXT NOT NULL,
    policy_arn     TEXT NOT NULL,
    PRIMARY KEY (principal_kind, principal_name, policy_arn)
);
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    time        TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    principal   TEXT NOT NULL,
    action      TEXT NOT NULL,
    resource    TEXT NOT NULL,
    decision    TEXT NOT NULL,
    statement   TEXT,
    source_ip   TEXT,
    detail      TEXT
);
CREATE INDEX audit_log_time ON audit_log(time);
CREATE TABLE request_nonces (
    nonce      TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
