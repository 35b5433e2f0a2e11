CREATE TABLE channels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE access_keys (
    access_key TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

-- `doc` is the user exactly as answered; the other columns exist for look-ups and locking.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL,
    member_id TEXT,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    doc TEXT NOT NULL
);

CREATE UNIQUE INDEX users_member ON users (channel_id, member_id) WHERE member_id IS NOT NULL;
