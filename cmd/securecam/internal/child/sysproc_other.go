//go:build !linux

package child

import "syscall"

// sysProcAttr: only Linux has a parent-death signal; elsewhere a child of a parent
// that was killed runs on until it is stopped by hand.
func sysProcAttr() *syscall.SysProcAttr { return nil }
