package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// readmeCurl is a curl command of README.md and the answer the README shows for it.
type readmeCurl struct {
	line    int
	command string
	answer  string // with "..." where the README leaves parts out
}

// readmeCurls returns README.md's curl commands against localhost:8080 that are
// followed by the answer they print (a "# {...}" line).
func readmeCurls(t *testing.T) []readmeCurl {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []readmeCurl
	var last *readmeCurl
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "curl ") && strings.Contains(line, "localhost:8080"):
			last = &readmeCurl{line: n, command: line}
		case last != nil && strings.HasPrefix(line, "# {"):
			last.answer = strings.TrimPrefix(line, "# ")
			out = append(out, *last)
			last = nil
		default:
			last = nil
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReadmeCurlCommands runs every curl command README.md shows, as a user would
// paste it (bash, the real curl), against sluice dev, and checks the answer the README
// prints: the README's promises about the HTTP API stay true.
func TestReadmeCurlCommands(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is needed to run the README's commands")
		}
		t.Skip("no curl")
	}
	curls := readmeCurls(t)
	if len(curls) < 4 {
		t.Fatalf("found %d curl commands with answers in README.md, want at least 4 (the parser is out of step with the README)", len(curls))
	}
	a, _ := startDev(t, devConfig(t))
	addr := a.httpLn.Addr().String()
	for _, c := range curls {
		cmd := strings.ReplaceAll(c.command, "localhost:8080", addr)
		out, err := exec.Command("bash", "-c", cmd).CombinedOutput()
		if err != nil {
			t.Errorf("README.md:%d: %s: %v\n%s", c.line, c.command, err, out)
			continue
		}
		got := strings.TrimSpace(string(out))
		// protojson (the /v1/push answer) spaces its output at random per binary, so
		// that nobody relies on it: compare JSON compacted.
		var compact bytes.Buffer
		if json.Compact(&compact, []byte(got)) == nil {
			got = compact.String()
		}
		if !matchElided(c.answer, got) {
			t.Errorf("README.md:%d: %s\nanswered %s\nREADME shows %s", c.line, c.command, out, c.answer)
		}
	}
}

// matchElided reports whether got holds the parts of want between its "..." in order,
// the first at the start and the last at the end.
func matchElided(want, got string) bool {
	parts := strings.Split(want, "...")
	pattern := make([]string, len(parts))
	for i, p := range parts {
		pattern[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`^` + strings.Join(pattern, `.*`) + `$`).MatchString(got)
}
