package hostile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// crashDepth is the nesting of the crash class: some 16 million '[' (a 32 MB line, 1 KB
// as zstd, 32 KB as gzip) killed the process with "fatal error: stack overflow".
// Uncompressed, limits.max_body_bytes (10 MiB) allows about a third of it.
const (
	crashDepth      = 16_000_000
	crashDepthPlain = 4_900_000
)

// nested returns n '[' then n ']'.
func nested(n int) []byte {
	b := make([]byte, 2*n)
	for i := range n {
		b[i], b[n+i] = '[', ']'
	}
	return b
}

// deepEvent is an event object whose field a holds depth nested arrays: valid JSON whose
// only fault is its depth.
func deepEvent(id string, depth int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"message":"deep","legit_id":%q,"a":`, id)
	b.Write(nested(depth))
	b.WriteByte('}')
	return b.Bytes()
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func zstded(b []byte) []byte {
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

// encode compresses b with a Content-Encoding ("" for none).
func encode(enc string, b []byte) []byte {
	switch enc {
	case "gzip":
		return gzipped(b)
	case "zstd":
		return zstded(b)
	}
	return b
}

// TestDeepNestingCrash sends one event nested a few million levels deep to every
// listener of `sluice dev` while a legitimate client keeps sending. The deep event must
// be refused with 400 naming the nesting limit (limits.max_depth) and the other events
// of the same body accepted; the process must stay up, and every acknowledged event
// must be in the sink after a graceful stop.
func TestDeepNestingCrash(t *testing.T) {
	p := start(t, spec{role: "dev", lumberjack: true})
	var ack acked
	lg := startLegit(t, p, "crash-legit", &ack)
	time.Sleep(200 * time.Millisecond) // some batches acknowledged before the attack

	for _, v := range []struct {
		enc   string
		depth int
	}{{"", crashDepthPlain}, {"zstd", crashDepth}, {"gzip", crashDepth}} {
		enc := v.enc
		name := "events/" + orDefault(enc, "identity")
		t.Run(name, func(t *testing.T) {
			ids := []string{"crash-" + name + "-0", "crash-" + name + "-1", "crash-" + name + "-2"}
			body := fmt.Appendf(nil, `{"message":"before","legit_id":%q}`+"\n%s\n"+`{"message":"after","legit_id":%q}`+"\n",
				ids[0], deepEvent(ids[1], v.depth), ids[2])
			wire := encode(enc, body)
			t.Logf("body: %d bytes, %d on the wire", len(body), len(wire))
			a, err := post(p.url("/v1/events?type=legit"), "application/x-ndjson", enc, wire)
			if err != nil {
				p.requireUp(t)
				t.Fatalf("POST /v1/events: %v", err)
			}
			requireDeepRefused(t, a, &ack, ids)
			p.requireUp(t)
		})
	}

	t.Run("bulk/zstd", func(t *testing.T) {
		ids := []string{"crash-bulk-0", "crash-bulk-1", "crash-bulk-2"}
		action := `{"create":{"_index":"logs-legit-default"}}`
		body := fmt.Appendf(nil, "%s\n"+`{"message":"before","legit_id":%q}`+"\n%s\n%s\n%s\n"+`{"message":"after","legit_id":%q}`+"\n",
			action, ids[0], action, deepEvent(ids[1], crashDepth), action, ids[2])
		a, err := post(p.url("/_bulk"), "application/x-ndjson", "zstd", zstded(body))
		if err != nil {
			p.requireUp(t)
			t.Fatalf("POST /_bulk: %v", err)
		}
		// Elasticsearch's shape: 200, one status per item.
		if a.status != http.StatusOK {
			t.Fatalf("POST /_bulk: %v, want 200 with per-item statuses", a)
		}
		ba, err := parseBulkAnswer(a.body)
		if err != nil {
			t.Fatal(err)
		}
		if len(ba.Items) != 3 {
			t.Fatalf("POST /_bulk: %d items, want 3: %v", len(ba.Items), a)
		}
		for i, it := range ba.Items {
			if i != 1 && it.Status == http.StatusCreated {
				ack.add(ids[i])
			}
		}
		if ba.Items[0].Status != http.StatusCreated || ba.Items[2].Status != http.StatusCreated {
			t.Errorf("the good items: statuses %d and %d, want 201: %v", ba.Items[0].Status, ba.Items[2].Status, a)
		}
		if it := ba.Items[1]; it.Status != http.StatusBadRequest || !strings.Contains(strings.ToLower(it.Reason), "depth") {
			t.Errorf("the deep item: status %d reason %q, want 400 naming the nesting depth limit", it.Status, it.Reason)
		}
		p.requireUp(t)
	})

	t.Run("push/zstd", func(t *testing.T) {
		body := fmt.Appendf(nil, `{"events":[{"type":"legit","message":"deep push","fields":{"a":%s}}]}`, nested(crashDepth))
		a, err := post(p.url("/v1/push"), "application/json", "zstd", zstded(body))
		if err != nil {
			p.requireUp(t)
			t.Fatalf("POST /v1/push: %v", err)
		}
		if a.status != http.StatusBadRequest {
			t.Errorf("POST /v1/push of a deep event: %v, want 400", a)
		}
		p.requireUp(t)
	})

	t.Run("lumberjack", func(t *testing.T) {
		// Within lumberjack.max_frame_bytes and limits.max_event_bytes, so that depth
		// is the only fault.
		ids := []string{"crash-lj-0", "crash-lj-1", "crash-lj-2"}
		mark := p.logCount()
		good := func(id string) []byte {
			return fmt.Appendf(nil, `{"message":"lumberjack event","legit_id":%q,"fields":{"log_type":"legit"}}`, id)
		}
		deep := fmt.Appendf(nil, `{"message":"deep","legit_id":%q,"fields":{"log_type":"legit"},"a":%s}`, ids[1], nested(450_000))
		frames := ljWindow(3)
		frames = append(frames, ljJSON(1, good(ids[0]))...)
		frames = append(frames, ljJSON(2, deep)...)
		frames = append(frames, ljJSON(3, good(ids[2]))...)
		res := ljExchange(t, p.listener("lumberjack"), frames, 3, 20*time.Second)
		t.Logf("lumberjack: ACKed up to %d, closed by the server: %v", res.acked, res.closed)
		for i, id := range ids {
			if i != 1 && uint32(i+1) <= res.acked {
				ack.add(id)
			}
		}
		p.requireUp(t)
		if !waitFor(5*time.Second, func() bool {
			lines := p.linesSince(mark)
			return hasLine(lines, "depth", "WARN", "ERROR") || hasLine(lines, "nested deeper", "WARN", "ERROR")
		}) {
			t.Errorf("no warning or error log line naming the nesting depth after a deep lumberjack event; log:\n%s", strings.Join(cut(p.linesSince(mark), 300), "\n"))
		}
	})

	lg.halt(t)
	if p.up() {
		requireHealthy(t, p)
		p.stop(t)
	} else {
		// What the crash lost: the sink as the dead process left it.
		t.Error("sluice died during the attack")
	}
	ack.requireWritten(t, p.dataDir)
}

// requireDeepRefused checks a /v1/events answer to good, deep, good: 400, the deep line
// refused naming the depth limit, the two others accepted (and added to ack).
func requireDeepRefused(t *testing.T, a answer, ack *acked, ids []string) {
	t.Helper()
	var ea eventsAnswer
	if err := json.Unmarshal(a.body, &ea); err != nil {
		t.Fatalf("answer %v: %v", a, err)
	}
	if a.status == http.StatusOK || a.status == http.StatusBadRequest {
		rejected := map[int]bool{}
		for _, rj := range ea.Rejections {
			rejected[rj.Index] = true
		}
		if ea.Accepted == len(ids)-len(rejected) {
			for i, id := range ids {
				if !rejected[i] {
					ack.add(id)
				}
			}
		}
	}
	if a.status != http.StatusBadRequest {
		t.Errorf("answer %v, want 400", a)
	}
	if ea.Accepted != 2 || len(ea.Rejections) != 1 {
		t.Fatalf("accepted %d, rejections %d, want 2 and 1: %v", ea.Accepted, len(ea.Rejections), a)
	}
	rj := ea.Rejections[0]
	if rj.Index != 1 || rj.Line != 2 || !strings.Contains(strings.ToLower(rj.Reason), "depth") {
		t.Errorf("rejection %+v, want index 1, line 2, naming the nesting depth limit", rj)
	}
}

// hasLine reports whether a line contains substr (case-insensitive) at one of levels.
func hasLine(lines []string, substr string, levels ...string) bool {
	for _, l := range lines {
		if strings.Contains(strings.ToLower(l), substr) {
			lv := level(l)
			for _, want := range levels {
				if lv == want {
					return true
				}
			}
		}
	}
	return false
}

// cut shortens each line to n bytes.
func cut(lines []string, n int) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) > n {
			l = l[:n] + "..."
		}
		out[i] = l
	}
	return out
}

func orDefault(s, ifEmpty string) string {
	if s == "" {
		return ifEmpty
	}
	return s
}
