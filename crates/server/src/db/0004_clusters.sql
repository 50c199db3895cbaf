-- Cluster stacks: their resources and events, and EC2-style key pairs.
CREATE TABLE clusters (
    name           TEXT PRIMARY KEY,
    stack_status   TEXT NOT NULL,
    config_file    TEXT NOT NULL,
    config_text    TEXT NOT NULL,
    template       TEXT,
    cluster_user   TEXT NOT NULL,
    key_name       TEXT,
    vpc_id         TEXT NOT NULL DEFAULT '',
    subnet_id      TEXT NOT NULL DEFAULT '',
    net_index      INTEGER,
    head_instance  TEXT,
    head_ip        TEXT,
    created_by     TEXT NOT NULL,
    norollback     INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE TABLE stack_resources (
    cluster        TEXT NOT NULL,
    logical_id     TEXT NOT NULL,
    resource_type  TEXT NOT NULL,
    physical_id    TEXT,
    status         TEXT NOT NULL,
    reason         TEXT,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (cluster, logical_id)
);
CREATE TABLE stack_events (
    event_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster        TEXT NOT NULL,
    logical_id     TEXT NOT NULL,
    resource_type  TEXT NOT NULL,
    status         TEXT NOT NULL,
    reason         TEXT,
    timestamp      TEXT NOT NULL
);
CREATE INDEX stack_events_by_cluster ON stack_events(cluster, event_id);
CREATE TABLE key_pairs (
    key_name       TEXT PRIMARY KEY,
    key_pair_id    TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    public_key     TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
