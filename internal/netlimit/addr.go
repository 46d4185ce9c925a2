package netlimit

import (
	"fmt"
	"net"
	"strconv"
)

// CheckAddr reports whether Listen can be given addr: host:port with a port from 0 to
// 65535 (0 picks a free port). Each listener's configuration checks its address with it,
// so that a typo fails validation rather than the start.
func CheckAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		var n int
		n, err = strconv.Atoi(port)
		if err == nil && (n < 0 || n > 65535) {
			err = fmt.Errorf("port %d out of range", n)
		}
	}
	if err != nil {
		return fmt.Errorf("want host:port, not %q", addr)
	}
	return nil
}
