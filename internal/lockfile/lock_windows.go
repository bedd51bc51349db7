//go:build windows

package lockfile

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockOffset is where the locked byte is. Windows locks are mandatory, so
// the byte lies far past the holder's description, which a refused
// process must still be able to read.
const lockOffset = 1 << 30

// lock takes an exclusive lock on one byte of f without waiting; Windows
// drops it when the handle closes or the process ends.
func lock(f *os.File) error {
	ol := windows.Overlapped{Offset: lockOffset}
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return errLocked
	}
	return err
}

// noFollow makes opening the lock file refuse a symbolic link.
const noFollow = 0
