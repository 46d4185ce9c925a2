package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"

	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/transform/pipeline"
	"github.com/sluice-siem/sluice/transform/pipeline/samples"
)

// TestParquetObjects archives documents as Parquet into the S3 test server and reads
// the object back with parquet-go's reader: one row per document, the typed columns
// of the shared and the type's fields, the fixed ones, and null where a document has
// no value (or one that does not convert).
func TestParquetObjects(t *testing.T) {
	for _, compression := range []string{CompressionZstd, CompressionGzip} {
		t.Run(compression, func(t *testing.T) {
			a, c := newArchive(t, func(cfg *Config) {
				cfg.Format, cfg.Content, cfg.Compression = FormatParquet, ContentDocument, compression
				cfg.Parquet.Columns = map[string][]string{"firewall": {"labels.site", "iptables.ttl:long"}}
				cfg.Parquet.RowGroupBytes = 1024 // several row groups
			}, Options{})
			var ds []sink.Document
			for i := 1; i <= 40; i++ {
				body := fmt.Sprintf(`{"@timestamp":"2026-12-06T10:15:%02d.5Z","message":"drop %d","event":{"category":["network"],"action":"drop"},`+
					`"source":{"ip":"203.0.113.%d","port":%d},"iptables":{"ttl":%d},"labels.site":"par-%d"}`, i, i, i, 50000+i, 40+i, i)
				if i == 7 {
					body = `{"message":"odd","source":{"port":"not a number"}}`
				}
				pos := fmt.Sprintf("siem-firewall/shardId-000000000000/%020d", i)
				ds = append(ds, sink.Document{Type: "firewall", Time: received, ID: fmt.Sprintf("id-%d", i), Position: pos, Body: []byte(body),
					Original: stream.AppendEnvelope(nil, "firewall", "", received, []byte(`{"message":"x"}`))})
			}
			if err := NewTee(nil, a).Write(context.Background(), ds); err != nil {
				t.Fatal(err)
			}
			list, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(a.cfg.Bucket)})
			if err != nil || len(list.Contents) != 1 {
				t.Fatalf("objects %v %v, want one", list, err)
			}
			key := aws.ToString(list.Contents[0].Key)
			if !strings.HasSuffix(key, "-00000000000000000001-00000000000000000040.parquet") {
				t.Fatalf("key %s", key)
			}
			obj, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(a.cfg.Bucket), Key: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(obj.Body)
			obj.Body.Close()
			if ct := aws.ToString(obj.ContentType); ct != "application/vnd.apache.parquet" {
				t.Errorf("content type %q", ct)
			}
			f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if f.NumRows() != 40 || len(f.RowGroups()) < 2 {
				t.Fatalf("%d rows in %d row groups, want 40 in several", f.NumRows(), len(f.RowGroups()))
			}
			rows := readRows(t, f)
			r1, r7 := rows[0], rows[6]
			for col, want := range map[string]any{
				"timestamp": time.Date(2026, 12, 6, 10, 15, 1, 500e6, time.UTC).UnixMilli(), "message": "drop 1",
				"source_ip": "203.0.113.1", "source_port": int64(50001), "iptables_ttl": int64(41),
				"event_category": `["network"]`, "event_action": "drop", "labels_site": "par-1",
				"id": "id-1", "position": "siem-firewall/shardId-000000000000/00000000000000000001", "received": received.UnixMilli(),
			} {
				if r1[col] != want {
					t.Errorf("row 1: %s = %#v, want %#v", col, r1[col], want)
				}
			}
			if r1["destination_ip"] != nil || r7["source_port"] != nil || r7["timestamp"] != nil || r7["message"] != "odd" {
				t.Errorf("nulls: destination_ip %#v, row 7 source_port %#v timestamp %#v message %#v", r1["destination_ip"], r7["source_port"], r7["timestamp"], r7["message"])
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(r7["document"].(string)), &doc); err != nil || doc["message"] != "odd" {
				t.Errorf("row 7 document %v %v", r7["document"], err)
			}
		})
	}
}

// readRows reads every row of f as column name -> value (nil for null).
func readRows(t *testing.T, f *parquet.File) []map[string]any {
	t.Helper()
	names := f.Schema().Columns()
	r := parquet.NewReader(f)
	defer r.Close()
	var out []map[string]any
	buf := make([]parquet.Row, 16)
	for {
		n, err := r.ReadRows(buf)
		for _, row := range buf[:n] {
			m := map[string]any{}
			for _, v := range row {
				name := names[v.Column()][0]
				switch {
				case v.IsNull():
					m[name] = nil
				case v.Kind() == parquet.Int64:
					m[name] = v.Int64()
				case v.Kind() == parquet.Boolean:
					m[name] = v.Boolean()
				case v.Kind() == parquet.Double:
					m[name] = v.Double()
				default:
					m[name] = string(v.ByteArray())
				}
			}
			out = append(out, m)
		}
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestTypeColumnsExist: every column of a sample type names a field that the type's
// sample documents (the expected documents of its test cases) carry, with a value
// that converts to the column's type, in at least one document.
func TestTypeColumnsExist(t *testing.T) {
	pipelines, err := samples.Pipelines()
	if err != nil {
		t.Fatal(err)
	}
	for typ := range pipelines {
		cols, ok := TypeColumns[typ]
		if !ok {
			t.Errorf("sample log type %s has no columns of its own in TypeColumns", typ)
			continue
		}
		tf, err := pipeline.LoadTestFile(samples.FS(), typ+".test.yaml", typ+".test.yaml")
		if err != nil {
			t.Fatal(err)
		}
		var docs []map[string]any
		for _, c := range tf.Cases {
			var v any
			if c.Expect.Kind == 0 || c.Expect.Decode(&v) != nil {
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				continue
			}
			if m, err := jsonx.DecodeObject(b); err == nil {
				docs = append(docs, m)
			}
		}
		for _, spec := range cols {
			field, kind, typed := strings.Cut(spec, ":")
			if !typed {
				kind = colString
			}
			found := false
			for _, d := range docs {
				if _, ok := columnValue(lookup(d, strings.Split(field, ".")), kind); ok {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s: no sample document (of %d) has %s as a %s", typ, len(docs), field, kind)
			}
		}
	}
}

func TestParquetConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Bucket, cfg.Format = "b", FormatParquet
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "set content: document") {
		t.Errorf("parquet of raw events: %v", err)
	}
	cfg.Content = ContentDocument
	if err := cfg.Validate(); err != nil {
		t.Fatalf("parquet of documents: %v", err)
	}
	for name, cols := range map[string][]string{
		"bad type":  {"a.b:int"},
		"not field": {"a..b"},
		"collision": {"source_ip"},
	} {
		cfg.Parquet.Columns = map[string][]string{"firewall": cols}
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s %v: no error", name, cols)
		}
	}
	cfg.Parquet.Columns = map[string][]string{"firewall": {"source.ip", "x.y:double"}}
	if err := cfg.Validate(); err != nil {
		t.Errorf("a shared field listed again, a new one: %v", err)
	}
	cfg.Format = "orc"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "ndjson or parquet") {
		t.Errorf("format orc: %v", err)
	}
}
