package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return fmt.Sprint([]string(*l)) }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// runToken creates a token straight in the store, which is how the first
// admin secret comes to exist. It works while the server runs: SQLite in
// WAL mode lets a second process write.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: doorlog token create --role admin|manager|device [--site ID]... [--device UUID] [--expires 720h] [--data DIR | --db URL]")
		return errors.New("want \"token create\"")
	}
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "admin, manager or device")
	var sites stringList
	fs.Var(&sites, "site", "a site the token may see (repeatable; none for an admin of every site)")
	device := fs.String("device", "", "the device a device token ingests for")
	expires := fs.Duration("expires", 0, "lifetime of the token (0: never expires)")
	data := fs.String("data", envOr("DOORLOG_DATA", "./doorlog-data"), "data directory of the embedded store (env DOORLOG_DATA)")
	dbURL := fs.String("db", envOr("DOORLOG_DB", ""), "store URL, instead of --data (env DOORLOG_DB)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	tmpl := doorlog.Token{Role: doorlog.Role(*role), SiteIDs: []string(sites)}
	if tmpl.SiteIDs == nil {
		tmpl.SiteIDs = []string{}
	}
	switch tmpl.Role {
	case doorlog.RoleAdmin:
	case doorlog.RoleManager:
		if len(sites) == 0 {
			return errors.New("a manager token needs at least one --site")
		}
	case doorlog.RoleDevice:
		if *device == "" || len(sites) > 0 {
			return errors.New("a device token needs --device UUID and no --site")
		}
	default:
		return fmt.Errorf("--role must be admin, manager or device, not %q", *role)
	}
	store, err := app.OpenStore(ctx, *data, *dbURL)
	if err != nil {
		return err
	}
	defer store.Close()
	for _, id := range sites {
		if _, err := store.FindSite(ctx, id); err != nil {
			return fmt.Errorf("--site %s: %w", id, err)
		}
	}
	if tmpl.Role == doorlog.RoleDevice {
		dev, err := store.FindDevice(ctx, *device)
		if err != nil {
			return fmt.Errorf("--device %s: %w", *device, err)
		}
		tmpl.DeviceID = dev.ID
	}
	if *expires > 0 {
		tmpl.ExpiresAt = time.Now().Add(*expires).UTC()
	}
	secret, _, err := auth.New(store, time.Now).IssueToken(ctx, tmpl)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Created a new token with role %s. It is shown only now; keep it secret.\n", tmpl.Role)
	fmt.Fprintln(stdout, secret)
	return nil
}
