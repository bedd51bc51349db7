// Package lockfile makes one process the server of a store. The server
// holds an exclusive lock on a file beside the store for as long as it
// runs, an advisory lock of the operating system (flock on Unix,
// LockFileEx on Windows) that the kernel drops when the process ends in
// any way, SIGKILL and power loss included, so that a lock is never left
// stale. The holder writes its PID and start time into the file, so that a
// process refused the lock can say which process holds it.
//
// Only the server takes the lock: the CLI commands that write to the store
// beside a running server (token create) leave it alone, and SQLite's own
// locking keeps their writes safe.
package lockfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Lock is a held lock; Release gives it up.
type Lock struct {
	f *os.File
}

// Holder is the process that holds a lock, as it described itself.
type Holder struct {
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

// HeldError is the error of Acquire when another process holds the lock.
type HeldError struct {
	// Path is the lock file.
	Path string
	// Holder is the process holding it; nil when it has not written
	// itself into the file yet.
	Holder *Holder
}

func (e *HeldError) Error() string {
	if e.Holder == nil {
		return fmt.Sprintf("%s is locked by another process, which has not written its PID yet", e.Path)
	}
	return fmt.Sprintf("%s is locked by process %d, started %s", e.Path, e.Holder.PID, e.Holder.Started.Format(time.RFC3339))
}

// Acquire takes the lock at path, creating the file if need be, and writes
// me into it. It never waits: when another process holds the lock, the
// error is a *HeldError that names it.
func Acquire(path string, me Holder) (*Lock, error) {
	// Opened without truncation: the file's content is the holder's until
	// the lock is ours. A symbolic link is not followed: whoever may write
	// in the store's directory must not be able to make a server (often
	// root) truncate a file of its choosing elsewhere.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|noFollow, 0o640)
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			return nil, fmt.Errorf("lock file %s is a symbolic link; remove it (the server makes its own)", path)
		}
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("lock file %s is not a regular file; remove it (the server makes its own)", path)
	}
	if err := lock(f); err != nil {
		defer f.Close()
		if !errors.Is(err, errLocked) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		held := &HeldError{Path: path}
		if h, err := readHolder(f); err == nil {
			held.Holder = h
		}
		return nil, held
	}
	data, err := json.Marshal(me)
	if err == nil {
		data = append(data, '\n')
		if err = f.Truncate(0); err == nil {
			_, err = f.WriteAt(data, 0)
		}
	}
	if err != nil {
		f.Close() // closing drops the lock
		return nil, fmt.Errorf("write lock file %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Release gives the lock up. The file stays: removing it would let a
// process that opened it just before take a lock on a file that no longer
// has a name, beside a new one another process locks.
func (l *Lock) Release() error {
	return l.f.Close()
}

// readHolder reads what the holder wrote into the lock file.
func readHolder(f *os.File) (*Holder, error) {
	data, err := io.ReadAll(io.NewSectionReader(f, 0, 4096))
	if err != nil {
		return nil, err
	}
	var h Holder
	if err := json.Unmarshal(data, &h); err != nil || h.PID == 0 {
		return nil, errors.New("no holder written")
	}
	return &h, nil
}

// errLocked is what lock returns when another process holds the lock.
var errLocked = errors.New("locked by another process")
