-- Web console: one-time sign-in tokens and the browser sessions they open.
-- Only SHA-256 hashes of tokens and cookies are stored.
CREATE TABLE console_signin_tokens (
    token_sha256     TEXT PRIMARY KEY,
    user_name        TEXT NOT NULL REFERENCES users(user_name) ON DELETE CASCADE,
    access_key_id    TEXT NOT NULL,
    session_seconds  INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    used_at          INTEGER
);
CREATE TABLE console_sessions (
    cookie_sha256    TEXT PRIMARY KEY,
    user_name        TEXT NOT NULL REFERENCES users(user_name) ON DELETE CASCADE,
    access_key_id    TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    source_ip        TEXT
);
