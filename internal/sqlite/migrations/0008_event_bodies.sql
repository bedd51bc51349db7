-- 0008: event bodies apart from the time order.
--
-- Until now the events table held every column, clustered on (time_ms,
-- seq). A batch out of time order (a backfill, an import, devices catching
-- up after an outage) then wrote into as many leaf pages of that table as
-- it had events, and every such page went to the WAL at each commit:
-- random-order ingest ran at a fifth of the time order's rate and fell as
-- the store grew (docs/performance.md, "Event bodies apart").
--
-- Now the events table keeps only what paging, counting and filtering read
-- (time_ms, seq, device, kind): a narrow table, about five times more rows
-- to a page, so an out-of-order batch dirties about five times fewer
-- pages. The bodies (source id and model) go to event_bodies, keyed by seq,
-- where every batch, in whatever time order, is an append. event_bodies
-- repeats time_ms, device and kind so that reads in arrival order (events
-- stored after a seq, the counts' fold) need no other table; it replaces
-- the index on seq.
CREATE TABLE event_bodies (
    seq       INTEGER PRIMARY KEY,
    time_ms   INTEGER NOT NULL,
    device    INTEGER,
    kind      INTEGER NOT NULL,
    source_id TEXT,
    model     BLOB    NOT NULL
) STRICT;

INSERT INTO event_bodies (seq, time_ms, device, kind, source_id, model)
    SELECT seq, time_ms, device, kind, source_id, model FROM events ORDER BY seq;

CREATE TABLE events_narrow (
    time_ms INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    device  INTEGER,
    kind    INTEGER NOT NULL,
    PRIMARY KEY (time_ms, seq)
) STRICT, WITHOUT ROWID;

INSERT INTO events_narrow (time_ms, seq, device, kind)
    SELECT time_ms, seq, device, kind FROM events ORDER BY time_ms, seq;

DROP TABLE events;
ALTER TABLE events_narrow RENAME TO events;
