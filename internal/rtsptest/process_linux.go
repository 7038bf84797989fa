package rtsptest

import "syscall"

// ownProcessGroup puts a child in its own process group, so that it and
// anything it spawns can be killed together, and kills it if the test binary
// dies without running its cleanups.
func ownProcessGroup() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func killProcessGroup(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL) // ESRCH: already gone
}
