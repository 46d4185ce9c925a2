package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealthcheck(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !ready {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready"))
	}))
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer tlsSrv.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	for _, tc := range []struct {
		name   string
		args   []string
		before func()
		want   int
		stderr string
	}{
		{name: "ready", args: []string{"--url", srv.URL + "/readyz"}, want: 0},
		{name: "draining", args: []string{"--url", srv.URL + "/readyz"}, before: func() { ready = false }, want: 1, stderr: "503"},
		{name: "not found", args: []string{"--url", srv.URL + "/nope"}, want: 1, stderr: "503"},
		{name: "refused", args: []string{"--url", closedURL + "/readyz"}, want: 1, stderr: "get "},
		{name: "timeout", args: []string{"--url", slow.URL, "--timeout", "100ms"}, want: 1, stderr: "deadline"},
		{name: "tls unverified fails", args: []string{"--url", tlsSrv.URL}, want: 1, stderr: "certificate"},
		{name: "tls insecure", args: []string{"--url", tlsSrv.URL, "--insecure"}, want: 0},
		{name: "bad flag", args: []string{"--nope"}, want: 2},
		{name: "extra argument", args: []string{"x"}, want: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			var stdout, stderr bytes.Buffer
			got := run(context.Background(), append([]string{"healthcheck"}, tc.args...), nil, &stdout, &stderr, func(string) (string, bool) { return "", false })
			if got != tc.want {
				t.Fatalf("exit %d, want %d; stderr: %s", got, tc.want, stderr.String())
			}
			if tc.stderr != "" && !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tc.stderr)
			}
		})
	}
}

// TestHealthcheckQuiet: -q prints nothing when healthy.
func TestHealthcheckQuiet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	var out bytes.Buffer
	if got := run(context.Background(), []string{"healthcheck", "-q", "--url", srv.URL}, nil, &out, &out, func(string) (string, bool) { return "", false }); got != 0 || out.Len() != 0 {
		t.Fatalf("exit %d, output %q; want 0 and nothing with -q", got, out.String())
	}
}
