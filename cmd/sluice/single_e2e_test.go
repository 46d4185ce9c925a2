package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/internal/testcerts"
	"github.com/sluice-siem/sluice/sink/search/searchtest"
)

// singleConfig is the single-machine production configuration the README and
// deploy/single ship.
const singleConfig = "../../deploy/single/sluice.yaml"

// TestSingleMachineRecipe runs the shipped single-machine configuration
// (deploy/single/sluice.yaml) as the README says to, with only what it marks REPLACE
// and the machine's paths set from the environment: events sent over HTTPS with an
// API key and over lumberjack with a client certificate land in OpenSearch, a request
// without a key is refused, and the durable stream lives in the data directory.
func TestSingleMachineRecipe(t *testing.T) {
	// As shipped, the placeholder key is refused: nobody runs it by accident.
	raw, err := config.Load(config.RoleDev, singleConfig, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Validate(config.RoleDev); err == nil || !strings.Contains(err.Error(), "gateway.auth.keys[0].sha256") {
		t.Errorf("the shipped file validates its placeholder key: %v", err)
	}

	// The systemd unit runs the file as the README says, with its data directory as
	// the unit's state directory.
	unit, err := os.ReadFile("../../deploy/single/sluice.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "\nExecStart=/usr/local/bin/sluice dev -c /etc/sluice/sluice.yaml\n") ||
		!strings.Contains(string(unit), "\nStateDirectory=sluice\n") || raw.Sink.File.Dir != "/var/lib/sluice" {
		t.Errorf("deploy/single/sluice.service does not run deploy/single/sluice.yaml with /var/lib/sluice (file.dir %s)", raw.Sink.File.Dir)
	}

	url := searchtest.OpenSearchURL(t)
	certs := testcerts.New(t)
	dataDir := t.TempDir()
	ns := searchtest.Name("single")
	const key = "single-machine-test-key"
	sum := sha256.Sum256([]byte(key))
	env := map[string]string{
		"SLUICE_GATEWAY_AUTH_KEYS":     fmt.Sprintf("[{name: shippers, sha256: %s, types: ['*']}]", hex.EncodeToString(sum[:])),
		"SLUICE_SINK_SEARCH_ADDRESSES": "[" + url + "]",
		"SLUICE_SINK_SEARCH_USERNAME":  "", // the test engine runs without security
		"SLUICE_SINK_SEARCH_NAMESPACE": ns,
		"SLUICE_SINK_FILE_DIR":         dataDir,
	}
	for _, l := range []string{"HTTP", "GRPC", "LUMBERJACK"} {
		env["SLUICE_"+l+"_ADDR"] = "127.0.0.1:0"
		env["SLUICE_"+l+"_TLS_CERT_FILE"] = certs.ServerCert
		env["SLUICE_"+l+"_TLS_KEY_FILE"] = certs.ServerKey
	}
	env["SLUICE_LUMBERJACK_TLS_CLIENT_CA_FILE"] = certs.CAFile
	for _, l := range []string{"SYSLOG_TLS", "RELP"} {
		env["SLUICE_"+l+"_ADDR"] = "127.0.0.1:0"
	}
	env["SLUICE_SYSLOG_TLS_CERT_FILE"], env["SLUICE_SYSLOG_TLS_KEY_FILE"], env["SLUICE_SYSLOG_TLS_CLIENT_CA_FILE"] = certs.ServerCert, certs.ServerKey, certs.CAFile
	env["SLUICE_RELP_TLS_CERT_FILE"], env["SLUICE_RELP_TLS_KEY_FILE"], env["SLUICE_RELP_TLS_CLIENT_CA_FILE"] = certs.ServerCert, certs.ServerKey, certs.CAFile
	cfg, err := config.Load(config.RoleDev, singleConfig, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Stream.Embedded.Durable || cfg.Stream.Embedded.Sync != "always" || cfg.Sink.EffectiveKind() != "search" {
		t.Fatalf("the recipe is not durable with sync always into the search engine: %+v", cfg.Stream.Embedded)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, config.RoleDev, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certs.Roots}}}
	post := func(auth string) int {
		req, _ := http.NewRequest(http.MethodPost, "https://"+a.httpLn.Addr().String()+"/v1/events?type=waf", bytes.NewReader([]byte(`{"message":"single-http"}`+"\n")))
		req.Header.Set("Content-Type", "application/x-ndjson")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != http.StatusUnauthorized {
		t.Errorf("without an API key: %d, want 401", code)
	}
	if code := post("ApiKey " + key); code != http.StatusOK {
		t.Fatalf("with the API key: %d, want 200", code)
	}
	c, err := lj.SyncDialWith(func(network, addr string) (net.Conn, error) {
		return tls.Dial(network, addr, &tls.Config{RootCAs: certs.Roots, Certificates: []tls.Certificate{certs.Client}})
	}, a.ljSrv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.Send([]any{map[string]any{"message": "single-lumberjack", "fields": map[string]any{"log_type": "waf"}}})
	c.Close()
	if err != nil || n != 1 {
		t.Fatalf("lumberjack window: ACKed %d, %v", n, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for searchtest.Count(t, url, "logs-*-"+ns) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("OpenSearch holds %d of the 2 events", searchtest.Count(t, url, "logs-*-"+ns))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if a.syslogSrv == nil || a.syslogSrv.TLSAddr() == nil || a.relpSrv == nil || !a.relpSrv.TLS() {
		t.Error("the recipe's syslog-TLS and RELP-over-TLS receivers are not running")
	}
	if _, err := os.Stat(filepath.Join(dataDir, "_stream")); err != nil {
		t.Errorf("the durable stream is not in the data directory: %v", err)
	}
}
