//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris || windows)

package lockfile

import "os"

// lock does nothing where doorlog knows no file lock (the embedded store
// does not run on those systems either): a second server is not refused
// there.
func lock(*os.File) error { return nil }

// noFollow makes opening the lock file refuse a symbolic link.
const noFollow = 0
