package archive

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// pos is a record's place in its shard: its sequence number (a decimal string) and,
// for a user record of a KPL aggregated record, its sub-sequence (else -1).
type pos struct {
	seq string
	sub int
}

// parsePosition reads a sink.Document's Position, stream/shard/sequence with
// /sub-sequence for a user record of an aggregated record.
func parsePosition(p string) (streamName, shard string, at pos, err error) {
	parts := strings.Split(p, "/")
	if len(parts) != 3 && len(parts) != 4 {
		return "", "", pos{}, fmt.Errorf("position %q: want stream/shard/sequence[/sub-sequence]", p)
	}
	at = pos{seq: parts[2], sub: -1}
	if !isDigits(at.seq) || parts[0] == "" || parts[1] == "" {
		return "", "", pos{}, fmt.Errorf("position %q: want stream/shard/sequence[/sub-sequence]", p)
	}
	if len(parts) == 4 {
		n, err := strconv.Atoi(parts[3])
		if err != nil || n < 0 {
			return "", "", pos{}, fmt.Errorf("position %q: bad sub-sequence", p)
		}
		at.sub = n
	}
	return parts[0], parts[1], at, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// cmp orders positions in their shard: by sequence number (as a number), then
// sub-sequence.
func (a pos) cmp(b pos) int {
	x, y := strings.TrimLeft(a.seq, "0"), strings.TrimLeft(b.seq, "0")
	if len(x) != len(y) {
		return len(x) - len(y)
	}
	if c := strings.Compare(x, y); c != 0 {
		return c
	}
	return a.sub - b.sub
}

// String is the position as a key writes it: the sequence number, and _sub-sequence
// for a user record of an aggregated record.
func (a pos) String() string {
	if a.sub < 0 {
		return a.seq
	}
	return a.seq + "_" + strconv.Itoa(a.sub)
}

// parseKeyPos reads a position written by String.
func parseKeyPos(s string) (pos, bool) {
	seq, sub, agg := strings.Cut(s, "_")
	if !isDigits(seq) {
		return pos{}, false
	}
	p := pos{seq: seq, sub: -1}
	if agg {
		n, err := strconv.Atoi(sub)
		if err != nil || n < 0 {
			return pos{}, false
		}
		p.sub = n
	}
	return p, true
}

// partition is the Hive-style partition of an event received at t (UTC), as Athena's
// and Glue's partition projection read it: type=<type>/dt=YYYY-MM-DD/hour=HH.
func partition(typ string, t time.Time) string {
	t = t.UTC()
	return "type=" + typ + "/dt=" + t.Format("2006-01-02") + "/hour=" + t.Format("15")
}

// extension is the ending of an NDJSON object's name for a compression.
func extension(compression string) string {
	if compression == CompressionGzip {
		return ".ndjson.gz"
	}
	return ".ndjson.zst"
}

// ending is the ending of the names of c's objects: .parquet, or the NDJSON
// compression's.
func (c Config) ending() string {
	if c.Format == FormatParquet {
		return ".parquet"
	}
	return extension(c.Compression)
}

// keyStart is the key of an object up to its last position: every object of the
// partition's shard that begins at first has a key beginning with it.
//
//	<prefix>/type=<type>/dt=YYYY-MM-DD/hour=HH/<stream>-<shard>-<first>-
func keyStart(prefix, part, streamName, shard string, first pos) string {
	return shardPrefix(prefix, part, streamName, shard) + first.String() + "-"
}

// shardPrefix is the beginning of the keys of a shard's objects in a partition:
// <prefix>/<part>/<stream>-<shard>-.
func shardPrefix(prefix, part, streamName, shard string) string {
	if prefix != "" {
		prefix += "/"
	}
	return prefix + part + "/" + streamName + "-" + shard + "-"
}

// objectKey is the key of the object holding the events from first to last of a
// shard in one partition: the same events always make the same key, so writing them
// again overwrites the object.
func objectKey(prefix, part, streamName, shard string, first, last pos, ending string) string {
	return keyStart(prefix, part, streamName, shard, first) + last.String() + ending
}

// lastOfKey reads the last position of a key that begins with start and ends with
// ending, as objectKey wrote it.
func lastOfKey(key, start, ending string) (pos, bool) {
	rest, ok := strings.CutPrefix(key, start)
	if !ok {
		return pos{}, false
	}
	rest, ok = strings.CutSuffix(rest, ending)
	if !ok {
		return pos{}, false
	}
	return parseKeyPos(rest)
}
