package deadletter

import (
	"fmt"

	"github.com/sluice-siem/sluice/stream"
)

// Config selects where the search sink writes its dead letters and `sluice replay`
// reads them from; it is the sink.dead_letters section of the configuration, and
// cmd/sluice builds the destination it names (Kinesis, or the file sink's directory).
type Config struct {
	// Kind is kinesis (a stream, so that nothing is kept on a task's disk) or file
	// (under the file sink's directory, sink.file.dir, for sluice dev).
	Kind string `yaml:"kind" doc:"kinesis (the stream below, located by stream.kinesis) | file (sink.file.dir/_dead_letter)"`
	// Stream is the Kinesis dead-letter stream; it is reached with stream.kinesis's
	// region, endpoint and credentials (or stream.kinesis.streams.<name>'s).
	Stream string `yaml:"stream" doc:"Kinesis dead-letter stream (where it lives: stream.kinesis, stream.kinesis.streams)"`
}

// DefaultConfig returns the defaults: the Kinesis stream sluice-dead-letters.
func DefaultConfig() Config {
	return Config{Kind: "kinesis", Stream: "sluice-dead-letters"}
}

// Validate reports the problem of c, with its path in the section; the stream's name
// only for kind kinesis.
func (c Config) Validate() error {
	switch c.Kind {
	case "file":
	case "kinesis":
		if !stream.ValidName(c.Stream) {
			return fmt.Errorf("stream: %q is not a Kinesis stream name (1-128 of A-Z a-z 0-9 '_' '-' '.')", c.Stream)
		}
	default:
		return fmt.Errorf("kind: must be kinesis or file, not %q", c.Kind)
	}
	return nil
}
