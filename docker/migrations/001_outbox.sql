-- The app's first migration: the table its outbox poller reads.
CREATE TABLE IF NOT EXISTS outbox_messages (
    id         bigserial PRIMARY KEY,
    topic      text        NOT NULL,
    payload    jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
