package rsyslogtest

import "syscall"

// sysProcAttr has the kernel kill rsyslogd when the test binary dies before its
// cleanup runs (a panic, a timeout, a signal).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
