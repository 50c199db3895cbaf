-- Managed instances (nodes and hybrid machines) and hybrid activations.
CREATE TABLE activations (
    activation_id      TEXT PRIMARY KEY,
    code_sha256        TEXT NOT NULL,
    role_name          TEXT NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    default_name       TEXT,
    registration_limit INTEGER NOT NULL,
    registrations      INTEGER NOT NULL DEFAULT 0,
    expires_at         INTEGER NOT NULL,
    created_at         TEXT NOT NULL
);
CREATE TABLE instances (
    instance_id       TEXT PRIMARY KEY,
    resource_type     TEXT NOT NULL,
    role_name         TEXT NOT NULL,
    activation_id     TEXT,
    cert_sha256       TEXT NOT NULL UNIQUE,
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
    tags              TEXT NOT NULL DEFAULT '{}'
);
