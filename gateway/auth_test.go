package gateway_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/gateway"
)

// TestAuthenticateSchemes checks every form of Authorization that shippers send: the
// key itself (Bearer, ApiKey), Elasticsearch's base64 "id:key" API keys and Basic
// credentials whose password is the key.
func TestAuthenticateSchemes(t *testing.T) {
	cfg := gateway.DefaultConfig()
	// The second key is valid base64 of "id:key" itself: as configured, it must match
	// as it is, not as what it decodes to.
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tricky := b64("x:fw-key")
	cfg.Auth.Keys = []gateway.APIKey{
		{Name: "fw", SHA256: gateway.HashKey("fw-key"), Types: []string{"firewall"}},
		{Name: "tricky", SHA256: gateway.HashKey(tricky), Types: []string{"*"}},
	}
	g := newGateway(t, cfg, &producer{})
	for _, tc := range []struct {
		header, want, err string
	}{
		{"Bearer fw-key", "fw", ""},
		{"  bearer   fw-key  ", "fw", ""},
		{"ApiKey fw-key", "fw", ""},
		{"ApiKey " + b64("fw:fw-key"), "fw", ""},
		{"APIKEY " + b64("some-id:fw-key"), "fw", ""},
		{"ApiKey " + strings.TrimRight(b64("id:fw-key"), "="), "fw", ""},
		{"Basic " + b64("elastic:fw-key"), "fw", ""},
		{"Basic " + b64(":fw-key"), "fw", ""},
		{"Basic " + b64("user:pass:with:colons"), "", "invalid API key"},
		{"ApiKey " + tricky, "tricky", ""},
		{"Bearer " + tricky, "tricky", ""},
		{"", "", "missing API key"},
		{"Bearer", "", "malformed Authorization: want Bearer <key>, ApiKey <key> or Basic"},
		{"Basic " + b64("no-colon"), "", "malformed Authorization"},
		{"Basic " + b64("user:"), "", "malformed Authorization"},
		{"Basic !!!", "", "malformed Authorization"},
		{"Digest fw-key", "", "malformed Authorization"},
		{"Bearer " + b64("fw:fw-key"), "", "invalid API key"}, // Bearer takes the key as it is
		{"ApiKey " + b64("fw:wrong"), "", "invalid API key"},
		{"Basic " + b64("fw-key:elastic"), "", "invalid API key"},
	} {
		p, err := g.Authenticate(tc.header)
		switch {
		case tc.err != "":
			if gateway.KindOf(err) != gateway.KindUnauthenticated || !strings.Contains(err.Error(), tc.err) || p != nil {
				t.Errorf("Authenticate(%q) = %v, %v; want %q", tc.header, p, err, tc.err)
			}
		case err != nil || p == nil || p.Name != tc.want:
			t.Errorf("Authenticate(%q) = %v, %v; want key %s", tc.header, p, err, tc.want)
		}
	}
}

func TestAuthenticateOff(t *testing.T) {
	g := newGateway(t, gateway.DefaultConfig(), &producer{})
	if p, err := g.Authenticate("Basic garbage"); p != nil || err != nil {
		t.Fatalf("auth off: Authenticate = %v, %v; want nil, nil", p, err)
	}
}
