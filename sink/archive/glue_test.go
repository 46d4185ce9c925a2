package archive

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/transform/pipeline/samples"
)

// TestGlueTables checks the Athena tables shipped in deploy/glue against the keys
// this package writes: one table per sample log type, whose projected partitions
// name exactly the directories of the objects (default prefix), for every hour of a
// day, and whose objects Athena decompresses by their ending.
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
	for typ := range pipelines {
		path := filepath.Join("..", "..", "deploy", "glue", "raw_"+typ+".sql")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("sample log type %s has no Athena table: %v", typ, err)
			continue
		}
		ddl := string(data)
		if !strings.Contains(ddl, "CREATE EXTERNAL TABLE IF NOT EXISTS sluice_raw_"+typ+" (") {
			t.Errorf("%s: the table is not sluice_raw_%s", path, typ)
		}
		for name, want := range map[string]string{
			"projection.enabled": "true", "projection.dt.type": "date", "projection.dt.format": "yyyy-MM-dd",
			"projection.hour.type": "integer", "projection.hour.range": "0,23", "projection.hour.digits": "2",
			"mapping.ts": "@timestamp", "mapping.sluice": "_sluice",
		} {
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
			key := objectKey(prefix, partition(typ, at), "firewall-stream", "shardId-000000000001", pos{seq: "49", sub: -1}, pos{seq: "50", sub: 3}, CompressionZstd)
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
