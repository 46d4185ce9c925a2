package grpcrecv_test

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sluice-siem/sluice/gateway/grpcrecv"
	"github.com/sluice-siem/sluice/internal/jsonx"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
)

// FuzzDocument checks the hand-written JSON encoder of protobuf events against
// encoding/json: for any strings and numbers, the document is valid JSON and means
// the same as encoding/json's rendering of the same fields.
func FuzzDocument(f *testing.F) {
	f.Add("deny tcp", "src", "10.0.0.1", 443.0, "\x00\"\\\n\u2028<>&\xff")
	f.Add("", "message", "", 1e21, "é")
	f.Add("m", "a.b", "x", 1e-7, "")
	f.Add("m", "n", "y", math.Copysign(0, -1), "\t")
	f.Fuzz(func(t *testing.T, msg, key, str string, num float64, nested string) {
		if math.IsNaN(num) || math.IsInf(num, 0) {
			return // rejected; covered by TestPushRejections
		}
		fields, err := structpb.NewStruct(map[string]any{
			key:     str,
			"num":   num,
			"obj":   map[string]any{nested: []any{nested, num, true, nil}},
			"empty": map[string]any{},
		})
		if err != nil {
			return // invalid UTF-8 in a key: protobuf would not carry it either
		}
		doc, err := grpcrecv.Document(&sluicev1.Event{Message: msg, Fields: fields}, jsonx.DefaultMaxDepth)
		if err != nil {
			t.Fatalf("Document: %v", err)
		}
		if !json.Valid(doc) {
			t.Fatalf("invalid JSON: %q", doc)
		}
		var got, want map[string]any
		if err := json.Unmarshal(doc, &got); err != nil {
			t.Fatal(err)
		}
		ref := fields.AsMap()
		if msg != "" {
			ref["message"] = msg
		}
		b, err := json.Marshal(ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("document %s\nmeans %v\nencoding/json: %v", doc, got, want)
		}
	})
}
