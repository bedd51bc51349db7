package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// memo is a concurrency-safe map used as a cache of immutable rows.
type memo[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
}

func (c *memo[K, V]) get(k K) (V, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *memo[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[K]V)
	}
	c.m[k] = v
}

// deviceRef is what events need of a device: its codes and ids.
type deviceRef struct {
	code     int64
	id       string
	siteCode int64
	siteID   string
}

// The category and priority codes stored in events. They are part of the
// file format: never renumber them.
var (
	categoryCodes = map[doorlog.Category]int64{
		doorlog.CategoryAccess:    1,
		doorlog.CategoryEmergency: 2,
		doorlog.CategorySystem:    3,
		doorlog.CategoryInfo:      4,
	}
	categoryByCode = [...]doorlog.Category{1: doorlog.CategoryAccess, 2: doorlog.CategoryEmergency, 3: doorlog.CategorySystem, 4: doorlog.CategoryInfo}
	priorityCodes  = map[doorlog.Priority]int64{
		doorlog.PriorityCritical: 1,
		doorlog.PriorityHigh:     2,
		doorlog.PriorityMedium:   3,
		doorlog.PriorityLow:      4,
	}
	priorityByCode = [...]doorlog.Priority{1: doorlog.PriorityCritical, 2: doorlog.PriorityHigh, 3: doorlog.PriorityMedium, 4: doorlog.PriorityLow}
)

func (db *DB) rememberSite(code int64, id string) {
	db.siteByID.put(id, code)
	db.siteByCode.put(code, id)
}

func (db *DB) rememberDevice(d deviceRef) {
	db.deviceByID.put(d.id, d)
	db.deviceByCode.put(d.code, d)
}

func (db *DB) rememberKey(code int64, key string) {
	db.keyByName.put(key, code)
	db.keyByCode.put(code, key)
}

// siteCode returns the code of site id; ok is false when there is no such
// site.
func (db *DB) siteCode(ctx context.Context, id string) (code int64, ok bool, err error) {
	if c, ok := db.siteByID.get(id); ok {
		return c, true, nil
	}
	err = db.r.QueryRowContext(ctx, `SELECT code FROM sites WHERE id = ?`, id).Scan(&code)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	db.rememberSite(code, id)
	return code, true, nil
}

const selectDeviceRef = `SELECT d.code, d.id, d.site, s.id FROM devices d JOIN sites s ON s.code = d.site`

// device returns the device with id (in canonical form); ok is false when
// there is no such device.
func (db *DB) device(ctx context.Context, id string) (d deviceRef, ok bool, err error) {
	if d, ok := db.deviceByID.get(id); ok {
		return d, true, nil
	}
	err = db.r.QueryRowContext(ctx, selectDeviceRef+` WHERE d.id = ?`, id).Scan(&d.code, &d.id, &d.siteCode, &d.siteID)
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, false, err
	}
	db.rememberDevice(d)
	return d, true, nil
}

// deviceID returns the id of the device with code, which must exist.
func (db *DB) deviceID(ctx context.Context, code int64) (string, error) {
	d, err := db.deviceOfCode(ctx, code)
	return d.id, err
}

// deviceOfCode returns the device of a code, from the cache or else the
// table (a device another process added).
func (db *DB) deviceOfCode(ctx context.Context, code int64) (deviceRef, error) {
	if d, ok := db.deviceByCode.get(code); ok {
		return d, nil
	}
	var d deviceRef
	err := db.r.QueryRowContext(ctx, selectDeviceRef+` WHERE d.code = ?`, code).Scan(&d.code, &d.id, &d.siteCode, &d.siteID)
	if err != nil {
		return d, fmt.Errorf("device code %d: %w", code, err)
	}
	db.rememberDevice(d)
	return d, nil
}

// all returns a copy of the cached entries.
func (c *memo[K, V]) all() map[K]V {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[K]V, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}
