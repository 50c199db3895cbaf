-- Nodes that boot from user data: an instance row exists before its machine
-- has a key (the provider creates it, then mints a join token), so
-- cert_sha256 becomes nullable until the join is redeemed; user_data keeps
-- the script the instance was launched with (ec2:DescribeInstanceAttribute).
-- SQLite cannot drop a NOT NULL constraint, so the table is rebuilt.
CREATE TABLE instances_new (
    instance_id       TEXT PRIMARY KEY,
    resource_type     TEXT NOT NULL,
    role_name         TEXT NOT NULL,
    activation_id     TEXT,
    cert_sha256       TEXT UNIQUE,
    name              TEXT,
    computer_name     TEXT,
    ip_address        TEXT,
    platform_type     TEXT,
    platform_name     TEXT,
    agent_version     TEXT,
    registered_at     TEXT NOT NULL,
    last_ping_at      TEXT,
    ping_status       TEXT NOT NULL DEFAULT 'Inactive',
    registration_error TEXT,
    tags              TEXT NOT NULL DEFAULT '{}',
    user_data         TEXT
);
INSERT INTO instances_new(instance_id, resource_type, role_name, activation_id, cert_sha256, name,
    computer_name, ip_address, platform_type, platform_name, agent_version, registered_at,
    last_ping_at, ping_status, registration_error, tags)
SELECT instance_id, resource_type, role_name, activation_id, cert_sha256, name,
    computer_name, ip_address, platform_type, platform_name, agent_version, registered_at,
    last_ping_at, ping_status, registration_error, tags
FROM instances;
DROP TABLE instances;
ALTER TABLE instances_new RENAME TO instances;

-- Join tokens: only the SHA-256 of the token is kept. One token joins one
-- instance, as one role, once, before it expires.
CREATE TABLE join_tokens (
    token_sha256 TEXT PRIMARY KEY,
    instance_id  TEXT NOT NULL,
    role_name    TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    used_at      TEXT
);
CREATE INDEX join_tokens_by_instance ON join_tokens(instance_id);
