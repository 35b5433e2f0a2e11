-- The webhook registry. `scopes` is the JSON array as answered; `failures` counts failed deliveries
-- in a row (reset by a success); at the configured threshold the webhook is blocked.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    token TEXT NOT NULL,
    scopes TEXT NOT NULL,
    api_version TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    blocked BOOLEAN NOT NULL DEFAULT FALSE,
    last_blocked_at BIGINT,
    failures INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX webhooks_channel ON webhooks (channel_id, created_at);

-- The outbox: one row per (webhook, scope) of a committed user change, written in the change's
-- transaction and deleted once delivered. `id` orders a user's deliveries (a user's changes
-- serialise on its row lock, so ids follow commit order); `claimed_until` is the lease of the
-- process posting it (0 when unclaimed).
CREATE TABLE webhook_deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    entity JSON NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (due_at);
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (webhook_id, user_id, id);

-- Rate-limit counters shared by every server process: requests granted per channel per window.
CREATE TABLE rate_counters (
    channel_id TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    used BIGINT NOT NULL,
    PRIMARY KEY (channel_id, window_start)
);
