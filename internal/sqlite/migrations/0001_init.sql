-- 0001: the initial schema.
--
-- Sites, devices and event keys carry a small INTEGER code (their rowid) that
-- events store instead of the text id, which keeps an event row near the size
-- of its model. Category and priority are small integer codes too; the Go
-- code maps them (category: 1 access, 2 emergency, 3 system, 4 info;
-- priority: 1 critical, 2 high, 3 medium, 4 low, so that "at least high" is a
-- range). Times are Unix milliseconds in UTC.

CREATE TABLE sites (
    code       INTEGER PRIMARY KEY,
    id         TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL,
    created_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE devices (
    code       INTEGER PRIMARY KEY,
    id         TEXT    NOT NULL UNIQUE,
    site       INTEGER NOT NULL REFERENCES sites (code),
    name       TEXT    NOT NULL,
    model      TEXT    NOT NULL,
    created_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX devices_site ON devices (site);

CREATE TABLE accounts (
    code          INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'manager')),
    created_ms    INTEGER NOT NULL
) STRICT;

CREATE TABLE account_sites (
    account INTEGER NOT NULL REFERENCES accounts (code),
    site    INTEGER NOT NULL REFERENCES sites (code),
    PRIMARY KEY (account, site)
) STRICT, WITHOUT ROWID;

CREATE TABLE tokens (
    code        INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    secret_hash BLOB    NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ('admin', 'manager', 'device')),
    device      INTEGER REFERENCES devices (code),
    username    TEXT,
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER -- NULL: never expires
) STRICT;

CREATE TABLE token_sites (
    token INTEGER NOT NULL REFERENCES tokens (code),
    site  INTEGER NOT NULL REFERENCES sites (code),
    PRIMARY KEY (token, site)
) STRICT, WITHOUT ROWID;

CREATE TABLE event_keys (
    code INTEGER PRIMARY KEY,
    key  TEXT    NOT NULL UNIQUE
) STRICT;

-- seq is the arrival sequence and the event id (doorlog.FormatEventID).
-- AUTOINCREMENT so that a sequence number is never handed out twice, even
-- after the newest events are deleted by a future retention job.
-- Server events (the server's own logins) have NULL device and site.
CREATE TABLE events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms   INTEGER NOT NULL,
    device    INTEGER REFERENCES devices (code),
    site      INTEGER REFERENCES sites (code),
    key       INTEGER NOT NULL REFERENCES event_keys (code),
    category  INTEGER NOT NULL CHECK (category BETWEEN 1 AND 4),
    priority  INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 4),
    source_id TEXT,
    model     BLOB    NOT NULL,
    CHECK ((device IS NULL) = (site IS NULL))
) STRICT;

-- Each index ends in the rowid implicitly, so (time_ms) orders by
-- (time_ms, seq), the listing order, without a sort.
CREATE INDEX events_time ON events (time_ms);
CREATE INDEX events_device_time ON events (device, time_ms);
CREATE INDEX events_site_time ON events (site, time_ms);

-- (device, source_id) is unique when source_id is set: that makes ingest
-- idempotent. Device NULL (server events) needs its own index, because NULLs
-- are distinct in a UNIQUE index.
CREATE UNIQUE INDEX events_device_source ON events (device, source_id)
    WHERE source_id IS NOT NULL;
CREATE UNIQUE INDEX events_server_source ON events (source_id)
    WHERE device IS NULL AND source_id IS NOT NULL;
