package kpl_test

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	kplv1 "github.com/sluice-siem/sluice/proto/sluice/kpl/v1"
	"github.com/sluice-siem/sluice/stream/kinesis/kpl"
)

// userRec is what a test adds to an Aggregator.
type userRec struct {
	pk, ehk string
	data    []byte
}

// randomRecords returns n user records with keys drawn from a small pool (so that the
// key tables dedupe), some explicit hash keys, empty and large data, and data that starts
// with the magic bytes.
func randomRecords(r *rand.Rand, n, maxData int) []userRec {
	pool := make([]string, 1+r.IntN(8))
	for i := range pool {
		pool[i] = randomKey(r)
	}
	out := make([]userRec, n)
	for i := range out {
		u := userRec{pk: pool[r.IntN(len(pool))]}
		if r.IntN(3) == 0 {
			u.pk = randomKey(r)
		}
		if r.IntN(4) == 0 {
			u.ehk = strconv.FormatUint(r.Uint64(), 10) + strconv.FormatUint(r.Uint64()%1e18, 10)
		}
		size := r.IntN(64)
		switch r.IntN(10) {
		case 0:
			size = 0
		case 1:
			size = r.IntN(maxData + 1)
		}
		u.data = make([]byte, size)
		for j := range u.data {
			u.data[j] = byte(r.UintN(256))
		}
		if r.IntN(10) == 0 && size >= 4 {
			copy(u.data, kpl.Magic)
		}
		out[i] = u
	}
	return out
}

// randomKey returns a partition key of 1 to 256 characters, ASCII or not.
func randomKey(r *rand.Rand) string {
	n := 1 + r.IntN(256)
	if r.IntN(2) == 0 {
		n = 1 + r.IntN(12)
	}
	var sb strings.Builder
	for range n {
		if r.IntN(8) == 0 {
			sb.WriteRune(rune(0x80 + r.IntN(0x2000)))
		} else {
			sb.WriteByte(byte('!' + r.IntN(94)))
		}
	}
	return sb.String()
}

// generated returns the same aggregated record as the published messages hold it.
func generated(recs []userRec) *kplv1.AggregatedRecord {
	m := &kplv1.AggregatedRecord{}
	pks, ehks := map[string]uint64{}, map[string]uint64{}
	for _, u := range recs {
		if _, ok := pks[u.pk]; !ok {
			pks[u.pk] = uint64(len(m.PartitionKeyTable))
			m.PartitionKeyTable = append(m.PartitionKeyTable, u.pk)
		}
		rec := &kplv1.Record{PartitionKeyIndex: proto.Uint64(pks[u.pk]), Data: u.data}
		if rec.Data == nil {
			rec.Data = []byte{}
		}
		if u.ehk != "" {
			if _, ok := ehks[u.ehk]; !ok {
				ehks[u.ehk] = uint64(len(m.ExplicitHashKeyTable))
				m.ExplicitHashKeyTable = append(m.ExplicitHashKeyTable, u.ehk)
			}
			rec.ExplicitHashKeyIndex = proto.Uint64(ehks[u.ehk])
		}
		m.Records = append(m.Records, rec)
	}
	return m
}

// TestAggregateRoundTrip is the format's property test: for random user records,
// aggregate then de-aggregate is the identity, the size the Aggregator predicts is the
// size it writes, and the bytes are those a deterministic protobuf encoder writes for
// the published messages.
func TestAggregateRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 1000 {
		recs := randomRecords(r, 1+r.IntN(60), 4096)
		var a kpl.Aggregator
		if iter%2 == 1 {
			// Reuse after Reset must behave like a fresh Aggregator.
			for _, u := range randomRecords(r, 5, 10) {
				a.Add(u.pk, u.ehk, u.data)
			}
			a.Reset()
		}
		for i, u := range recs {
			want := a.SizeWith(u.pk, u.ehk, len(u.data))
			a.Add(u.pk, u.ehk, u.data)
			if got := a.Size(); got != want {
				t.Fatalf("iter %d record %d: SizeWith said %d, Size after Add is %d", iter, i, want, got)
			}
		}
		data := a.AppendTo([]byte("prefix"))
		data = data[len("prefix"):]
		if got, want := len(data)+len(a.PartitionKey()), a.Size(); got != want {
			t.Fatalf("iter %d: wrote %d bytes plus key, Size says %d", iter, got, want)
		}
		if a.PartitionKey() != recs[0].pk || a.ExplicitHashKey() != recs[0].ehk {
			t.Fatalf("iter %d: record keys %q/%q, want the first user record's %q/%q", iter, a.PartitionKey(), a.ExplicitHashKey(), recs[0].pk, recs[0].ehk)
		}

		got, err := kpl.Deaggregate(a.PartitionKey(), data)
		if err != nil {
			t.Fatalf("iter %d: Deaggregate: %v", iter, err)
		}
		if len(got) != len(recs) {
			t.Fatalf("iter %d: %d user records back, want %d", iter, len(got), len(recs))
		}
		for i, u := range got {
			w := recs[i]
			if u.PartitionKey != w.pk || u.ExplicitHashKey != w.ehk || !bytes.Equal(u.Data, w.data) || u.SubSequence != i || !u.Aggregated {
				t.Fatalf("iter %d record %d: got %+v, want pk %q ehk %q data %d bytes", iter, i, u, w.pk, w.ehk, len(w.data))
			}
		}

		// The published messages agree, both ways.
		msg := data[len(kpl.Magic) : len(data)-md5.Size]
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(generated(recs))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(msg, want) {
			t.Fatalf("iter %d: message differs from the generated code's encoding", iter)
		}
		var back kplv1.AggregatedRecord
		if err := proto.Unmarshal(msg, &back); err != nil {
			t.Fatalf("iter %d: generated code cannot read the message: %v", iter, err)
		}
		if !proto.Equal(&back, generated(recs)) {
			t.Fatalf("iter %d: generated code reads a different record", iter)
		}
	}
}

