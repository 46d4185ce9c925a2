package archive

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/transform/pipeline/samples"
)

var update = flag.Bool("update", false, "rewrite deploy/glue/documents_*.sql from the Parquet columns")

// TestGlueTables checks the Athena tables shipped in deploy/glue against the keys
// this package writes: two tables per sample log type (raw NDJSON events, Parquet
// documents), whose projected partitions name exactly the directories of the objects
// (default prefix), for every hour of a day, and whose objects Athena decompresses by
// their ending. The Parquet tables' columns are the schema's (with -update, this test
// writes them).
func TestGlueTables(t *testing.T) {
	pipelines, err := samples.Pipelines()
	if err != nil {
		t.Fatal(err)
	}
	prop := func(ddl, name string) string {
		m := regexp.MustCompile(`'` + regexp.QuoteMeta(name) + `' = '([^']*)'`).FindStringSubmatch(ddl)
		if m == nil {
			return ""
		}
		return m[1]
	}
	prefix := DefaultConfig().Prefix
	var files []string
	for typ := range pipelines {
		files = append(files, "raw_"+typ+".sql", "documents_"+typ+".sql")
		docs := filepath.Join("..", "..", "deploy", "glue", "documents_"+typ+".sql")
		want := documentsDDL(t, typ)
		if *update {
			if err := os.WriteFile(docs, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := os.ReadFile(docs); err != nil || string(got) != want {
			t.Errorf("%s is not the table of the Parquet columns (%v): run go test ./sink/archive -run TestGlueTables -update", docs, err)
		}
	}
	for _, name := range files {
		typ := strings.TrimSuffix(name[strings.Index(name, "_")+1:], ".sql")
		table := "sluice_" + strings.TrimSuffix(name, ".sql")
		path := filepath.Join("..", "..", "deploy", "glue", name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("sample log type %s has no Athena table: %v", typ, err)
			continue
		}
		ddl := string(data)
		if !strings.Contains(ddl, "CREATE EXTERNAL TABLE IF NOT EXISTS "+table+" (") {
			t.Errorf("%s: the table is not %s", path, table)
		}
		props := map[string]string{
			"projection.enabled": "true", "projection.dt.type": "date", "projection.dt.format": "yyyy-MM-dd",
			"projection.hour.type": "integer", "projection.hour.range": "0,23", "projection.hour.digits": "2",
		}
		if strings.HasPrefix(name, "raw_") {
			props["mapping.ts"], props["mapping.sluice"] = "@timestamp", "_sluice"
		}
		for name, want := range props {
			if got := prop(ddl, name); got != want {
				t.Errorf("%s: %s = %q, want %q", path, name, got, want)
			}
		}
		tmpl := prop(ddl, "storage.location.template")
		loc := regexp.MustCompile(`LOCATION '([^']*)'`).FindStringSubmatch(ddl)
		if loc == nil || !strings.HasPrefix(tmpl, loc[1]) {
			t.Errorf("%s: LOCATION %v is not the start of the location template %q", path, loc, tmpl)
		}
		for h := range 24 {
			at := time.Date(2026, 12, 6, h, 30, 0, 0, time.UTC)
			key := objectKey(prefix, partition(typ, at), "firewall-stream", "shardId-000000000001", pos{seq: "49", sub: -1}, pos{seq: "50", sub: 3}, extension(CompressionZstd))
			if strings.HasPrefix(name, "documents_") {
				key = objectKey(prefix, partition(typ, at), "s", "shardId-000000000001", pos{seq: "49", sub: -1}, pos{seq: "50", sub: -1}, Config{Format: FormatParquet}.ending())
			}
			dir := "s3://BUCKET/" + key[:strings.LastIndex(key, "/")+1]
			got := strings.NewReplacer("${dt}", at.Format("2006-01-02"), "${hour}", at.Format("15")).Replace(tmpl)
			if got != dir {
				t.Fatalf("%s: the partition of %v is %q, the archive writes to %q", path, at, got, dir)
			}
		}
	}
	// Athena reads zstd text files by the .zst ending, gzip by .gz.
	if !strings.HasSuffix(extension(CompressionZstd), ".zst") || !strings.HasSuffix(extension(CompressionGzip), ".gz") {
		t.Errorf("object endings %q %q: Athena picks the codec by .zst and .gz", extension(CompressionZstd), extension(CompressionGzip))
	}
}

// documentsDDL is the Athena table of typ's Parquet documents.
func documentsDDL(t *testing.T, typ string) string {
	t.Helper()
	s, err := newParquetSchema(typ, nil)
	if err != nil {
		t.Fatal(err)
	}
	athena := map[string]string{colString: "string", colLong: "bigint", colDouble: "double", colBoolean: "boolean", colTimestamp: "timestamp"}
	var cols []string
	for _, c := range s.cols {
		cols = append(cols, fmt.Sprintf("  `%s` %s COMMENT '%s'", c.name, athena[c.kind], c.field))
	}
	cols = append(cols,
		"  `id` string COMMENT 'the document id: the event''s identity, or its stream position'",
		"  `position` string COMMENT 'stream/shard/sequence[/sub-sequence]'",
		"  `received` timestamp COMMENT 'when the gateway accepted the event'",
		"  `document` string COMMENT 'the whole document, JSON'")
	return fmt.Sprintf(`-- Athena table over the archive's %[1]s documents in Parquet (sink.archive with
-- format: parquet, content: document), one row per document: a column for each
-- shared ECS field and each of the type's own (sink/archive/parquet.go; lists and
-- objects as JSON text), and the whole document as JSON in document. Partitions are
-- projected from the keys. Replace BUCKET (and the prefix "sluice", if
-- sink.archive.prefix differs), then run it in the Athena query editor (engine
-- version 3). Written by go test ./sink/archive -run TestGlueTables -update.
CREATE EXTERNAL TABLE IF NOT EXISTS sluice_documents_%[1]s (
%[2]s
)
PARTITIONED BY (dt string, hour string)
STORED AS PARQUET
LOCATION 's3://BUCKET/sluice/type=%[1]s/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = 'NOW-5YEARS,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.hour.type' = 'integer',
  'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' = 's3://BUCKET/sluice/type=%[1]s/dt=${dt}/hour=${hour}/'
);
`, typ, strings.Join(cols, ",\n"))
}
