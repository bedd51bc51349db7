-- 0003: events clustered by time, secondary structures built per block.
--
-- Measured on a 2-core machine (docs/performance.md): every per-row index
-- on the events table costs a large share of ingest speed; the unique
-- (device, source_id) index alone cut it by two thirds and (device, time) by
-- half. So events are now a WITHOUT ROWID table clustered on the listing
-- order (time_ms, seq), where inserts of a feed in time order are appends,
-- with one more index, on seq, which is an append too. What the other
-- indexes did is done by structures written once per batch:
--   * device_runs: per device and UTC day, the (time, seq, kind) of the
--     device's events, one row per append transaction (a per-batch device
--     index);
--   * source_ranges and event_sources: the (device, source id) pairs for
--     idempotent ingest (counter ranges, see internal/dedup);
--   * exact counts per hour and day, kept in memory by the writer and
--     snapshotted in store_state (internal/rollup).

-- A kind is a (key, category, priority) combination; events store its code.
CREATE TABLE event_kinds (
    code     INTEGER PRIMARY KEY,
    key      INTEGER NOT NULL REFERENCES event_keys (code),
    category INTEGER NOT NULL CHECK (category BETWEEN 1 AND 4),
    priority INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 4),
    UNIQUE (key, category, priority)
) STRICT;

INSERT INTO event_kinds (key, category, priority)
    SELECT DISTINCT key, category, priority FROM events ORDER BY 1, 2, 3;

-- seq is assigned by the writer (the newest is in store_state, so that a
-- number is never handed out twice). device is NULL for the server's own
-- events; the site is the device's. model is the model's stored form
-- (internal/codec: compressed, or JSON text starting with '{').
CREATE TABLE events_new (
    time_ms   INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    device    INTEGER,
    kind      INTEGER NOT NULL,
    source_id TEXT,
    model     BLOB    NOT NULL,
    PRIMARY KEY (time_ms, seq)
) STRICT, WITHOUT ROWID;

INSERT INTO events_new (time_ms, seq, device, kind, source_id, model)
    SELECT e.time_ms, e.seq, e.device, k.code, e.source_id, e.model
    FROM events e
    JOIN event_kinds k ON k.key = e.key AND k.category = e.category AND k.priority = e.priority;

CREATE TABLE store_state (
    name  TEXT PRIMARY KEY,
    value ANY
) STRICT, WITHOUT ROWID;

-- seq: the newest sequence number ever assigned. derived: the newest seq
-- whose device_runs and source rows are written (0 here, so the store
-- builds them for the copied events when it opens).
INSERT INTO store_state (name, value)
    VALUES ('seq', coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)),
           ('derived', 0);

DROP TABLE events;
ALTER TABLE events_new RENAME TO events;

CREATE UNIQUE INDEX events_seq ON events (seq);

CREATE TABLE device_runs (
    device    INTEGER NOT NULL,
    day       INTEGER NOT NULL, -- floor(time_ms / 86400000)
    first_seq INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    data      BLOB    NOT NULL,
    PRIMARY KEY (device, day, first_seq)
) STRICT, WITHOUT ROWID;

-- Source ids in counter form ("gate-7-1234"): the stored counters of each
-- (device, prefix) as intervals. device is 0 for server events.
CREATE TABLE source_ranges (
    device INTEGER NOT NULL,
    prefix TEXT    NOT NULL,
    lo     INTEGER NOT NULL,
    hi     INTEGER NOT NULL,
    PRIMARY KEY (device, prefix, lo)
) STRICT, WITHOUT ROWID;

-- Every other source id.
CREATE TABLE event_sources (
    device    INTEGER NOT NULL,
    source_id TEXT    NOT NULL,
    PRIMARY KEY (device, source_id)
) STRICT, WITHOUT ROWID;
