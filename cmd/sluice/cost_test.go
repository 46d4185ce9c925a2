package main

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestCostCommand runs `sluice cost` as a user does: issue 25's terabyte a day, and
// the flags it refuses.
func TestCostCommand(t *testing.T) {
	code, out, errOut := cli(t, "", nil, "cost", "--events-per-second", "23148")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"30.4 TB a month", "3 shards", "sluice, all in", "$4.78", "Firehose, ingestion alone", "$276.57"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = cli(t, "", nil, "cost", "--events-per-second", "23148", "--compression", "none", "--price-shard-hour", "0.03")
	if code != 0 || !strings.Contains(out, "14 shards") || !strings.Contains(out, "ratio 1.0") {
		t.Errorf("uncompressed at $0.03 a shard-hour: exit %d\n%s", code, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "--events-per-second is required"},
		{[]string{"--events-per-second", "10", "--compression", "lz4"}, "want zstd or none"},
		{[]string{"--events-per-second", "10", "--mode", "serverless"}, "want provisioned or on-demand"},
		{[]string{"--events-per-second", "10", "--event-bytes", "0"}, "event bytes"},
		{[]string{"--events-per-second", "-5"}, "positive"},
	} {
		code, _, errOut := cli(t, "", nil, append([]string{"cost"}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("cost %v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

// TestCostInDeployReadme runs the `sluice cost` command deploy/README.md shows and
// compares its output with the one printed there, so that the sizing section stays
// what the command says.
func TestCostInDeployReadme(t *testing.T) {
	data, err := os.ReadFile("../../deploy/README.md")
	if err != nil {
		t.Fatal(err)
	}
	const prompt = "    $ sluice cost "
	lines := strings.Split(string(data), "\n")
	start := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, prompt) })
	if start < 0 {
		t.Fatalf("deploy/README.md shows no %q command", strings.TrimSpace(prompt))
	}
	var shown []string
	for _, l := range lines[start+1:] {
		if l != "" && !strings.HasPrefix(l, "    ") {
			break
		}
		shown = append(shown, strings.TrimPrefix(l, "    "))
	}
	args := strings.Fields(strings.TrimPrefix(lines[start], "    $ sluice "))
	code, out, errOut := cli(t, "", nil, args...)
	if code != 0 {
		t.Fatalf("sluice %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	if got, want := trimLines(out), trimLines(strings.Join(shown, "\n")); got != want {
		t.Errorf("deploy/README.md:%d shows\n%s\nsluice %s prints\n%s", start+1, want, strings.Join(args, " "), got)
	}
}

// trimLines drops trailing spaces of each line and blank lines at the end.
func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}
