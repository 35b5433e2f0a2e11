-- Idempotency-Key records (SPEC section 7). `state` is 'running' while the first request is in
-- flight and 'done' once its answer (status, headers as JSON, body) is stored.
CREATE TABLE idempotency_keys (
    channel_id TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint BYTEA NOT NULL,
    token TEXT NOT NULL,
    state TEXT NOT NULL,
    status INTEGER,
    headers TEXT,
    body BYTEA,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, key)
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
