-- A user's events, paged by (created_at, id). The foreign key deletes a user's events in the
-- transaction that deletes the user, and stops an event being added to a user being deleted.
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    doc JSON NOT NULL
);

CREATE INDEX events_user ON events (user_id, created_at, id);

-- The HS256 key a channel signs its user tokens and session JWTs with; made on first use.
CREATE TABLE signing_keys (
    channel_id TEXT PRIMARY KEY,
    secret BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
