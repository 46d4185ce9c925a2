package syslog

import (
	"context"
	"crypto/tls"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/testcerts"
)

// TestListenerTypes runs the real gateway with API keys on. The plain TCP listener
// allows only firewall (tcp.types): its IDS message is refused, counted on the tcp
// listener and logged with the listener's principal, while the TLS listener, without
// types of its own, falls back to syslog.types and takes the same message. UDP has
// types of its own too (ids): its firewall line is refused and its IDS line taken.
// The start-up warning names each listener whose types leave out a type the rules
// give, and the setting to change.
func TestListenerTypes(t *testing.T) {
	g := newGateway(t, func(c *gateway.Config) {
		c.Auth.Disabled = false
		c.Auth.Keys = []gateway.APIKey{{Name: "http-only", SHA256: gateway.HashKey("secret"), Types: []string{"*"}}}
	})
	certs := testcerts.New(t)
	cfg := tlsConfig(certs, "required")
	cfg.Types = append(slices.Clone(rulesTypes(t)), "syslog")
	cfg.TCP.Types = []string{"firewall"}
	cfg.UDP.Types = []string{"ids"}
	h := start(t, g.gw, cfg)

	logs := h.logs.String()
	for _, want := range []string{
		`"listener":"tcp","type":"ids","setting":"syslog.tcp.types"`,
		`"listener":"tcp","type":"syslog","setting":"syslog.tcp.types"`,
		`"listener":"udp","type":"firewall","setting":"syslog.udp.types"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("no start-up warning with %s", want)
		}
	}
	if strings.Contains(logs, `"listener":"tls","type"`) {
		t.Error("a start-up warning for tls, whose syslog.types allow every rule type")
	}

	write(t, dial(t, h.tcp), lf(iptablesLine, suricataLine))
	eventually(t, "the tcp refusal counted", func() bool {
		return h.counter(t, "sluice_syslog_messages", "listener", "tcp", "result", "rejected", "reason", "forbidden") == 1
	})
	if !strings.Contains(h.logs.String(), `\"syslog/tcp\" may not send log type \"ids\"`) {
		t.Error("the refusal's log line does not name the tcp listener's principal")
	}

	c, err := tls.Dial("tcp", h.tls, certs.ClientConfig(&certs.Client))
	if err != nil {
		t.Fatal(err)
	}
	write(t, c, lf(suricataLine))
	_ = c.Close()

	u, err := net.Dial("udp", h.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for _, d := range []string{iptablesLine, suricataLine} {
		if _, err := u.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}

	envs := g.wait(t, 3) // tcp's firewall line, tls's and udp's IDS lines
	var got []string
	for _, env := range envs {
		got = append(got, env.Type+" "+eventMessage(t, env))
	}
	slices.Sort(got)
	want := []string{"firewall " + iptablesLine, "ids " + suricataLine, "ids " + suricataLine}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	eventually(t, "the udp refusal counted", func() bool {
		return h.counter(t, "sluice_syslog_messages", "listener", "udp", "result", "rejected", "reason", "forbidden") == 1
	})
	for _, l := range []struct {
		name string
		want int64
	}{{"tcp", 1}, {"tls", 1}, {"udp", 1}} {
		if n := h.counter(t, "sluice_syslog_messages", "listener", l.name, "result", "accepted"); n != l.want {
			t.Errorf("%s accepted %d, want %d", l.name, n, l.want)
		}
	}
	if n := h.counter(t, "sluice_syslog_messages", "listener", "tls", "result", "rejected"); n != 0 {
		t.Errorf("tls rejected %d, want 0", n)
	}
}

// TestListenerPrincipals: each listener's messages act as its own principal,
// "syslog/tcp", "syslog/tls" or "syslog/udp".
func TestListenerPrincipals(t *testing.T) {
	certs := testcerts.New(t)
	rec := newRecorder()
	var mu sync.Mutex
	names := map[string]bool{}
	rec.setHook(func(ctx context.Context, _ gateway.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		names[gateway.PrincipalFrom(ctx).Name] = true
		return nil
	})
	h := start(t, rec, tlsConfig(certs, "required"))
	write(t, dial(t, h.tcp), lf("<13>tcp"))
	c, err := tls.Dial("tcp", h.tls, certs.ClientConfig(&certs.Client))
	if err != nil {
		t.Fatal(err)
	}
	write(t, c, lf("<13>tls"))
	_ = c.Close()
	u, err := net.Dial("udp", h.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.Write([]byte("<13>udp")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "three messages", func() bool { return rec.count() == 3 }) // after their hooks
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"syslog/tcp", "syslog/tls", "syslog/udp"} {
		if !names[want] {
			t.Errorf("no batch as %q: %v", want, names)
		}
	}
	if len(names) != 3 {
		t.Errorf("principals %v, want three", names)
	}
}

// TestValidateListenerTypes: a listener's types are checked as syslog.types are, each
// problem with its path; empty types are valid (they fall back to syslog.types).
func TestValidateListenerTypes(t *testing.T) {
	cfg := DefaultConfig("127.0.0.1")
	cfg.TCP.Types = []string{"firewall", "Not OK"}
	cfg.TLS.Types = []string{"*"}
	cfg.UDP.Types = []string{"with space"}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, path := range []string{`tcp.types[1]: invalid log type name "Not OK"`, `udp.types[0]: invalid log type name "with space"`} {
		if !strings.Contains(err.Error(), path) {
			t.Errorf("no problem %s in:\n%v", path, err)
		}
	}
	for _, path := range []string{"tcp.types[0]", "tls.types"} {
		if strings.Contains(err.Error(), path) {
			t.Errorf("%s is valid:\n%v", path, err)
		}
	}
	cfg.TCP.Types, cfg.UDP.Types = nil, []string{}
	if err := cfg.Validate(); err != nil {
		t.Errorf("empty listener types: %v", err)
	}
	if types, setting := cfg.listenerTypes(listenerUDP, cfg.UDP.Types); setting != "syslog.types" || !slices.Equal(types, cfg.Types) {
		t.Errorf("udp without types: %q from %s, want syslog.types", types, setting)
	}
	if types, setting := cfg.listenerTypes(listenerTLS, cfg.TLS.Types); setting != "syslog.tls.types" || !slices.Equal(types, []string{"*"}) {
		t.Errorf("tls types: %q from %s", types, setting)
	}
}

// rulesTypes returns the log types the default rules give.
func rulesTypes(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, r := range DefaultRules() {
		if !slices.Contains(out, r.Type) {
			out = append(out, r.Type)
		}
	}
	return out
}
