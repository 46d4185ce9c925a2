package kinesis

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/stream"
)

// gzipped compresses data as CloudWatch Logs does.
func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// cwData is a DATA_MESSAGE record of the given messages, the ids and timestamps
// counted from 1.
func cwData(messages ...string) string {
	var events []string
	for i, m := range messages {
		q, _ := json.Marshal(m)
		events = append(events, fmt.Sprintf(`{"id":"3753530193242818658439540263361231221357856173842461491%d","timestamp":179567640%d000,"message":%s}`, i, i, q))
	}
	return `{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/vpc/flow-logs","logStream":"eni-0a1b2c3d4e5f60718-all",` +
		`"subscriptionFilters":["to-kinesis"],"logEvents":[` + strings.Join(events, ",") + `]}`
}

// TestCloudWatchDecode: each log event of a DATA_MESSAGE is a user record, in order,
// with its sub-sequence, an envelope of the source's type, the event's id and time,
// and the document of Elastic's names.
func TestCloudWatchDecode(t *testing.T) {
	d := newCloudWatchDecoder(Source{Format: FormatCloudWatchLogs, Type: "vpcflow"})
	messages := []string{
		"2 123456789012 eni-0a1b2c3d4e5f60718 203.0.113.15 10.0.1.25 51234 22 6 18 4312 1795676400 1795676460 ACCEPT OK",
		`quotes " and \ and é and a tab	`,
		"2 123456789012 eni-0a1b2c3d4e5f60718 - - - - - - - 1795676400 1795676460 - NODATA",
	}
	users, err := d.decode("pk-1", gzipped(t, []byte(cwData(messages...))))
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != len(messages) {
		t.Fatalf("%d user records, want %d", len(users), len(messages))
	}
	for i, u := range users {
		if u.SubSequence != i || !u.Aggregated || u.PartitionKey != "pk-1" {
			t.Errorf("user record %d: sub %d, aggregated %v, key %q", i, u.SubSequence, u.Aggregated, u.PartitionKey)
		}
		env, err := stream.ParseEnvelope(u.Data)
		if err != nil {
			t.Fatalf("user record %d: %v: %s", i, err, u.Data)
		}
		wantID := fmt.Sprintf("3753530193242818658439540263361231221357856173842461491%d", i)
		if env.Type != "vpcflow" || env.ID != wantID || !env.Received.Equal(time.UnixMilli(int64(1795676400+i)*1000)) {
			t.Errorf("user record %d: envelope %s %s %s", i, env.Type, env.ID, env.Received)
		}
		var doc map[string]any
		if err := json.Unmarshal(env.Event, &doc); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"message": messages[i],
			"event":   map[string]any{"id": wantID},
			"aws":     map[string]any{"cloudwatch": map[string]any{"log_group": "/vpc/flow-logs", "log_stream": "eni-0a1b2c3d4e5f60718-all"}},
			"cloud":   map[string]any{"provider": "aws", "account": map[string]any{"id": "123456789012"}},
		}
		if got, exp := fmt.Sprint(doc), fmt.Sprint(want); got != exp {
			t.Errorf("user record %d: document\n%s\nwant\n%s", i, got, exp)
		}
	}
	// The records own their data: decoding another record leaves them as they were.
	before := string(users[0].Data)
	if _, err := d.decode("pk-2", gzipped(t, []byte(cwData("other")))); err != nil {
		t.Fatal(err)
	}
	if string(users[0].Data) != before {
		t.Error("a user record's data changed with the next record")
	}
}

// TestCloudWatchNoEvents: a CONTROL_MESSAGE, and a DATA_MESSAGE without events, have
// no user records and no error.
func TestCloudWatchNoEvents(t *testing.T) {
	d := newCloudWatchDecoder(Source{Format: FormatCloudWatchLogs, Type: "vpcflow"})
	for _, rec := range []string{
		`{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],` +
			`"logEvents":[{"id":"","timestamp":1795676400000,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}`,
		`{"messageType":"DATA_MESSAGE","owner":"123456789012","logEvents":[]}`,
		`{"messageType":"DATA_MESSAGE","owner":"123456789012","logEvents":null}`,
		`{"messageType":"DATA_MESSAGE"}`,
	} {
		users, err := d.decode("k", gzipped(t, []byte(rec)))
		if err != nil || len(users) != 0 {
			t.Errorf("%s: %d user records, %v; want none", rec, len(users), err)
		}
	}
}

