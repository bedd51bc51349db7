//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package lockfile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lock takes an exclusive flock on f without waiting. flock, unlike POSIX
// record locks (fcntl), belongs to the open file, not to the process, so
// that no other close of the file in this process (SQLite's, say) drops
// it; the kernel drops it when the last descriptor closes.
func lock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return errLocked
		default:
			return err
		}
	}
}

// noFollow makes opening the lock file refuse a symbolic link.
const noFollow = unix.O_NOFOLLOW
