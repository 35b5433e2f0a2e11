CREATE TABLE channels (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE access_keys (
    access_key TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL,
    secret_hash BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

-- `doc` is the user exactly as answered (json, not jsonb, keeps its key order); the other columns
-- exist for look-ups and locking.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL,
    member_id TEXT,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    doc JSON NOT NULL
);

CREATE UNIQUE INDEX users_member ON users (channel_id, member_id) WHERE member_id IS NOT NULL;
