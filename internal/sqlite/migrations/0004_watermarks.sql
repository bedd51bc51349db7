-- 0004: where BAS-IP readers cleared their logs (POST
-- /api/v1/system/data/clear). Nothing is deleted for a clear: the reader's
-- BAS-IP listings show the events with a seq above after_seq.
--
-- A watermark belongs to an account by name (username, token_id ''), or to
-- a token made without an account (username '', token_id), on one device
-- (device, by id: '' for the root listing). Ids rather than codes, so a
-- watermark outlives its token (pollers log in anew every cycle) and says
-- whose it is by itself.
CREATE TABLE watermarks (
    code       INTEGER PRIMARY KEY,
    username   TEXT    NOT NULL,
    token_id   TEXT    NOT NULL,
    device     TEXT    NOT NULL,
    after_seq  INTEGER NOT NULL,
    cleared_ms INTEGER NOT NULL,
    UNIQUE (username, token_id, device)
) STRICT;
