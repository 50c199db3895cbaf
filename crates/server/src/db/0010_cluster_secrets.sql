-- A cluster's secrets, made once when its nodes first ask for their
-- configuration and sent only down their mTLS control channels: the munge
-- key every node's munged shares, and the host key every node's sshd
-- presents through the tunnel.
CREATE TABLE cluster_secrets (
    cluster      TEXT PRIMARY KEY,
    munge_key    TEXT NOT NULL,
    ssh_host_key TEXT NOT NULL
);
