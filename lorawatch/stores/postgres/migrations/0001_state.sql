-- The state several workers share: identities, dead letters, meter state, commands,
-- and who owns which partition. Times are microseconds since the epoch (as in SQLite).
CREATE TABLE uplinks (
    uid BIGINT PRIMARY KEY,
    dev_eui TEXT NOT NULL, time_us BIGINT NOT NULL, f_cnt INTEGER NOT NULL,
    f_port INTEGER NOT NULL, payload BYTEA NOT NULL, dedup_id TEXT NOT NULL,
    received_us BIGINT NOT NULL, format TEXT NOT NULL, rssi DOUBLE PRECISION,
    snr DOUBLE PRECISION, gateways INTEGER NOT NULL, worker TEXT NOT NULL DEFAULT '',
    UNIQUE (dev_eui, time_us, f_cnt)
);
CREATE TABLE devices (
    dev_eui TEXT PRIMARY KEY, partition TEXT NOT NULL DEFAULT '',
    last_f_cnt INTEGER NOT NULL, last_time_us BIGINT NOT NULL
);
CREATE INDEX devices_partition ON devices (partition);
CREATE TABLE dead_letters (
    key BIGINT PRIMARY KEY, id BIGSERIAL UNIQUE NOT NULL,
    received_us BIGINT NOT NULL, topic TEXT NOT NULL, payload BYTEA NOT NULL,
    reason TEXT NOT NULL, detail TEXT NOT NULL, dev_eui TEXT NOT NULL, replayed_us BIGINT,
    worker TEXT NOT NULL DEFAULT ''
);
CREATE INDEX dead_letters_open ON dead_letters (replayed_us, id);
CREATE TABLE device_events (
    dev_eui TEXT NOT NULL, time_us BIGINT NOT NULL, kind TEXT NOT NULL, code TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (dev_eui, time_us, kind, code)
);
CREATE TABLE meter_state (
    key TEXT PRIMARY KEY, dev_eui TEXT NOT NULL, partition TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL, updated_us BIGINT NOT NULL
);
CREATE INDEX meter_state_partition ON meter_state (partition);
CREATE INDEX meter_state_device ON meter_state (dev_eui);
CREATE TABLE meter_commands (
    id BIGSERIAL PRIMARY KEY, dev_eui TEXT NOT NULL, name TEXT NOT NULL, channel TEXT NOT NULL,
    kind TEXT NOT NULL, at_us BIGINT NOT NULL, amount DOUBLE PRECISION NOT NULL,
    note TEXT NOT NULL, issued_us BIGINT NOT NULL, applied_us BIGINT, applied_by TEXT
);
CREATE INDEX meter_commands_pending ON meter_commands (applied_us, at_us, id);
CREATE TABLE workers (
    worker TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
    started_us BIGINT NOT NULL, heartbeat_us BIGINT NOT NULL, stopped_us BIGINT,
    batches BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE partitions (
    partition TEXT PRIMARY KEY, owner TEXT NOT NULL, epoch BIGINT NOT NULL,
    since_us BIGINT NOT NULL, last_batch_us BIGINT NOT NULL, batches BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE partition_handovers (
    partition TEXT NOT NULL, epoch BIGINT NOT NULL, previous TEXT NOT NULL, owner TEXT NOT NULL,
    at_us BIGINT NOT NULL, previous_batch_us BIGINT NOT NULL, first_batch_us BIGINT,
    PRIMARY KEY (partition, epoch)
);
