package blobs

import (
	"fmt"
	"syscall"
)

// FreeSpace reports the bytes an unprivileged writer may still use on the file system
// that holds dir, and the file system's size (statfs).
func FreeSpace(dir string) (free, total int64, err error) {
	var st syscall.Statfs_t // field types differ between systems: converted below
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("blobs free space: %w", err)
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}
