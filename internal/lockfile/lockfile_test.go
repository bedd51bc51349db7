package lockfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/lockfile"
)

// TestAcquire takes a lock twice on a real file. flock belongs to the open
// file, so a second open in the same process is refused as another
// process's would be (cmd/doorlog's TestOneServerPerStore runs two
// processes).
func TestAcquire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doorlog.db.lock")
	started := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	first, err := lockfile.Acquire(path, lockfile.Holder{PID: 4242, Started: started})
	if err != nil {
		t.Fatalf("first Acquire: %v", err)
	}
	_, err = lockfile.Acquire(path, lockfile.Holder{PID: 7, Started: started.Add(time.Hour)})
	var held *lockfile.HeldError
	if !errors.As(err, &held) || held.Holder == nil || held.Holder.PID != 4242 || !held.Holder.Started.Equal(started) || held.Path != path {
		t.Fatalf("second Acquire: got %v (%+v), want a HeldError naming process 4242 started %v", err, held, started)
	}
	if want := path + " is locked by process 4242, started 2026-05-01T10:00:00Z"; err.Error() != want {
		t.Errorf("got message %q, want %q", err, want)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := lockfile.Acquire(path, lockfile.Holder{PID: 7, Started: started.Add(time.Hour)})
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	defer again.Release()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"pid":7,"started":"2026-05-01T11:00:00Z"}` + "\n"; string(data) != want {
		t.Errorf("lock file holds %q, want %q", data, want)
	}
}

// TestAcquireUnwritten is a lock held by a process that has not described
// itself yet: the refusal says so instead of naming a stale PID.
func TestAcquireUnwritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doorlog.db.lock")
	first, err := lockfile.Acquire(path, lockfile.Holder{PID: 1, Started: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Release()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	_, err = lockfile.Acquire(path, lockfile.Holder{PID: 2, Started: time.Now()})
	var held *lockfile.HeldError
	if !errors.As(err, &held) || held.Holder != nil {
		t.Fatalf("got %v, want a HeldError with no holder", err)
	}
}

// TestSymlinkRefused refuses a lock file that is a symbolic link, and
// leaves the file it points to as it was.
func TestSymlinkRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	if err := os.WriteFile(target, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "doorlog.db.lock")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	l, err := lockfile.Acquire(path, lockfile.Holder{PID: 1, Started: time.Now()})
	if err == nil {
		l.Release()
		t.Fatal("Acquire through a symbolic link: got the lock, want an error")
	}
	if !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("got %v, want it to say the lock file is a symbolic link", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep me" {
		t.Errorf("the link's target now holds %q, want it untouched", b)
	}
}
