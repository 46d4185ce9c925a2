package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// nullBulkCmd serves a null _bulk endpoint: a benchmark tool that reads each request
// and answers every action "created", so that a client's own CPU per document can be
// measured without an engine. It is never a stand-in for an engine in tests.
func nullBulkCmd(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice-load null-bulk", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9299", "`host:port` to listen on (loopback only unless --allow-remote)")
	maxBody := fs.Int64("max-body", 200<<20, "largest request body in `bytes`; larger ones get 413")
	allowRemote := fs.Bool("allow-remote", false, "allow listening on an address that is not loopback")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, code := listenLoopback(ctx, "null-bulk", *addr, *allowRemote, stderr)
	if ln == nil {
		return code
	}
	var requests, items atomic.Int64
	srv := &http.Server{Handler: nullBulkHandler(*maxBody, &requests, &items), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stderr, "sluice-load null-bulk: null _bulk endpoint on http://%s (answers every action created; not an engine)\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		fmt.Fprintln(stderr, "sluice-load null-bulk:", err)
		return 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	fmt.Fprintf(stderr, "sluice-load null-bulk: stopped after %d requests, %d actions\n", requests.Load(), items.Load())
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "sluice-load null-bulk: stop:", err)
		return 1
	}
	return 0
}

// nullBulkHandler answers POST /_bulk and /INDEX/_bulk: one item per action line, each
// "created". Every action is taken to carry a source line (create and index, the only
// ones the measured clients send). Any other path answers an empty JSON object, which
// is enough for clients that look at the root at start.
func nullBulkHandler(maxBody int64, requests, items *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/_bulk") {
			_, _ = io.WriteString(w, "{}")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			http.Error(w, fmt.Sprintf(`{"error":%q}`, err.Error()), http.StatusRequestEntityTooLarge)
			return
		}
		lines := bytes.Count(body, []byte("\n"))
		if len(body) > 0 && body[len(body)-1] != '\n' {
			lines++
		}
		n := lines / 2
		requests.Add(1)
		items.Add(int64(n))
		var out bytes.Buffer
		out.Grow(40 + n*50)
		out.WriteString(`{"took":0,"errors":false,"items":[`)
		for i := range n {
			if i > 0 {
				out.WriteByte(',')
			}
			out.WriteString(`{"create":{"_index":"null","status":201,"result":"created"}}`)
		}
		out.WriteString("]}")
		_, _ = w.Write(out.Bytes())
	})
}
