package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/internal/testcerts"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
)

// TestDevTLS runs HTTP with mutual TLS (client certificates required) and gRPC with
// TLS: a client with a certificate from the configured CA gets through, one without a
// certificate or with one from another CA is refused at the handshake, and the events
// that got through reach the sink.
func TestDevTLS(t *testing.T) {
	pki := testcerts.New(t)
	cfg := devConfig(t)
	cfg.HTTP.TLS = config.TLS{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, ClientCAFile: pki.CAFile, ClientAuth: "required"}
	cfg.GRPC.TLS = config.TLS{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, ClientAuth: "none"}
	a, stop := startDev(t, cfg)
	ctx := context.Background()

	url := "https://" + a.httpLn.Addr().String() + "/v1/events?type=firewall"
	post := func(cert bool, stranger bool, msg string) (*http.Response, error) {
		var c *tls.Certificate
		switch {
		case stranger:
			c = &pki.Stranger
		case cert:
			c = &pki.Client
		}
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.ClientConfig(c)}}
		defer client.CloseIdleConnections()
		return client.Post(url, "application/x-ndjson", bytes.NewReader([]byte(`{"message":"`+msg+`"}`)))
	}
	resp, err := post(true, false, "mtls-ok")
	if err != nil {
		t.Fatalf("client with a certificate: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"accepted":1`) {
		t.Fatalf("client with a certificate: %d %s", resp.StatusCode, body)
	}
	if _, err := post(false, false, "no-cert"); err == nil {
		t.Fatal("client without a certificate got through a listener that requires one")
	}
	if _, err := post(false, true, "stranger"); err == nil {
		t.Fatal("client with a certificate from another CA got through")
	}
	// Plain HTTP to the TLS port gets nowhere either.
	if resp, err := http.Post("http://"+a.httpLn.Addr().String()+"/v1/events?type=firewall", "application/x-ndjson", strings.NewReader(`{"message":"plain"}`)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP accepted on the TLS listener")
		}
	}

	conn, err := grpc.NewClient("passthrough:///"+a.grpcLn.Addr().String(),
		grpc.WithTransportCredentials(credentials.NewTLS(pki.ClientConfig(nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rpcCtx, rpcCancel := context.WithTimeout(ctx, 5*time.Second)
	defer rpcCancel()
	if _, err := sluicev1.NewIngestServiceClient(conn).Push(rpcCtx, &sluicev1.PushRequest{Events: []*sluicev1.Event{{Type: "ids", Message: "grpc-tls"}}}); err != nil {
		t.Fatalf("gRPC over TLS: %v", err)
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkSink(t, cfg.Sink.File.Dir, sent{"firewall": {"mtls-ok"}, "ids": {"grpc-tls"}})
}
