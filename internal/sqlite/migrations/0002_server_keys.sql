-- Secrets the server makes for itself (cursor signing keys), created on
-- first use and kept so that cursors survive a restart.
CREATE TABLE server_keys (
    name TEXT PRIMARY KEY,
    key  BLOB NOT NULL CHECK (length(key) = 32)
) STRICT;
