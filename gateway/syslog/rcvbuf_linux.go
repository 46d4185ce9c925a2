package syslog

import (
	"net"
	"syscall"
)

// readBuffer returns the receive buffer the system granted the socket (SO_RCVBUF),
// halved: Linux reports twice the size it was asked for, to account for its
// bookkeeping. It returns 0 when it cannot tell.
func readBuffer(pc *net.UDPConn) int {
	raw, err := pc.SyscallConn()
	if err != nil {
		return 0
	}
	var size int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		size, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil || serr != nil {
		return 0
	}
	return size / 2
}
