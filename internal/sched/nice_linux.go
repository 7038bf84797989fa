package sched

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Lower locks the calling goroutine to its OS thread and raises that
// thread's nice value by nice (1–19; Linux thread priorities are per
// thread), to 19 at most: in a process started under nice 10, nice 7 puts
// the thread at 17, still below the process's other threads. The goroutine keeps the thread until it returns, and the Go
// runtime then ends the thread, so the priority never passes to other
// goroutines; threads the runtime starts later do not inherit it either
// (it starts them from a thread of its own while one is locked). nice ≤ 0
// does nothing. The error says why the priority could not be changed; the
// goroutine runs on at normal priority then.
func Lower(nice int) error {
	if nice <= 0 {
		return nil
	}
	runtime.LockOSThread()
	cur, err := Nice()
	if err == nil {
		err = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), min(cur+nice, 19))
	}
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("lower thread priority by nice %d: %w", nice, err)
	}
	return nil
}

// Nice is the calling thread's nice value.
func Nice() (int, error) {
	// getpriority(2) returns 20-nice from the raw system call.
	p, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	if err != nil {
		return 0, err
	}
	return 20 - p, nil
}
