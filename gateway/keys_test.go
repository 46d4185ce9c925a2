package gateway

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// TestRandomKeys: random partition keys are 16 hex digits, distinct, spread evenly
// over shards as Kinesis maps them (the MD5 of the key, here the top two bits: four
// shards of equal ranges), and a batch with few events left makes no more keys than
// it takes.
func TestRandomKeys(t *testing.T) {
	const n = 8000
	var keys randomKeys
	seen := map[string]bool{}
	var shards [4]int
	for i := range n {
		k := keys.next(n - i)
		if len(k) != randomKeyLen {
			t.Fatalf("key %q: %d characters, want %d", k, len(k), randomKeyLen)
		}
		if _, err := hex.DecodeString(k); err != nil {
			t.Fatalf("key %q: not hex", k)
		}
		if seen[k] {
			t.Fatalf("key %q handed out twice", k)
		}
		seen[k] = true
		sum := md5.Sum([]byte(k))
		shards[binary.BigEndian.Uint64(sum[:8])>>62]++
	}
	// Each shard's count is binomial (8000, 1/4): mean 2000, standard deviation 39.
	for s, c := range shards {
		if c < 1800 || c > 2200 {
			t.Errorf("shard %d got %d of %d keys, want about 2000: %v", s, c, n, shards)
		}
	}
	var small randomKeys
	small.next(3)
	if left := len(small.block) / randomKeyLen; left != 2 {
		t.Errorf("a batch with 3 events left made %d keys beyond the first, want 2", left)
	}
}
