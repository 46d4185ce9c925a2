package kinesis_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
)

// TestThirdPartyReader writes events with sluice's producer (aggregated and
// compressed, aggregated only, plain) into kinesalite and reads the stream's records
// with scripts/stream-format-ref.py, a reader made of zstandard and aws_kinesis_agg
// only (docs/stream-format.md): it finds every event, with its type, id and time.
// Skipped without SLUICE_TEST_PYREF_PYTHON (scripts/pyref.sh install; scripts/test.sh
// sets it).
func TestThirdPartyReader(t *testing.T) {
	python := os.Getenv("SLUICE_TEST_PYREF_PYTHON")
	if python == "" {
		t.Skip("SLUICE_TEST_PYREF_PYTHON is not set: eval \"$(scripts/pyref.sh install)\" (scripts/test.sh does)")
	}
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	for _, v := range []struct {
		name        string
		agg         bool
		compression string
	}{
		{"aggregated and compressed", true, kinesis.CompressionZstd},
		{"aggregated", true, kinesis.CompressionNone},
		{"plain", false, kinesis.CompressionZstd},
	} {
		t.Run(v.name, func(t *testing.T) {
			name := kinesistest.CreateStream(t, admin, 2)
			cfg := testConfig(endpoint)
			cfg.Aggregation, cfg.Compression = v.agg, v.compression
			p := newProducer(t, cfg)
			sent := compressibleEvents(v.name, 1500)
			for i := range sent {
				if i%3 == 0 { // some events with an identity
					env, _ := stream.ParseEnvelope(sent[i].Data)
					sent[i].Data = stream.AppendEnvelope(nil, env.Type, "id-"+strings.Repeat("x", i%7), env.Received, env.Event)
				}
			}
			if err := p.Put(context.Background(), name, sent); err != nil {
				t.Fatal(err)
			}
			var in bytes.Buffer
			compressed := 0
			for _, r := range kinesistest.ReadAll(t, admin, name) {
				if kinesis.IsCompressed(r.Data) {
					compressed++
				}
				line, _ := json.Marshal(map[string]string{"partition_key": r.PartitionKey, "data": base64.StdEncoding.EncodeToString(r.Data)})
				in.Write(append(line, '\n'))
			}
			if (compressed > 0) != (v.agg && v.compression == kinesis.CompressionZstd) {
				t.Fatalf("%d compressed records", compressed)
			}
			cmd := exec.Command(python, filepath.Join("..", "..", "scripts", "stream-format-ref.py"))
			cmd.Stdin = &in
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Run(); err != nil {
				t.Fatalf("the reference reader: %v\n%s", err, errOut.String())
			}
			var got, want []string
			for line := range strings.Lines(out.String()) {
				var v any // the same JSON as Go writes it, to compare
				if err := json.Unmarshal([]byte(line), &v); err != nil {
					t.Fatalf("the reference reader wrote %q: %v", line, err)
				}
				b, _ := json.Marshal(v)
				got = append(got, string(b))
			}
			for _, r := range sent {
				env, err := stream.ParseEnvelope(r.Data)
				if err != nil {
					t.Fatal(err)
				}
				var ev any
				_ = json.Unmarshal(env.Event, &ev)
				line, _ := json.Marshal(map[string]any{"type": env.Type, "id": env.ID, "received": env.Received.Format("2006-01-02T15:04:05.999999999Z07:00"), "event": ev})
				want = append(want, string(line))
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("the reference reader found %d events, %d were sent; first found %q, first sent %q", len(got), len(want), first(got), first(want))
			}
		})
	}
}

func first(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return l[0]
}
