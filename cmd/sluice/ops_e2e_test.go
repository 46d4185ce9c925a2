package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/console"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
)

// answer is what a role says to one operations request.
type answer struct {
	code        int
	contentType string
	body        string
}

// transformConfig is sluice transform on the test Kinesis (a stream of its own, leases
// in memory) writing files, serving HTTP on a free port.
func transformConfig(t *testing.T) config.Config {
	t.Helper()
	tr := config.Default(config.RoleTransform)
	tr.HTTP.Addr = "127.0.0.1:0"
	endpoint := kinesistest.Endpoint(t)
	tr.Stream.Consumer.Streams = []string{kinesistest.CreateStream(t, kinesistest.Client(t, endpoint), 1)}
	tr.Stream.Leases.Store = "memory"
	k := &tr.Stream.Kinesis
	k.Endpoint, k.Region = endpoint, kinesistest.Region
	k.Credentials.AccessKeyID, k.Credentials.SecretAccessKey = kinesistest.AccessKeyID, kinesistest.SecretAccessKey
	tr.Sink.Kind = "file"
	tr.Sink.File.Dir = t.TempDir()
	return tr
}

// TestEveryRoleServesOps: dev, gateway and transform answer /healthz, /readyz and
// /metrics alike (internal/ops), and other methods on them alike.
func TestEveryRoleServesOps(t *testing.T) {
	gw := config.Default(config.RoleGateway)
	gw.HTTP.Addr, gw.GRPC.Addr, gw.Lumberjack.Addr = "127.0.0.1:0", "127.0.0.1:0", ""
	gw.Stream.Kind = "discard"
	gw.Gateway.Auth.Disabled = true

	tr := transformConfig(t)
	tr.SamplePipelines = false

	requests := []struct{ method, path string }{
		{http.MethodGet, "/healthz"}, {http.MethodGet, "/readyz"}, {http.MethodHead, "/readyz"},
		{http.MethodPost, "/healthz"}, {http.MethodDelete, "/readyz"}, {http.MethodPut, "/metrics"},
	}
	var first map[string]answer
	var firstRole config.Role
	for _, c := range []struct {
		role config.Role
		cfg  config.Config
	}{{config.RoleDev, devConfig(t)}, {config.RoleGateway, gw}, {config.RoleTransform, tr}} {
		a, _ := startApp(t, c.cfg, c.role)
		base := "http://" + a.httpLn.Addr().String()
		got := map[string]answer{}
		for _, r := range requests {
			got[r.method+" "+r.path] = ask(t, r.method, base+r.path)
		}
		if m := ask(t, http.MethodGet, base+"/metrics"); m.code != 200 || !strings.HasPrefix(m.contentType, "text/plain") || !strings.Contains(m.body, "go_goroutines") {
			t.Errorf("%s: GET /metrics: %d %s %.200q", c.role, m.code, m.contentType, m.body)
		}
		if first == nil {
			first, firstRole = got, c.role
			for key, want := range map[string]int{"GET /healthz": 200, "GET /readyz": 200, "POST /healthz": 405} {
				if got[key].code != want {
					t.Errorf("%s: %s: %d, want %d", c.role, key, got[key].code, want)
				}
			}
			continue
		}
		for key, want := range first {
			if got[key] != want {
				t.Errorf("%s answers %s with %+v, %s with %+v", c.role, key, got[key], firstRole, want)
			}
		}
	}
}

// ask makes one request and reads its answer.
func ask(t *testing.T, method, url string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{code: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: string(body)}
}

// TestGatewayAndTransformServeTheConsole: with ui.enabled the gateway serves the
// console behind its API keys (no playground: it runs no pipelines) and the transform
// role behind the console's own key, beside its operations endpoints; without it,
// neither has /ui.
func TestGatewayAndTransformServeTheConsole(t *testing.T) {
	const shipperKey, adminKey = "shipper-key", "admin-key"
	gw := config.Default(config.RoleGateway)
	gw.HTTP.Addr, gw.GRPC.Addr, gw.Lumberjack.Addr = "127.0.0.1:0", "", ""
	gw.Stream.Kind = "discard"
	gw.Gateway.Auth.Keys = []gateway.APIKey{{Name: "shipper", SHA256: gateway.HashKey(shipperKey), Types: []string{"*"}}}

	tr := transformConfig(t)

	for _, c := range []struct {
		role       config.Role
		cfg        config.Config
		key        string
		playground bool
		points     string
	}{{config.RoleGateway, gw, shipperKey, false, "received"}, {config.RoleTransform, tr, adminKey, true, "transformed indexed"}} {
		off, _ := startApp(t, c.cfg, c.role)
		if a := ask(t, http.MethodGet, "http://"+off.httpLn.Addr().String()+"/ui/api/info"); a.code != http.StatusNotFound {
			t.Errorf("%s without ui.enabled: /ui/api/info %d", c.role, a.code)
		}
		cfg := c.cfg
		cfg.UI.Enabled, cfg.UI.AdminKeySHA256 = true, ""
		if c.role == config.RoleTransform {
			cfg.UI.AdminKeySHA256 = gateway.HashKey(adminKey)
		}
		a, _ := startApp(t, cfg, c.role)
		base := "http://" + a.httpLn.Addr().String()
		if r := ask(t, http.MethodGet, base+"/ui/api/info"); r.code != http.StatusUnauthorized {
			t.Errorf("%s: /ui/api/info without a key: %d", c.role, r.code)
		}
		req, _ := http.NewRequest(http.MethodGet, base+"/ui/api/info", nil)
		req.Header.Set("Authorization", "Bearer "+c.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var info console.Info
		err = json.NewDecoder(resp.Body).Decode(&info)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || info.Role != string(c.role) || info.Playground != c.playground || strings.Join(info.Points, " ") != c.points {
			t.Errorf("%s: /ui/api/info %d %+v (%v)", c.role, resp.StatusCode, info, err)
		}
		for path, want := range map[string]int{"/ui": 200, "/healthz": 200, "/metrics": 200} {
			if r := ask(t, http.MethodGet, base+path); r.code != want {
				t.Errorf("%s: %s %d, want %d", c.role, path, r.code, want)
			}
		}
	}
}