func TestPlainRecordPassesThrough(t *testing.T) {
	for _, data := range [][]byte{nil, {}, []byte(`{"v":1}`), []byte(kpl.Magic[:3])} {
		got, err := kpl.Deaggregate("key", data)
		if err != nil {
			t.Fatalf("Deaggregate(%q): %v", data, err)
		}
		if len(got) != 1 || got[0].PartitionKey != "key" || !bytes.Equal(got[0].Data, data) || got[0].Aggregated || got[0].SubSequence != 0 {
			t.Fatalf("Deaggregate(%q) = %+v, want the record itself", data, got)
		}
	}
	if !kpl.NeedsWrapping([]byte(kpl.Magic+"x")) || kpl.NeedsWrapping([]byte("{}")) {
		t.Error("NeedsWrapping must hold exactly for data starting with the magic bytes")
	}
}

// wrap makes an aggregated record of any message bytes, with a correct digest.
func wrap(msg []byte) []byte {
	sum := md5.Sum(msg)
	return append(append([]byte(kpl.Magic), msg...), sum[:]...)
}

func TestDeaggregateCorrupt(t *testing.T) {
	var a kpl.Aggregator
	a.Add("k1", "", []byte("one"))
	a.Add("k2", "", []byte("two"))
	good := a.AppendTo(nil)

	flipped := slices.Clone(good)
	flipped[len(kpl.Magic)+3] ^= 1

	rec := func(fields ...[]byte) []byte {
		body := slices.Concat(fields...)
		b := protowire.AppendTag(nil, 3, protowire.BytesType)
		return protowire.AppendBytes(b, body)
	}
	varint := func(num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
	}
	bytesField := func(num protowire.Number, v string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), v)
	}
	table := bytesField(1, "key")

	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		{"magic only", "shorter than magic and digest", []byte(kpl.Magic)},
		{"short", "shorter than magic and digest", []byte(kpl.Magic + "0123456789")},
		{"digest mismatch", "MD5 digest does not match", flipped},
		{"truncated", "MD5 digest does not match", good[:len(good)-1]},
		{"bad varint", "field 1: unexpected EOF", wrap([]byte{0x08, 0xff})},
		{"truncated bytes", "partition key table", wrap([]byte{0x0a, 0x05, 'a'})},
		{"no data", "required data missing", wrap(slices.Concat(table, rec(varint(1, 0))))},
		{"no key index", "required partition_key_index missing", wrap(slices.Concat(table, rec(bytesField(3, "d"))))},
		{"key index out of range", "partition key index 1, table has 1 keys", wrap(slices.Concat(table, rec(varint(1, 1), bytesField(3, "d"))))},
		{"hash key index out of range", "explicit hash key index 0, table has 0 keys", wrap(slices.Concat(table, rec(varint(1, 0), varint(2, 0), bytesField(3, "d"))))},
		{"tag without key", "tag: required key missing", wrap(slices.Concat(table, rec(varint(1, 0), bytesField(3, "d"), bytesField(4, ""))))},
	} {
		got, err := kpl.Deaggregate("k", tc.data)
		if err == nil {
			t.Errorf("%s: Deaggregate = %v, want an error", tc.name, got)
			continue
		}
		if !errors.Is(err, kpl.ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want ErrCorrupt mentioning %q", tc.name, err, tc.want)
		}
	}

	// Unknown fields, known fields of another wire type and a tag with a key are
	// skipped, as proto2 decoders do.
	ok := wrap(slices.Concat(varint(9, 7), table, bytesField(1, "other"),
		rec(varint(1, 1), protowire.AppendFixed32(protowire.AppendTag(nil, 3, protowire.Fixed32Type), 1), bytesField(3, "d"),
			protowire.AppendBytes(protowire.AppendTag(nil, 4, protowire.BytesType), bytesField(1, "tag"))),
		varint(3, 1)))
	got, err := kpl.Deaggregate("k", ok)
	if err != nil {
		t.Fatalf("record with unknown fields: %v", err)
	}
	if len(got) != 1 || got[0].PartitionKey != "other" || string(got[0].Data) != "d" {
		t.Fatalf("record with unknown fields = %+v", got)
	}
}