// TestCloudWatchOptional: members the record lacks or sets to null are left out of
// the document; unknown members are ignored.
func TestCloudWatchOptional(t *testing.T) {
	d := newCloudWatchDecoder(Source{Format: FormatCloudWatchLogs, Type: "lambda"})
	rec := `{"policyLevel":"ACCOUNT_LEVEL_POLICY","messageType":"DATA_MESSAGE","owner":null,"logStream":"s",` +
		`"logEvents":[{"id":"1","timestamp":0,"message":"m","extractedFields":{"a":["b"]}}]}`
	users, err := d.decode("k", gzipped(t, []byte(rec)))
	if err != nil || len(users) != 1 {
		t.Fatalf("%d user records, %v", len(users), err)
	}
	env, err := stream.ParseEnvelope(users[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"message":"m","event":{"id":"1"},"aws":{"cloudwatch":{"log_stream":"s"}},"cloud":{"provider":"aws"}}`; string(env.Event) != want {
		t.Errorf("document %s, want %s", env.Event, want)
	}
}

// TestCloudWatchErrors: what is not a CloudWatch Logs record is refused with an error
// that says why.
func TestCloudWatchErrors(t *testing.T) {
	d := newCloudWatchDecoder(Source{Format: FormatCloudWatchLogs, Type: "vpcflow"})
	event := func(s string) string { return `{"messageType":"DATA_MESSAGE","logEvents":[` + s + `]}` }
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"not gzip", []byte(cwData("x")), "gunzip: gzip: invalid header"},
		{"a sluice envelope", stream.AppendEnvelope(nil, "vpcflow", "", time.Now(), []byte(`{}`)), "gunzip"},
		{"cut short", gzipped(t, []byte(cwData("x")))[:30], "gunzip: unexpected EOF"},
		{"not JSON", gzipped(t, []byte("hello")), "invalid character 'h'"},
		{"not an object", gzipped(t, []byte(`["DATA_MESSAGE"]`)), "looking for beginning of object"},
		{"trailing data", gzipped(t, []byte(cwData("x")+"{}")), "after top-level value"},
		{"no message type", gzipped(t, []byte(`{"logEvents":[]}`)), `messageType "": want DATA_MESSAGE or CONTROL_MESSAGE`},
		{"unknown message type", gzipped(t, []byte(`{"messageType":"OTHER"}`)), `messageType "OTHER"`},
		{"message type not a string", gzipped(t, []byte(`{"messageType":1}`)), "messageType: want a string"},
		{"owner not a string", gzipped(t, []byte(`{"messageType":"DATA_MESSAGE","owner":123456789012}`)), "owner: want a string"},
		{"logEvents not an array", gzipped(t, []byte(`{"messageType":"DATA_MESSAGE","logEvents":{}}`)), "logEvents: want an array"},
		{"event not an object", gzipped(t, []byte(event(`"x"`))), "logEvents[0]: want an object"},
		{"no id", gzipped(t, []byte(event(`{"timestamp":1,"message":"m"}`))), "logEvents[0]: id: want a string of 1 to 512 bytes"},
		{"id too long", gzipped(t, []byte(event(`{"id":"`+strings.Repeat("9", 513)+`","timestamp":1,"message":"m"}`))), "id: want a string"},
		{"no timestamp", gzipped(t, []byte(event(`{"id":"1","message":"m"}`))), "timestamp: want an integer"},
		{"timestamp not an integer", gzipped(t, []byte(event(`{"id":"1","timestamp":1.5,"message":"m"}`))), "timestamp: want an integer"},
		{"timestamp after year 9999", gzipped(t, []byte(event(`{"id":"1","timestamp":253402300800000,"message":"m"}`))), "not a time of years 1 to 9999"},
		{"timestamp before year 1", gzipped(t, []byte(event(`{"id":"1","timestamp":-62135596800001,"message":"m"}`))), "not a time of years 1 to 9999"},
		{"no message", gzipped(t, []byte(event(`{"id":"1","timestamp":1}`))), "message: missing"},
		{"message not a string", gzipped(t, []byte(event(`{"id":"1","timestamp":1,"message":{}}`))), "message: want a string"},
		{"the second event bad", gzipped(t, []byte(event(`{"id":"1","timestamp":1,"message":"m"},{"id":"2"}`))), "logEvents[1]: timestamp"},
		{"too many events", gzipped(t, []byte(event(strings.Repeat(`{"id":"1","timestamp":1,"message":""},`, 10000)+`{"id":"1","timestamp":1,"message":""}`))), "more than 10000 log events"},
		{"too deep", gzipped(t, []byte(`{"messageType":"DATA_MESSAGE","x":`+strings.Repeat("[", 20)+strings.Repeat("]", 20)+`}`)), "nested deeper than 16 levels"},
	} {
		users, err := d.decode("k", c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "cloudwatch logs record: ") {
			t.Errorf("%s: %d user records, error %v; want one containing %q", c.name, len(users), err, c.want)
		}
	}
}

// TestCloudWatchBomb: a record that decompresses to more than the limit is refused
// without being decompressed further, with an error naming the limit; the decoder
// keeps no large buffer after it.
func TestCloudWatchBomb(t *testing.T) {
	bomb := gzipped(t, bytes.Repeat([]byte{' '}, int(DefaultMaxDecompressedBytes)+1))
	if len(bomb) > 64<<10 {
		t.Fatalf("the bomb is %d bytes compressed", len(bomb))
	}
	d := newCloudWatchDecoder(Source{Format: FormatCloudWatchLogs, Type: "vpcflow"})
	_, err := d.decode("k", bomb)
	if err == nil || err.Error() != "cloudwatch logs record: decompresses to more than max_decompressed_bytes (10MiB): not expanded" {
		t.Errorf("bomb: %v", err)
	}
	if d.buf.Cap() > keepBufferBytes {
		t.Errorf("the decoder keeps a %d-byte buffer", d.buf.Cap())
	}
	// A configured limit; a record of exactly the limit is expanded.
	rec := []byte(cwData("x"))
	small := newCloudWatchDecoder(Source{Format: FormatCloudWatchLogs, Type: "vpcflow", MaxDecompressedBytes: bytesize.Size(len(rec))})
	if users, err := small.decode("k", gzipped(t, rec)); err != nil || len(users) != 1 {
		t.Errorf("a record of the limit: %d user records, %v", len(users), err)
	}
	small.max--
	if _, err := small.decode("k", gzipped(t, rec)); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than max_decompressed_bytes (%d)", len(rec)-1)) {
		t.Errorf("a record one byte over the limit: %v", err)
	}
}

// TestSourceValidate: every problem of a source is reported with its path.
func TestSourceValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Sources = map[string]Source{
		"vpc-flow-logs": {Format: FormatCloudWatchLogs, Type: "vpcflow"},
		"bad stream!":   {Format: FormatCloudWatchLogs, Type: "vpcflow"},
		"s":             {Format: "firehose", Type: "Not A Type", MaxDecompressedBytes: -1},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"sources.bad stream!: invalid stream name",
		`sources.s.format: want cloudwatch_logs, json, raw or auto, not "firehose"`,
		`sources.s.type: want a log type`,
		"sources.s.max_decompressed_bytes: must not be negative",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\nlacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "vpc-flow-logs") {
		t.Errorf("a good source reported: %v", err)
	}
}

// FuzzCloudWatch: the decoder never panics and never hangs, on compressed or raw
// input, and whatever it accepts becomes valid envelopes: the source's type, the log
// event's id, an event document that is a JSON object, sub-sequences 0, 1, ...
func FuzzCloudWatch(f *testing.F) {
	for _, s := range []string{
		cwData("2 123456789012 eni-0a1b2c3d4e5f60718 203.0.113.15 10.0.1.25 51234 22 6 18 4312 1795676400 1795676460 ACCEPT OK", "b"),
		`{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logEvents":[]}`,
		`{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":-1,"message":"\u00e9\n"}]}`,
		`{"messageType":"DATA_MESSAGE","logEvents":[{"id":"\ud800","timestamp":1,"message":""} , {"id":"2","timestamp":2,"message":"x","id":"3"}]}`,
		`{"messageType":"DATA_MESSAGE","logEvents":[1]}`,
	} {
		f.Add(true, []byte(s))
		f.Add(false, []byte(s))
	}
	f.Add(false, gzipped(f, []byte(cwData("x"))))
	f.Fuzz(func(t *testing.T, compress bool, data []byte) {
		if compress {
			data = gzipped(t, data)
		}
		d := newCloudWatchDecoder(Source{Format: FormatCloudWatchLogs, Type: "vpcflow", MaxDecompressedBytes: 1 << 20})
		users, err := d.decode("k", data)
		if err != nil {
			if len(users) != 0 || !strings.HasPrefix(err.Error(), "cloudwatch logs record: ") {
				t.Fatalf("error %v with %d user records", err, len(users))
			}
			return
		}
		for i, u := range users {
			if u.SubSequence != i || !u.Aggregated || u.PartitionKey != "k" {
				t.Fatalf("user record %d: sub %d, aggregated %v", i, u.SubSequence, u.Aggregated)
			}
			env, err := stream.ParseEnvelope(u.Data)
			if err != nil {
				t.Fatalf("user record %d: %v: %q", i, err, u.Data)
			}
			if env.Type != "vpcflow" || env.ID == "" || len(env.ID) > stream.MaxIDLen {
				t.Fatalf("user record %d: type %q, id %q", i, env.Type, env.ID)
			}
			doc, err := jsonx.DecodeObject(env.Event)
			if err != nil {
				t.Fatalf("user record %d: event %v: %q", i, err, env.Event)
			}
			if _, ok := doc["message"].(string); !ok {
				t.Fatalf("user record %d: no message: %q", i, env.Event)
			}
		}
	})
}

// TestCloudWatchTimestampRange: the first and last times an envelope can hold are
// accepted and read back.
func TestCloudWatchTimestampRange(t *testing.T) {
	d := newCloudWatchDecoder(Source{Format: FormatCloudWatchLogs, Type: "vpcflow"})
	rec := fmt.Sprintf(`{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":%d,"message":"a"},{"id":"2","timestamp":%d,"message":"b"}]}`,
		int64(minTimestamp), int64(maxTimestamp))
	users, err := d.decode("k", gzipped(t, []byte(rec)))
	if err != nil || len(users) != 2 {
		t.Fatalf("%d user records, %v", len(users), err)
	}
	for i, want := range []int64{minTimestamp, maxTimestamp} {
		env, err := stream.ParseEnvelope(users[i].Data)
		if err != nil || env.Received.UnixMilli() != want {
			t.Errorf("user record %d: %v, received %s", i, err, env.Received)
		}
	}
}
