package archive

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/internal/bytesize"
)

func TestObjectKey(t *testing.T) {
	recv := time.Date(2026, 12, 6, 7, 59, 0, 0, time.FixedZone("CET", 3600))
	part := partition("firewall", recv)
	if part != "type=firewall/dt=2026-12-06/hour=06" {
		t.Fatalf("partition = %q", part)
	}
	first := pos{seq: "4959", sub: -1}
	last := pos{seq: "4961", sub: 3}
	key := objectKey("lake/raw", part, "siem-firewall", "shardId-000000000001", first, last, extension(CompressionZstd))
	want := "lake/raw/type=firewall/dt=2026-12-06/hour=06/siem-firewall-shardId-000000000001-4959-4961_3.ndjson.zst"
	if key != want {
		t.Fatalf("key = %q, want %q", key, want)
	}
	if k := objectKey("", part, "s", "sh", first, first, extension(CompressionGzip)); k != "type=firewall/dt=2026-12-06/hour=06/s-sh-4959-4959.ndjson.gz" {
		t.Fatalf("key without prefix = %q", k)
	}
	sp := shardPrefix("lake/raw", part, "siem-firewall", "shardId-000000000001")
	if sp != "lake/raw/type=firewall/dt=2026-12-06/hour=06/siem-firewall-shardId-000000000001-" {
		t.Fatalf("shardPrefix = %q", sp)
	}
	f, l, ok := rangeOfKey(key, sp, extension(CompressionZstd))
	if !ok || f != first || l != last {
		t.Fatalf("rangeOfKey = %v %v %v", f, l, ok)
	}
	if _, _, ok := rangeOfKey(key, sp, extension(CompressionGzip)); ok {
		t.Fatal("rangeOfKey read a key of another compression")
	}
}

func TestPositions(t *testing.T) {
	st, sh, at, err := parsePosition("siem-ids/shardId-000000000000/49590338271490256608559692538361571095921575989136588898/7")
	if err != nil || st != "siem-ids" || sh != "shardId-000000000000" || at.sub != 7 {
		t.Fatalf("parsePosition = %q %q %v %v", st, sh, at, err)
	}
	for _, bad := range []string{"", "a/b", "a/b/x1", "a/b/1/-1", "/b/1", "a/b/1/2/3"} {
		if _, _, _, err := parsePosition(bad); err == nil {
			t.Errorf("parsePosition(%q) accepted", bad)
		}
	}
	ordered := []pos{{"9", -1}, {"10", -1}, {"10", 0}, {"10", 1}, {"0011", -1}, {"100", -1}}
	for i := range ordered {
		for j := range ordered {
			got := ordered[i].cmp(ordered[j])
			if (i < j && got >= 0) || (i > j && got <= 0) || (i == j && got != 0) {
				t.Errorf("cmp(%v, %v) = %d", ordered[i], ordered[j], got)
			}
		}
		if p, ok := parseKeyPos(ordered[i].String()); !ok || p.cmp(ordered[i]) != 0 {
			t.Errorf("parseKeyPos(%q) = %v %v", ordered[i].String(), p, ok)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults without a bucket (archive off): %v", err)
	}
	c := DefaultConfig()
	c.Bucket = "siem-archive"
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults with a bucket: %v", err)
	}
	c.Bucket = "a/b"
	c.Prefix = "/x/"
	c.Endpoint = "localhost:9000"
	c.Content = "parquet"
	c.Compression = "lz4"
	c.Types = []string{"firewall", "firewall", "Bad Type"}
	c.MaxObjectBytes = 10
	c.MaxObjectRecords = -1
	c.MaxObjectRecordBytes = -1
	c.MaxAge = 2 * time.Hour
	c.PartSize = bytesize.MiB
	c.MaxBufferedBytes = 0
	c.UploadTimeout = 0
	c.RetryBase = time.Second
	c.RetryMax = time.Millisecond
	err := c.Validate()
	for _, want := range []string{"bucket:", "prefix:", "endpoint:", "content:", "compression:", "types[1]:", "types[2]:",
		"max_object_bytes:", "max_object_records:", "max_object_record_bytes:", "max_age:", "part_size:", "max_buffered_bytes:", "upload_timeout:", "retry_base, retry_max:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want a problem with %s", err, want)
		}
	}
}

func TestArchivesTypes(t *testing.T) {
	c := DefaultConfig()
	if !c.archives("firewall") || c.archives("_dead_letter") {
		t.Fatal("empty types: every log type, never dead letters")
	}
	c.Types = []string{"ids"}
	if c.archives("firewall") || !c.archives("ids") {
		t.Fatal("types: only those listed")
	}
}
