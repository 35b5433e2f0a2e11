-- A user's events, paged by (created_at, id). Deleting a user deletes its events in the same
-- write (the store does it; SQLite's foreign keys are off by default).
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    doc TEXT NOT NULL
);

CREATE INDEX events_user ON events (user_id, created_at, id);

-- The HS256 key a channel signs its user tokens and session JWTs with; made on first use.
CREATE TABLE signing_keys (
    channel_id TEXT PRIMARY KEY,
    secret BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
