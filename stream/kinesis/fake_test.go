package kinesis_test

import (
	"bytes"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeKinesis is a stand-in Kinesis endpoint for benchmarks only (tests use kinesalite):
// it answers ListShards with equal hash ranges and PutRecords by counting, optionally
// enforcing per-shard write limits in one-second windows as a shard does, failing the
// entries over them with ProvisionedThroughputExceededException. It stores nothing.
type fakeKinesis struct {
	srv    *httptest.Server
	shards []fakeShard
	// bytesPerSec and recordsPerSec, when positive, are each shard's limits.
	bytesPerSec, recordsPerSec int
	// latency delays every PutRecords answer, as a remote endpoint would.
	latency time.Duration

	mu        sync.Mutex
	accepted  int // entries
	throttled int
	bytes     int             // accepted data + key bytes
	perSecond map[int64][]int // accepted bytes by second, by shard
}

type fakeShard struct {
	index      int
	id         string
	start, end *big.Int
	window     int64 // the second the counters below are for
	bytes      int
	records    int
}

func newFakeKinesis(tb testing.TB, shards, bytesPerSec, recordsPerSec int) *fakeKinesis {
	f := &fakeKinesis{bytesPerSec: bytesPerSec, recordsPerSec: recordsPerSec, perSecond: map[int64][]int{}}
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	for i := range shards {
		start := new(big.Int).Div(new(big.Int).Mul(space, big.NewInt(int64(i))), big.NewInt(int64(shards)))
		end := new(big.Int).Div(new(big.Int).Mul(space, big.NewInt(int64(i+1))), big.NewInt(int64(shards)))
		end.Sub(end, big.NewInt(1))
		f.shards = append(f.shards, fakeShard{index: i, id: fmt.Sprintf("shardId-%012d", i), start: start, end: end})
	}
	f.srv = httptest.NewServer(f)
	tb.Cleanup(f.srv.Close)
	return f
}

func (f *fakeKinesis) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch r.Header.Get("X-Amz-Target") {
	case "Kinesis_20131202.ListShards":
		var out strings.Builder
		out.WriteString(`{"Shards":[`)
		for i, s := range f.shards {
			if i > 0 {
				out.WriteByte(',')
			}
			fmt.Fprintf(&out, `{"ShardId":%q,"HashKeyRange":{"StartingHashKey":%q,"EndingHashKey":%q},"SequenceNumberRange":{"StartingSequenceNumber":"1"}}`,
				s.id, s.start.String(), s.end.String())
		}
		out.WriteString(`]}`)
		_, _ = w.Write([]byte(out.String()))
	case "Kinesis_20131202.PutRecords":
		if f.bytesPerSec == 0 {
			f.null(w, r)
			return
		}
		var in struct {
			Records []struct {
				Data         string
				PartitionKey string
			}
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if f.latency > 0 {
			time.Sleep(f.latency) // the fake's stand-in for a network, not a retry wait
		}
		now := time.Now().Unix()
		var out strings.Builder
		failed := 0
		out.WriteString(`{"Records":[`)
		f.mu.Lock()
		for i, e := range in.Records {
			if i > 0 {
				out.WriteByte(',')
			}
			size := len(e.Data)/4*3 - strings.Count(e.Data[max(0, len(e.Data)-2):], "=") + len(e.PartitionKey)
			s := f.shardOf(e.PartitionKey)
			if s.window != now {
				s.window, s.bytes, s.records = now, 0, 0
			}
			if f.bytesPerSec > 0 && (s.bytes+size > f.bytesPerSec || s.records+1 > f.recordsPerSec) {
				failed++
				f.throttled++
				out.WriteString(`{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard"}`)
				continue
			}
			s.bytes += size
			s.records++
			f.accepted++
			f.bytes += size
			if f.perSecond[now] == nil {
				f.perSecond[now] = make([]int, len(f.shards))
			}
			f.perSecond[now][s.index] += size
			fmt.Fprintf(&out, `{"SequenceNumber":"%d","ShardId":%q}`, f.accepted, s.id)
		}
		f.mu.Unlock()
		fmt.Fprintf(&out, `],"FailedRecordCount":%d}`, failed)
		_, _ = w.Write([]byte(out.String()))
	default:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"UnknownOperationException"}`))
	}
}

// null answers a PutRecords with success for every entry without decoding the
// request: it only finds the partition keys (the ones after the data, in the order the
// SDK writes them), so that a benchmark's CPU time is mostly the producer's.
func (f *fakeKinesis) null(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var out bytes.Buffer
	out.WriteString(`{"Records":[`)
	marker := []byte(`"PartitionKey":"`)
	n := 0
	for {
		i := bytes.Index(body, marker)
		if i < 0 {
			break
		}
		body = body[i+len(marker):]
		j := bytes.IndexByte(body, '"')
		if j < 0 {
			break
		}
		if n > 0 {
			out.WriteByte(',')
		}
		n++
		fmt.Fprintf(&out, `{"SequenceNumber":"%d","ShardId":%q}`, n, f.shardOf(string(body[:j])).id)
	}
	out.WriteString(`],"FailedRecordCount":0}`)
	f.mu.Lock()
	f.accepted += n
	f.mu.Unlock()
	_, _ = w.Write(out.Bytes())
}

func (f *fakeKinesis) shardOf(partitionKey string) *fakeShard {
	sum := md5.Sum([]byte(partitionKey))
	h := new(big.Int).SetBytes(sum[:])
	for i := range f.shards {
		if h.Cmp(f.shards[i].end) <= 0 {
			return &f.shards[i]
		}
	}
	return &f.shards[len(f.shards)-1]
}

func (f *fakeKinesis) counts() (accepted, throttled, bytes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accepted, f.throttled, f.bytes
}

// steadyBytes returns the mean accepted bytes per second of all shards together and
// of the busiest shard, over the whole seconds of the run, leaving out the first and
// last (partial) ones.
func (f *fakeKinesis) steadyBytes() (all, busiest float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	first, last := int64(-1), int64(-1)
	for sec := range f.perSecond {
		if first < 0 || sec < first {
			first = sec
		}
		last = max(last, sec)
	}
	if last-first < 2 {
		return 0, 0
	}
	perShard := make([]int, len(f.shards))
	for sec := first + 1; sec < last; sec++ {
		for i, n := range f.perSecond[sec] {
			perShard[i] += n
		}
	}
	secs := float64(last - first - 1)
	total, top := 0, 0
	for _, n := range perShard {
		total += n
		top = max(top, n)
	}
	return float64(total) / secs, float64(top) / secs
}
