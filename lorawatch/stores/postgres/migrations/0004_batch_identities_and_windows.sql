-- The consumption deltas behind the alert rules' hourly series, in chunks (one per subject
-- and batch): what a batch added, not the whole series; a worker taking a device over
-- restores its series from them.
CREATE TABLE alert_series (
    rule TEXT NOT NULL, subject TEXT NOT NULL, seq BIGINT NOT NULL, latest DOUBLE PRECISION NOT NULL,
    deltas TEXT NOT NULL,
    PRIMARY KEY (rule, subject, seq)
);

-- ChirpStack's non-uplink events (status, join, txack...) get their identity, unique, so a
-- re-published copy with a new id and a later time is one row.
ALTER TABLE device_events ADD COLUMN uid BIGINT;
CREATE UNIQUE INDEX device_events_uid ON device_events (uid) WHERE uid IS NOT NULL;

-- Each meter's window of recent readings, in chunks (one per meter and batch): with the
-- meter's state, a worker taking the meter over rebuilds it exactly (a late reading merges,
-- a replay is a duplicate).
CREATE TABLE meter_window (
    key TEXT NOT NULL, seq BIGINT NOT NULL, latest_us BIGINT NOT NULL, readings TEXT NOT NULL,
    PRIMARY KEY (key, seq)
);