// FuzzDeaggregate checks that Deaggregate never panics, agrees with the generated
// protobuf code on which messages are well formed, and that what it accepts survives
// another aggregation round trip.
func FuzzDeaggregate(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 8 {
		var a kpl.Aggregator
		for _, u := range randomRecords(r, 1+r.IntN(5), 64) {
			a.Add(u.pk, u.ehk, u.data)
		}
		f.Add(a.AppendTo(nil))
	}
	f.Add([]byte(`{"v":1,"type":"fw"}`))
	f.Add([]byte(kpl.Magic))
	f.Add(wrap(nil))
	f.Add(wrap([]byte{0x1a, 0x02, 0x08, 0x00}))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := kpl.Deaggregate("outer", data)
		if !kpl.IsAggregated(data) {
			if err != nil || len(got) != 1 || !bytes.Equal(got[0].Data, data) {
				t.Fatalf("plain record: %v, %v", got, err)
			}
			return
		}
		// The generated code's verdict on the same message.
		var want error
		var m kplv1.AggregatedRecord
		switch {
		case len(data) < kpl.Overhead:
			want = errors.New("short")
		default:
			msg := data[len(kpl.Magic) : len(data)-md5.Size]
			sum := md5.Sum(msg)
			if !bytes.Equal(sum[:], data[len(data)-md5.Size:]) {
				want = errors.New("digest")
			} else if want = proto.Unmarshal(msg, &m); want == nil {
				for _, rec := range m.Records {
					if rec.GetPartitionKeyIndex() >= uint64(len(m.PartitionKeyTable)) ||
						(rec.ExplicitHashKeyIndex != nil && rec.GetExplicitHashKeyIndex() >= uint64(len(m.ExplicitHashKeyTable))) {
						want = errors.New("index")
					}
				}
			}
		}
		if (err == nil) != (want == nil) {
			t.Fatalf("Deaggregate error %v, generated code says %v", err, want)
		}
		if err != nil {
			if !errors.Is(err, kpl.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if len(got) != len(m.Records) {
			t.Fatalf("%d user records, generated code reads %d", len(got), len(m.Records))
		}
		for i, u := range got {
			rec := m.Records[i]
			if u.PartitionKey != m.PartitionKeyTable[rec.GetPartitionKeyIndex()] || !bytes.Equal(u.Data, rec.Data) {
				t.Fatalf("record %d differs from the generated code's reading", i)
			}
		}
		if len(got) == 0 {
			return
		}
		var a kpl.Aggregator
		for _, u := range got {
			a.Add(u.PartitionKey, u.ExplicitHashKey, u.Data)
		}
		again, err := kpl.Deaggregate(a.PartitionKey(), a.AppendTo(nil))
		if err != nil {
			t.Fatalf("re-aggregated record: %v", err)
		}
		for i := range got {
			g, w := again[i], got[i]
			if g.PartitionKey != w.PartitionKey || g.ExplicitHashKey != w.ExplicitHashKey || !bytes.Equal(g.Data, w.Data) {
				t.Fatalf("record %d changed in a second round trip: %+v, want %+v", i, g, w)
			}
		}
	})
}

func ExampleAggregator() {
	var a kpl.Aggregator
	for i, host := range []string{"fw-1", "fw-2", "fw-1"} {
		a.Add(host, "", []byte(fmt.Sprintf(`{"n":%d}`, i)))
	}
	data := a.AppendTo(nil)
	recs, _ := kpl.Deaggregate(a.PartitionKey(), data)
	for _, r := range recs {
		fmt.Println(r.SubSequence, r.PartitionKey, string(r.Data))
	}
	// Output:
	// 0 fw-1 {"n":0}
	// 1 fw-2 {"n":1}
	// 2 fw-1 {"n":2}
}
