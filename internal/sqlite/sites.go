package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// CreateSite stores a new site. A zero CreatedAt is set to now; either way
// s.CreatedAt is left as stored (to the millisecond).
func (db *DB) CreateSite(ctx context.Context, s *doorlog.Site) error {
	if err := s.Validate(); err != nil {
		return err
	}
	created := createdAt(s.CreatedAt)
	res, err := db.w.ExecContext(ctx, `INSERT INTO sites (id, name, created_ms) VALUES (?, ?, ?)`,
		s.ID, s.Name, millis(created))
	if isUnique(err) {
		return doorlog.Errorf(doorlog.ECONFLICT, "site %q already exists", s.ID)
	}
	if err != nil {
		return wrap("create site", err)
	}
	if code, err := res.LastInsertId(); err == nil {
		db.rememberSite(code, s.ID)
	}
	s.CreatedAt = created
	return nil
}

// FindSite returns the site with id, or ENOTFOUND.
func (db *DB) FindSite(ctx context.Context, id string) (*doorlog.Site, error) {
	s := &doorlog.Site{ID: id}
	var created int64
	err := db.r.QueryRowContext(ctx, `SELECT name, created_ms FROM sites WHERE id = ?`, id).Scan(&s.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, doorlog.Errorf(doorlog.ENOTFOUND, "site %q not found", id)
	}
	if err != nil {
		return nil, wrap("find site", err)
	}
	s.CreatedAt = fromMillis(created)
	return s, nil
}

// ListSites returns the sites visible in scope, ordered by id.
func (db *DB) ListSites(ctx context.Context, scope doorlog.Scope) ([]*doorlog.Site, error) {
	query := `SELECT id, name, created_ms FROM sites`
	var args []any
	if !scope.All {
		if len(scope.SiteIDs) == 0 {
			return []*doorlog.Site{}, nil
		}
		query += ` WHERE id IN (` + placeholders(len(scope.SiteIDs)) + `)`
		for _, id := range scope.SiteIDs {
			args = append(args, id)
		}
	}
	rows, err := db.r.QueryContext(ctx, query+` ORDER BY id`, args...)
	if err != nil {
		return nil, wrap("list sites", err)
	}
	defer rows.Close()
	sites := []*doorlog.Site{}
	for rows.Next() {
		var s doorlog.Site
		var created int64
		if err := rows.Scan(&s.ID, &s.Name, &created); err != nil {
			return nil, wrap("list sites", err)
		}
		s.CreatedAt = fromMillis(created)
		sites = append(sites, &s)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list sites", err)
	}
	return sites, nil
}

