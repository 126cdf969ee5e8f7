-- The alert tables of lorawatch.alerts.store, shared by the workers: one unresolved alert per
-- (rule, subject) whichever worker finds it, its lifecycle events, the notification outbox,
-- and the rules' working state (the elected evaluator's position under rule '_evaluator').
CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    rule TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
    severity TEXT NOT NULL, state TEXT NOT NULL,
    commune TEXT NOT NULL, building TEXT NOT NULL, device TEXT NOT NULL,
    title TEXT NOT NULL, message TEXT NOT NULL,
    opened_us BIGINT NOT NULL, created_us BIGINT NOT NULL,
    last_seen_us BIGINT NOT NULL, count INTEGER NOT NULL,
    clearing_since_us BIGINT,
    acked_us BIGINT, acked_by TEXT NOT NULL DEFAULT '',
    resolved_us BIGINT, resolved_by TEXT NOT NULL DEFAULT '', resolution TEXT NOT NULL DEFAULT '',
    rearmed INTEGER NOT NULL DEFAULT 1,
    evidence TEXT NOT NULL, vals TEXT NOT NULL
);
CREATE UNIQUE INDEX alerts_one_unresolved ON alerts (rule, subject) WHERE state != 'resolved';
CREATE INDEX alerts_by_state ON alerts (state, id);
CREATE TABLE alert_events (
    id BIGSERIAL PRIMARY KEY, alert_id BIGINT NOT NULL, time_us BIGINT NOT NULL,
    kind TEXT NOT NULL, actor TEXT NOT NULL, severity TEXT NOT NULL, detail TEXT NOT NULL,
    at_us BIGINT
);
CREATE INDEX alert_events_by_alert ON alert_events (alert_id, id);
CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY, event_id BIGINT NOT NULL, alert_id BIGINT NOT NULL,
    notifier TEXT NOT NULL, route TEXT NOT NULL, created_us BIGINT NOT NULL,
    not_before_us BIGINT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    held TEXT NOT NULL DEFAULT '', last_error TEXT NOT NULL DEFAULT '', sent_us BIGINT,
    UNIQUE (event_id, notifier)
);
CREATE INDEX notifications_due ON notifications (notifier, state, not_before_us);
CREATE TABLE alert_state (
    rule TEXT NOT NULL, subject TEXT NOT NULL, state TEXT NOT NULL, updated_us BIGINT NOT NULL,
    PRIMARY KEY (rule, subject)
);
