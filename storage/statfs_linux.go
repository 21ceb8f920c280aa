package storage

import "golang.org/x/sys/unix"

func statFS(path string) (free, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, 0, err
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}

// readOnlyFlag reports whether statfs(2) flags the filesystem at path
// ST_RDONLY (set by a read-only mount and by the kernel's remount after an
// error, whatever the mount table spells).
func readOnlyFlag(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false, err
	}
	return st.Flags&unix.ST_RDONLY != 0, nil
}