// CreateDevice stores a new device, with its id in canonical form (d.ID is
// rewritten to it). It fails with EINVALID when the site does not exist.
func (db *DB) CreateDevice(ctx context.Context, d *doorlog.Device) error {
	if err := d.Validate(); err != nil {
		return err
	}
	siteCode, ok, err := db.siteCode(ctx, d.SiteID)
	if err != nil {
		return wrap("create device", err)
	}
	if !ok {
		return doorlog.Errorf(doorlog.EINVALID, "site %q does not exist", d.SiteID)
	}
	created := createdAt(d.CreatedAt)
	url, user, pass := pullColumns(d.Pull)
	res, err := db.w.ExecContext(ctx, `INSERT INTO devices (id, site, name, model, listen, pull_url, pull_username, pull_password, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, siteCode, d.Name, d.Model, d.Listen, url, user, pass, millis(created))
	if isUnique(err) {
		if err := db.listenTaken(ctx, d); err != nil {
			return err
		}
		return doorlog.Errorf(doorlog.ECONFLICT, "device %q already exists", d.ID)
	}
	if err != nil {
		return wrap("create device", err)
	}
	if code, err := res.LastInsertId(); err == nil {
		db.rememberDevice(deviceRef{code: code, id: d.ID, siteCode: siteCode, siteID: d.SiteID})
	}
	d.CreatedAt = created
	return nil
}

// listenTaken returns the ECONFLICT of d's listen address when another
// device has it, else nil.
func (db *DB) listenTaken(ctx context.Context, d *doorlog.Device) error {
	if d.Listen == "" {
		return nil
	}
	var other string
	err := db.w.QueryRowContext(ctx, `SELECT id FROM devices WHERE listen = ? AND id != ?`, d.Listen, d.ID).Scan(&other)
	if err == nil {
		return doorlog.Errorf(doorlog.ECONFLICT, "listen address %s is device %q's", d.Listen, other)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return wrap("device listen", err)
}

// UpdateDevice replaces the device's name, model and listen address.
func (db *DB) UpdateDevice(ctx context.Context, d *doorlog.Device) error {
	if err := d.Validate(); err != nil {
		return err
	}
	old, err := db.FindDevice(ctx, d.ID)
	if err != nil {
		return err
	}
	if d.SiteID != old.SiteID {
		return doorlog.Errorf(doorlog.EINVALID, "a device's site cannot change (device %q is in site %q)", d.ID, old.SiteID)
	}
	url, user, pass := pullColumns(d.Pull)
	_, err = db.w.ExecContext(ctx, `UPDATE devices SET name = ?, model = ?, listen = ?, pull_url = ?, pull_username = ?, pull_password = ? WHERE id = ?`,
		d.Name, d.Model, d.Listen, url, user, pass, d.ID)
	if isUnique(err) {
		if err := db.listenTaken(ctx, d); err != nil {
			return err
		}
	}
	if err != nil {
		return wrap("update device", err)
	}
	d.CreatedAt = old.CreatedAt
	return nil
}

// pullColumns are a pull source's columns: empty for none.
func pullColumns(p *doorlog.PullSource) (url, user string, pass []byte) {
	if p == nil {
		return "", "", nil
	}
	return p.URL, p.Username, p.SealedPassword
}

const selectDevice = `SELECT d.id, s.id, d.name, d.model, d.listen, d.pull_url, d.pull_username, d.pull_password, d.created_ms FROM devices d JOIN sites s ON s.code = d.site`

func scanDevice(row interface{ Scan(...any) error }) (*doorlog.Device, error) {
	var d doorlog.Device
	var created int64
	var pull doorlog.PullSource
	if err := row.Scan(&d.ID, &d.SiteID, &d.Name, &d.Model, &d.Listen, &pull.URL, &pull.Username, &pull.SealedPassword, &created); err != nil {
		return nil, err
	}
	if pull.URL != "" {
		d.Pull = &pull
	}
	d.CreatedAt = fromMillis(created)
	return &d, nil
}

// FindDevice returns the device with id, in any spelling of the UUID, or
// ENOTFOUND.
func (db *DB) FindDevice(ctx context.Context, id string) (*doorlog.Device, error) {
	canon, err := doorlog.CanonicalDeviceID(id)
	if err != nil {
		return nil, doorlog.Errorf(doorlog.ENOTFOUND, "device %q not found", id)
	}
	d, err := scanDevice(db.r.QueryRowContext(ctx, selectDevice+` WHERE d.id = ?`, canon))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, doorlog.Errorf(doorlog.ENOTFOUND, "device %q not found", id)
	}
	if err != nil {
		return nil, wrap("find device", err)
	}
	return d, nil
}

// ListDevices returns the devices of the sites visible in f.Scope and named
// by f.SiteIDs (all visible when empty), ordered by id.
func (db *DB) ListDevices(ctx context.Context, f doorlog.DeviceFilter) ([]*doorlog.Device, error) {
	query := selectDevice
	var args []any
	ids, all := visibleSites(f.Scope, f.SiteIDs)
	if !all {
		if len(ids) == 0 {
			return []*doorlog.Device{}, nil
		}
		query += ` WHERE s.id IN (` + placeholders(len(ids)) + `)`
		for _, id := range ids {
			args = append(args, id)
		}
	}
	rows, err := db.r.QueryContext(ctx, query+` ORDER BY d.id`, args...)
	if err != nil {
		return nil, wrap("list devices", err)
	}
	defer rows.Close()
	devices := []*doorlog.Device{}
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, wrap("list devices", err)
		}
		devices = append(devices, d)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list devices", err)
	}
	return devices, nil
}
