-- Session Manager sessions: who opened what on which node, and how it ended.
CREATE TABLE sessions (
    session_id          TEXT PRIMARY KEY,
    owner               TEXT NOT NULL,
    owner_arn           TEXT NOT NULL,
    target              TEXT NOT NULL,
    document_name       TEXT NOT NULL,
    parameters          TEXT NOT NULL DEFAULT '{}',
    run_as              TEXT,
    status              TEXT NOT NULL,
    reason              TEXT,
    start_date          TEXT NOT NULL,
    end_date            TEXT,
    client_token_sha256 TEXT NOT NULL,
    agent_token_sha256  TEXT NOT NULL,
    recording           TEXT
);
CREATE INDEX sessions_status ON sessions(status);
