package transform_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/transform"
)

// TestHandleNoEvent: a NoEvent record (the position of a CloudWatch Logs control
// message) makes no document and no dead letter; the batch is acknowledged.
func TestHandleNoEvent(t *testing.T) {
	rs := &recordingSink{}
	tr := newTransformer(t, rs, transform.Options{})
	b := batch(nil, envelope("vpcflow", `{"message":"x"}`))
	b.Records[0].NoEvent = true
	if err := tr.Handle(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(rs.calls) != 1 || len(rs.calls[0]) != 1 || rs.calls[0][0].Type != "vpcflow" {
		t.Fatalf("calls %+v, want one document of the second record", rs.calls)
	}
	rs.calls = nil
	if err := tr.Handle(context.Background(), batch(nil)); err != nil || len(rs.calls) != 1 {
		t.Fatalf("a record without data and without NoEvent: %v, %d calls; want a dead letter", err, len(rs.calls))
	}
	rs.calls = nil
	b = batch(nil)
	b.Records[0].NoEvent = true
	if err := tr.Handle(context.Background(), b); err != nil || len(rs.calls) != 0 {
		t.Fatalf("a batch of a NoEvent record: %v, %d calls; want none", err, len(rs.calls))
	}
}

// TestDeadLetterGzipRecord: a gzip-compressed record (CloudWatch Logs data on a stream
// not declared in stream.kinesis.sources) becomes a dead letter that says so.
func TestDeadLetterGzipRecord(t *testing.T) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write([]byte(`{"messageType":"DATA_MESSAGE","logEvents":[]}`))
	_ = zw.Close()
	rs := &recordingSink{}
	tr := newTransformer(t, rs, transform.Options{})
	if err := tr.Handle(context.Background(), batch(z.Bytes())); err != nil {
		t.Fatal(err)
	}
	doc := rs.calls[0][0]
	if doc.Type != transform.DeadLetterType {
		t.Fatalf("doc type %q", doc.Type)
	}
	if e, _ := fields(t, doc.Body)["error"].(string); !strings.Contains(e, "gzip-compressed") || !strings.Contains(e, "stream.kinesis.sources") {
		t.Errorf("error %q", e)
	}
	if !bytes.Equal(doc.Original, z.Bytes()) {
		t.Error("the dead letter does not keep the record's data")
	}
}

// TestDeadLetterForeignRecords: a zstd record the reader could not decompress, and a
// plain JSON record without sluice's envelope, become dead letters that say what they
// are and what to do.
func TestDeadLetterForeignRecords(t *testing.T) {
	for data, want := range map[string]string{
		"\x28\xb5\x2f\xfd\x04\x00broken":     "max_decompressed_bytes",
		`{"message":"from fluent bit"}`:      "declare its stream in stream.kinesis.sources",
		`{"v":0,"type":"x","event":{}}`:      "no version",
		`{"v":7,"type":"x","event":{"a":1}}`: "unsupported version 7",
	} {
		rs := &recordingSink{}
		tr := newTransformer(t, rs, transform.Options{})
		if err := tr.Handle(context.Background(), batch([]byte(data))); err != nil {
			t.Fatal(err)
		}
		doc := rs.calls[0][0]
		if e, _ := fields(t, doc.Body)["error"].(string); doc.Type != transform.DeadLetterType || !strings.Contains(e, want) {
			t.Errorf("%q: dead letter %q with error %q, want it to say %q", data, doc.Type, e, want)
		}
	}
}
