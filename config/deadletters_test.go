package config_test

import (
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/config"
)

// Dead letters go to the Kinesis dead-letter stream in the container roles and to the
// file sink in dev; both settings come from the environment, are shown by `sluice
// defaults`, and are validated by path.
func TestSinkDeadLetters(t *testing.T) {
	if d := config.Default(config.RoleTransform).Sink.DeadLetters; d.Kind != "kinesis" || d.Stream != "sluice-dead-letters" {
		t.Errorf("transform default dead letters = %+v", d)
	}
	if d := config.Default(config.RoleDev).Sink.DeadLetters; d.Kind != "file" {
		t.Errorf("dev default dead letters = %+v, want file", d)
	}
	cfg, err := config.Load(config.RoleTransform, "", envOf(map[string]string{
		"SLUICE_SINK_DEAD_LETTERS_STREAM": "siem-dlq",
	}))
	if err != nil || cfg.Sink.DeadLetters.Stream != "siem-dlq" {
		t.Fatalf("SLUICE_SINK_DEAD_LETTERS_STREAM: %v, %+v", err, cfg.Sink.DeadLetters)
	}
	doc, err := config.Document(config.Default(config.RoleTransform))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dead_letters:", "SLUICE_SINK_DEAD_LETTERS_KIND", "sluice-dead-letters"} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("sluice defaults lacks %s", want)
		}
	}

	bad := config.Default(config.RoleTransform)
	bad.Sink.Kind = "search"
	bad.Sink.Search.Addresses = []string{"http://127.0.0.1:9200"}
	bad.Sink.DeadLetters.Stream = "no/slashes"
	if err := bad.Validate(config.RoleTransform); err == nil || !strings.Contains(err.Error(), "sink.dead_letters.stream") {
		t.Errorf("Validate = %v, want a problem at sink.dead_letters.stream", err)
	}
	bad.Sink.DeadLetters.Kind = "s3"
	if err := bad.Validate(config.RoleTransform); err == nil || !strings.Contains(err.Error(), `sink.dead_letters.kind: must be kinesis or file, not "s3"`) {
		t.Errorf("Validate = %v, want a problem at sink.dead_letters.kind", err)
	}
	// In dev the stream's location is checked too, as nothing else checks it there.
	dev := config.Default(config.RoleDev)
	dev.Sink.Search.Addresses = []string{"http://127.0.0.1:9200"}
	dev.Sink.DeadLetters.Kind = "kinesis"
	dev.Stream.Kinesis.Endpoint = "ftp://x"
	if err := dev.Validate(config.RoleDev); err == nil || !strings.Contains(err.Error(), "stream.kinesis.endpoint") {
		t.Errorf("Validate = %v, want a problem at stream.kinesis.endpoint", err)
	}
}
