-- 0005: a device's own panel address (doorlog.Device.Listen): IP:port on
-- which the server serves that device's panel API alone. '' for none;
-- two devices never share one.
ALTER TABLE devices ADD COLUMN listen TEXT NOT NULL DEFAULT '';

CREATE UNIQUE INDEX devices_listen ON devices (listen) WHERE listen != '';
