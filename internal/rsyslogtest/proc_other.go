//go:build !linux

package rsyslogtest

import "syscall"

// sysProcAttr: only Linux can tie rsyslogd's life to the test binary's.
func sysProcAttr() *syscall.SysProcAttr { return nil }
