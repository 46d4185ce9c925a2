package kinesis

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis/kpl"
)

var arrival = time.Date(2026, 12, 7, 0, 5, 0, 0, time.UTC)

// envelopes decodes a record with d and returns each user record's envelope as
// "type received event".
func envelopes(t *testing.T, d *foreignDecoder, data []byte) ([]string, error) {
	t.Helper()
	users, noEvent, err := d.decode("k", data, arrival)
	if err != nil {
		return nil, err
	}
	if noEvent {
		return []string{"no event"}, nil
	}
	var out []string
	for _, u := range users {
		env, err := stream.ParseEnvelope(u.Data)
		if err != nil {
			t.Fatalf("user record %q is no envelope: %v", u.Data, err)
		}
		out = append(out, env.Type+" "+env.Received.Format(time.RFC3339)+" "+string(env.Event))
	}
	return out, nil
}

func TestForeignRecords(t *testing.T) {
	unzstd := &decompressor{max: 1 << 20}
	at := arrival.Format(time.RFC3339)
	var agg kpl.Aggregator
	agg.Add("a", "", []byte(`{"m":1}`))
	agg.Add("b", "", []byte(`{"m":2,"event":{"dataset":"zeek"}}`))
	foreignAgg := agg.AppendTo(nil)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(`{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","logEvents":[{"id":"e1","timestamp":1796601900000,"message":"hi"}]}`))
	_ = zw.Close()
	envelope := stream.AppendEnvelope(nil, "ids", "x", arrival, []byte(`{"alert":1}`))
	var sluiceAgg kpl.Aggregator
	for range 20 {
		sluiceAgg.Add("k", "", envelope)
	}
	zstdRecord := newCompressor(1, 1<<20).compress(sluiceAgg.AppendTo(nil))

	for _, tc := range []struct {
		name   string
		src    Source
		data   []byte
		want   []string
		errHas string
	}{
		{"json", Source{Format: FormatJSON, Type: "app"}, []byte(`{"message":"x"}` + "\n"), []string{"app " + at + ` {"message":"x"}`}, ""},
		{"json, type from a nested field", Source{Format: FormatJSON, Type: "app", TypeField: "event.dataset"},
			[]byte(`{"event":{"dataset":"waf"}}`), []string{"waf " + at + ` {"event":{"dataset":"waf"}}`}, ""},
		{"json, a type field that is no log type", Source{Format: FormatJSON, Type: "app", TypeField: "t"},
			[]byte(`{"t":"Not A Type"}`), []string{"app " + at + ` {"t":"Not A Type"}`}, ""},
		{"json, a KPL aggregate of objects", Source{Format: FormatJSON, Type: "app", TypeField: "event.dataset"}, foreignAgg,
			[]string{"app " + at + ` {"m":1}`, "zeek " + at + ` {"m":2,"event":{"dataset":"zeek"}}`}, ""},
		{"json, not an object", Source{Format: FormatJSON, Type: "app"}, []byte(`["a"]`), nil, "not a JSON object"},
		{"json, too deep", Source{Format: FormatJSON, Type: "app"}, []byte(strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200)), nil, "json record"},
		{"raw", Source{Format: FormatRaw, Type: "fw"}, []byte("<4>kernel: DROP \"x\"\r\n"), []string{"fw " + at + ` {"message":"<4>kernel: DROP \"x\""}`}, ""},
		{"raw, invalid UTF-8", Source{Format: FormatRaw, Type: "fw"}, []byte("a\xffb"), []string{"fw " + at + ` {"message":"a` + "\uFFFD" + `b"}`}, ""},
		{"auto: a JSON object", Source{Format: FormatAuto, Type: "app"}, []byte(`{"a":1}`), []string{"app " + at + ` {"a":1}`}, ""},
		{"auto: a line", Source{Format: FormatAuto, Type: "app"}, []byte("{not json"), []string{"app " + at + ` {"message":"{not json"}`}, ""},
		{"auto: a sluice envelope", Source{Format: FormatAuto, Type: "app"}, envelope, []string{"ids " + at + ` {"alert":1}`}, ""},
		{"auto: sluice's compressed aggregate", Source{Format: FormatAuto, Type: "app"}, zstdRecord, nil, ""},
		{"auto: a foreign aggregate", Source{Format: FormatAuto, Type: "app"}, foreignAgg, []string{"app " + at + ` {"m":1}`, "app " + at + ` {"m":2,"event":{"dataset":"zeek"}}`}, ""},
		{"auto: CloudWatch Logs", Source{Format: FormatAuto, Type: "vpcflow"}, gz.Bytes(), nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := envelopes(t, newForeignDecoder(tc.src, unzstd), tc.data)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("error %v, want one saying %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch tc.name {
			case "auto: sluice's compressed aggregate":
				if len(got) != 20 || !strings.HasPrefix(got[0], "ids ") {
					t.Fatalf("%d events: %v", len(got), got[:min(2, len(got))])
				}
				return
			case "auto: CloudWatch Logs":
				if len(got) != 1 || !strings.HasPrefix(got[0], "vpcflow 2026-12-07T00:05:00Z ") || !strings.Contains(got[0], `"message":"hi"`) {
					t.Fatalf("%v", got)
				}
				return
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// FuzzForeignRecords: whatever a record holds, decoding it in each format never
// panics, and every user record it gives is an envelope of a valid log type.
func FuzzForeignRecords(f *testing.F) {
	for _, s := range []string{`{"a":1}`, "line\n", "\x1f\x8b", "\x28\xb5\x2f\xfd", kpl.Magic + "x", `{"v":1,"type":"a"}`, `{"event":{"dataset":"x"}}`} {
		f.Add([]byte(s))
	}
	unzstd := &decompressor{max: 1 << 20}
	decoders := []*foreignDecoder{
		newForeignDecoder(Source{Format: FormatJSON, Type: "j", TypeField: "event.dataset"}, unzstd),
		newForeignDecoder(Source{Format: FormatRaw, Type: "r"}, unzstd),
		newForeignDecoder(Source{Format: FormatAuto, Type: "a", TypeField: "t", MaxDecompressedBytes: 1 << 20}, unzstd),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range decoders {
			users, _, err := d.decode("k", data, arrival)
			if err != nil {
				continue
			}
			for _, u := range users {
				if u.Data == nil {
					continue // a CloudWatch control message's place
				}
				if d.format == FormatAuto && !isGzip(data) && (IsCompressed(data) || isEnvelope(data) || kpl.IsAggregated(data)) {
					continue // sluice's own records pass as they are
				}
				env, err := stream.ParseEnvelope(u.Data)
				if err != nil || !stream.ValidType(env.Type) {
					t.Fatalf("%s: %q made %q: %v", d.format, data, u.Data, err)
				}
			}
		}
	})
}

func TestForeignSourceValidate(t *testing.T) {
	for _, tc := range []struct {
		src  Source
		want string // "" for valid
	}{
		{Source{Format: FormatJSON, Type: "app", TypeField: "event.dataset"}, ""},
		{Source{Format: FormatAuto, Type: "app"}, ""},
		{Source{Format: FormatRaw, Type: "app"}, ""},
		{Source{Format: "csv", Type: "app"}, "want cloudwatch_logs, json, raw or auto"},
		{Source{Format: FormatRaw, Type: "app", TypeField: "t"}, "only for the formats json and auto"},
		{Source{Format: FormatJSON, Type: "app", TypeField: "event..dataset"}, "not a field name"},
		{Source{Format: FormatJSON, Type: "Bad Type"}, "want a log type"},
	} {
		var errs []string
		tc.src.validate("s.", func(path, format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) })
		got := strings.Join(errs, "; ")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%+v: %q, want %q", tc.src, got, tc.want)
		}
	}
}
