-- 0006: the pull collector. A device may have a BAS-IP panel to read its
-- log from (doorlog.Device.Pull: the password sealed, never in clear), and
-- the collector keeps where it stands with each device.
ALTER TABLE devices ADD COLUMN pull_url TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN pull_username TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN pull_password BLOB;

CREATE TABLE collector_state (
    device         TEXT    PRIMARY KEY,
    position_ms    INTEGER NOT NULL,
    collected      INTEGER NOT NULL,
    gaps           INTEGER NOT NULL,
    success_ms     INTEGER,
    error          TEXT    NOT NULL,
    error_ms       INTEGER
) STRICT;
