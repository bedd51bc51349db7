package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return fmt.Sprint([]string(*l)) }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

const tokenUsage = `usage:
  doorlog token create --role admin|manager|device [--site ID]... [--device UUID] [--expires 90d|720h|never] [--data DIR | --db URL]
  doorlog token list   [--expired] [--data DIR | --db URL]
  doorlog token revoke ID [--data DIR | --db URL]`

// runToken manages tokens straight in the store: create is how the first
// admin secret comes to exist, list and revoke work without one. Each
// works while the server runs: SQLite in WAL mode lets a second process
// write, and the server reads tokens from the store on every request, so a
// revoke takes effect on its next request.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, tokenUsage)
		return errors.New("want \"token create\", \"token list\" or \"token revoke\"")
	}
	switch args[0] {
	case "create":
		return runTokenCreate(ctx, args[1:], stdout, stderr)
	case "list":
		return runTokenList(ctx, args[1:], stdout, stderr)
	case "revoke":
		return runTokenRevoke(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprintln(stderr, tokenUsage)
		return fmt.Errorf("unknown token command %q: want create, list or revoke", args[0])
	}
}

// storeFlags adds --data and --db to fs.
func storeFlags(fs *flag.FlagSet) (data, dbURL *string) {
	data = fs.String("data", envOr("DOORLOG_DATA", "./doorlog-data"), "data directory of the embedded store (env DOORLOG_DATA)")
	dbURL = fs.String("db", envOr("DOORLOG_DB", ""), "store URL, instead of --data (env DOORLOG_DB)")
	return data, dbURL
}

func runTokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "admin, manager or device")
	var sites stringList
	fs.Var(&sites, "site", "a site the token may see (repeatable; none for an admin of every site)")
	device := fs.String("device", "", "the device a device token ingests for")
	expires := fs.String("expires", "", "lifetime of the token: a duration such as 720h, a number of days such as 30d, or never (0 means never too); default 90d for admin and manager tokens, 365d for device tokens")
	data, dbURL := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token create takes no arguments, got %q", fs.Args())
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
	lifetime := auth.DefaultExpiry(tmpl.Role)
	switch *expires {
	case "":
	case "0":
		// Before expiries had a default, --expires 0 meant never; it
		// still does.
		lifetime = 0
	default:
		var err error
		if lifetime, err = auth.ParseExpiry(*expires); err != nil {
			return fmt.Errorf("--expires: %s", doorlog.ErrorMessage(err))
		}
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
	if lifetime > 0 {
		tmpl.ExpiresAt = time.Now().Add(lifetime).UTC()
	}
	secret, tok, err := auth.New(store, time.Now).IssueToken(ctx, tmpl)
	if err != nil {
		return err
	}
	expiry := "It never expires."
	if !tok.ExpiresAt.IsZero() {
		expiry = "It expires at " + tok.ExpiresAt.UTC().Format(time.RFC3339) + "."
	}
	fmt.Fprintf(stderr, "Created token %s with role %s. %s The secret is shown only now; keep it secret.\n", tok.ID, tmpl.Role, expiry)
	fmt.Fprintln(stdout, secret)
	return nil
}

func runTokenList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	expired := fs.Bool("expired", false, "list the tokens that have expired too (the server purges them 7 days after their expiry)")
	data, dbURL := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token list takes no arguments, got %q", fs.Args())
	}
	store, err := app.OpenStore(ctx, *data, *dbURL)
	if err != nil {
		return err
	}
	defer store.Close()
	now := time.Now()
	f := doorlog.TokenFilter{Scope: doorlog.Scope{All: true}}
	if !*expired {
		f.ActiveAt = now
	}
	tokens, err := store.ListTokens(ctx, f)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tSCOPE\tUSER\tCREATED\tEXPIRES")
	for _, t := range tokens {
		scope := "every site"
		switch {
		case t.Role == doorlog.RoleDevice:
			scope = "device " + t.DeviceID
		case len(t.SiteIDs) > 0:
			scope = "sites " + strings.Join(t.SiteIDs, ",")
		}
		user := t.Username
		if user == "" {
			user = "-"
		}
		exp := "never"
		if !t.ExpiresAt.IsZero() {
			exp = t.ExpiresAt.UTC().Format(time.RFC3339)
			if t.Expired(now) {
				exp += " (expired)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Role, scope, user, t.CreatedAt.UTC().Format(time.RFC3339), exp)
	}
	return tw.Flush()
}

func runTokenRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data, dbURL := storeFlags(fs)
	// The id may come before or after the flags.
	var ids []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		ids = append(ids, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(ids) != 1 {
		fmt.Fprintln(stderr, "usage: doorlog token revoke ID [--data DIR | --db URL]")
		return fmt.Errorf("token revoke takes one token id, got %d", len(ids))
	}
	id := ids[0]
	// A whole secret, dl_<id>_<secret>, names its token too.
	if rest, ok := strings.CutPrefix(id, "dl_"); ok {
		id, _, _ = strings.Cut(rest, "_")
	}
	store, err := app.OpenStore(ctx, *data, *dbURL)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.DeleteToken(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Revoked token %s.\n", id)
	return nil
}
