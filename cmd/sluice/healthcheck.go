package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthcheck asks a running sluice whether it is ready: exit 0 when the URL answers
// 200, 1 otherwise. It is the container image's HEALTHCHECK (the image has no shell and
// no curl), so it is small, prints one line on failure and never waits longer than
// --timeout.
func healthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080/readyz", "`URL` to GET; 200 is healthy (use /healthz for liveness)")
	timeout := fs.Duration("timeout", 3*time.Second, "longest wait for the answer")
	insecure := fs.Bool("insecure", false, "with an https URL, skip verifying the server certificate (a loopback check of a TLS listener)")
	quiet := fs.Bool("q", false, "print nothing when healthy")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice healthcheck: unexpected arguments %q\n", fs.Args())
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		fmt.Fprintln(stderr, "sluice healthcheck:", err)
		return 2
	}
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	if *insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // opt-in: a loopback check of a TLS listener
	}
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "sluice healthcheck: get %s: %v\n", *url, err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "sluice healthcheck: %s answered %s\n", *url, resp.Status)
		return 1
	}
	if !*quiet {
		fmt.Fprintf(stdout, "%s: %s\n", *url, resp.Status)
	}
	return 0
}
