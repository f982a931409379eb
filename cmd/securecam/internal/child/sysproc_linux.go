package child

import "syscall"

// sysProcAttr makes the kernel send the child SIGTERM when the parent ends, so that a
// child never outlives a test or benchmark that crashed or was killed. (Strictly: when
// the thread that started it ends, which Go does only when a goroutine exits while
// locked to its thread.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
