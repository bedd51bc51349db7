-- 0007: acknowledgements of alarm events (doorlog.Ack): at most one an
-- event, the first, which the primary key keeps. Ids rather than codes,
-- like watermarks: an ack is written once and read a page at a time.
CREATE TABLE acks (
    event_id  TEXT    PRIMARY KEY,
    site_id   TEXT    NOT NULL,
    device_id TEXT    NOT NULL,
    username  TEXT    NOT NULL,
    token_id  TEXT    NOT NULL,
    at_ms     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
