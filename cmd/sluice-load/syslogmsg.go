package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// The syslog message formats of the syslog-tcp and relp transports.
const (
	// syslogBSD is RFC 3164, as firewalls, network devices and rsyslog's default
	// forwarding templates write it: <PRI>Mmm dd hh:mm:ss HOST TAG: MSG.
	syslogBSD = "bsd"
	// syslogRFC5424 is RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG.
	syslogRFC5424 = "rfc5424"
)

var syslogFormats = []string{syslogBSD, syslogRFC5424}

// The framings of the syslog-tcp transport (RFC 6587).
const (
	framingOctet = "octet-counted" // "LEN SP MSG", as rsyslog's omfwd with TCP_Framing octet-counted
	framingLF    = "lf"            // "MSG LF", the traditional framing
)

var syslogFramings = []string{framingOctet, framingLF}

// syslogParts are a message before it is put in a format.
type syslogParts struct {
	pri    int // facility*8 + severity
	host   string
	app    string
	procID string // empty: none ("-" in RFC 5424, no [PID] in BSD)
	msg    string
}

// syslogMessages makes n distinct syslog messages of about 200 bytes, a mix as a
// relay forwards it from firewalls and hosts: every other one an iptables kernel line
// (the default rules of sluice's syslog receiver make it a firewall event), then sshd
// authentication failures and nginx access lines (the default type). Each message is
// padded to at least size bytes (0: natural size), and the i-th has the time start
// plus i milliseconds.
func syslogMessages(format string, size int, seed uint64, start time.Time, n int) ([][]byte, error) {
	if !slices.Contains(syslogFormats, format) {
		return nil, fmt.Errorf("unknown syslog format %q: want bsd or rfc5424", format)
	}
	r := rand.New(rand.NewPCG(seed, 0x5151095))
	out := make([][]byte, n)
	for i := range out {
		t := start.Add(time.Duration(i) * time.Millisecond).UTC()
		var p syslogParts
		switch i % 4 {
		case 0, 2:
			p = kernelLine(r)
		case 1:
			p = sshdLine(r)
		default:
			p = nginxLine(r, t)
		}
		out[i] = padSyslog(formatSyslog(format, t, p), size)
	}
	return out, nil
}

func kernelLine(r *rand.Rand) syslogParts {
	proto, flags := "TCP", " SYN URGP=0"
	if r.IntN(4) == 0 {
		proto, flags = "UDP", ""
	}
	msg := fmt.Sprintf("[%d.%06d] %s: IN=eth0 OUT= SRC=%s DST=%s LEN=%d TOS=0x00 PREC=0x00 TTL=%d ID=%d DF PROTO=%s SPT=%d DPT=%d WINDOW=29200 RES=0x00%s",
		r.IntN(900000)+1000, r.IntN(1000000), firewallActions[r.IntN(3)], ip(r, "203.0."), ip(r, "10.1."),
		40+r.IntN(1400), 32+r.IntN(96), r.IntN(65536), proto, 1024+r.IntN(64000),
		[]int{22, 53, 80, 443, 3389, 8080}[r.IntN(6)], flags)
	return syslogParts{pri: 4, host: fmt.Sprintf("fw%02d", r.IntN(16)), app: "kernel", msg: msg}
}

func sshdLine(r *rand.Rand) syslogParts {
	users := []string{"root", "admin", "oracle", "ubuntu", "test", "git"}
	rhost := ip(r, "198.51.")
	msg := fmt.Sprintf("Failed password for invalid user %s from %s port %d ssh2 [preauth]; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s",
		users[r.IntN(len(users))], rhost, 1024+r.IntN(64000), rhost)
	return syslogParts{pri: 38, host: fmt.Sprintf("bastion%02d", r.IntN(4)), app: "sshd",
		procID: strconv.Itoa(1000 + r.IntN(60000)), msg: msg}
}

func nginxLine(r *rand.Rand, t time.Time) syslogParts {
	paths := []string{"/products", "/cart", "/api/v2/orders", "/search", "/login"}
	agents := []string{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "curl/8.5.0", "sqlmap/1.7.2#stable"}
	msg := fmt.Sprintf(`%s - - [%s] "GET %s?id=%d HTTP/1.1" %d %d "-" "%s"`,
		ip(r, "192.0."), t.Format("02/Jan/2006:15:04:05 -0700"), paths[r.IntN(len(paths))], r.IntN(100000),
		[]int{200, 200, 200, 304, 404, 500}[r.IntN(6)], r.IntN(50000), agents[r.IntN(len(agents))])
	return syslogParts{pri: 190, host: fmt.Sprintf("web%02d", r.IntN(8)), app: "nginx", msg: msg}
}

// formatSyslog writes p in the format.
func formatSyslog(format string, t time.Time, p syslogParts) []byte {
	b := make([]byte, 0, 256)
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(p.pri), 10)
	b = append(b, '>')
	if format == syslogRFC5424 {
		b = append(b, "1 "...)
		b = t.AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
		b = append(b, ' ')
		b = append(b, p.host...)
		b = append(b, ' ')
		b = append(b, p.app...)
		b = append(b, ' ')
		if p.procID == "" {
			b = append(b, '-')
		} else {
			b = append(b, p.procID...)
		}
		b = append(b, " - - "...)
		return append(b, p.msg...)
	}
	b = t.AppendFormat(b, time.Stamp)
	b = append(b, ' ')
	b = append(b, p.host...)
	b = append(b, ' ')
	b = append(b, p.app...)
	if p.procID != "" {
		b = append(b, '[')
		b = append(b, p.procID...)
		b = append(b, ']')
	}
	b = append(b, ": "...)
	return append(b, p.msg...)
}

// padSyslog appends " pad=xxx..." to m so that it is at least size bytes.
func padSyslog(m []byte, size int) []byte {
	const field = " pad="
	if len(m)+len(field) > size {
		return m
	}
	m = append(m, field...)
	for len(m) < size {
		m = append(m, 'x')
	}
	return m
}

// frameSyslog appends m to dst in the framing.
func frameSyslog(dst []byte, framing string, m []byte) []byte {
	if framing == framingLF {
		dst = append(dst, m...)
		return append(dst, '\n')
	}
	dst = strconv.AppendInt(dst, int64(len(m)), 10)
	dst = append(dst, ' ')
	return append(dst, m...)
}
