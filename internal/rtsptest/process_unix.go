//go:build unix && !linux

package rtsptest

import "syscall"

// ownProcessGroup puts a child in its own process group, so that it and
// anything it spawns can be killed together.
func ownProcessGroup() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func killProcessGroup(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL) // ESRCH: already gone
}
