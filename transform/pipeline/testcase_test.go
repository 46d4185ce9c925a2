package pipeline

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadTestFileProblems(t *testing.T) {
	for body, want := range map[string]string{
		"cases:\n  - input: x\n    expect: {}\n":                                        "cases[0]: name: required",
		"cases:\n  - name: a\n    expect: {}\n":                                         "cases[0] (a): give input or event",
		"cases:\n  - name: a\n    input: x\n    event: {m: x}\n    expect: {}\n":        "give input or event",
		"cases:\n  - name: a\n    event: [x]\n    expect: {}\n":                         "event: want an object",
		"cases:\n  - name: a\n    input: x\n":                                           "give expect or expect_dropped: true",
		"cases:\n  - name: a\n    input: x\n    expect: {}\n    expect_dropped: true\n": "give expect or expect_dropped: true",
		"kases: []\n": "field kases not found",
	} {
		fsys := fstest.MapFS{"fw.test.yaml": {Data: []byte(body)}}
		_, err := LoadTestFile(fsys, "fw.test.yaml", "dir/fw.test.yaml")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "dir/fw.test.yaml") {
			t.Errorf("%q: error %v, want one containing %q", body, err, want)
		}
	}
	fsys := fstest.MapFS{"fw.test.yaml": {Data: []byte("cases: []\n")}, "fw.yaml": {Data: []byte("processors: [{drop: {}}]\n")}, "README": {}}
	tf, err := LoadTestFile(fsys, "fw.test.yaml", "fw.test.yaml")
	if err != nil || tf.Pipeline != "fw" || tf.Received.IsZero() {
		t.Fatalf("%+v, %v", tf, err)
	}
	names, err := TestFiles(fsys)
	if err != nil || len(names) != 1 || names[0] != "fw.test.yaml" {
		t.Errorf("TestFiles = %v, %v", names, err)
	}
	cfgs, err := LoadFS(fsys, "dir")
	if err != nil || len(cfgs) != 1 || cfgs["fw"].Origin != "dir/fw.yaml" {
		t.Errorf("LoadFS = %v, %v", cfgs, err)
	}
	if _, err := LoadFS(fstest.MapFS{"a.yaml": {Data: []byte("procesors: []\n")}}, "dir"); err == nil || !strings.Contains(err.Error(), "dir/a.yaml: field procesors not found") {
		t.Errorf("LoadFS of a bad file: %v", err)
	}
}

func TestCaseRunAndDiff(t *testing.T) {
	p := buildOne(t, `
processors:
  - drop: {if: 'ctx.message == "noise"'}
  - set: {field: n, value: 22}
  - set: {field: f, value: 1.5}
`, Deps{})
	fsys := fstest.MapFS{"t.test.yaml": {Data: []byte(`
cases:
  - name: equal, numbers by value
    event: {message: m, x: {y: [1, "a"]}}
    expect: {message: m, n: 22.0, f: 1.5, x: {y: [1, a]}}
  - name: different
    input: m
    expect: {message: m, n: "22", g: true}
  - name: not dropped
    input: m
    expect_dropped: true
  - name: dropped
    input: noise
    expect: {message: noise}
`)}}
	tf, err := LoadTestFile(fsys, "t.test.yaml", "t.test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"",
		"+ f: 1.5\n- g: true\n- n: \"22\"\n+ n: 22\n",
		"the event was not dropped; the pipeline made:\n",
		"the event was dropped",
	}
	for i, c := range tf.Cases {
		diff, err := c.Run(context.Background(), p, tf.Received)
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if !strings.HasPrefix(diff, want[i]) || !strings.Contains(diff, `"n": 22`) {
				t.Errorf("%s: %q", c.Name, diff)
			}
			continue
		}
		if diff != want[i] {
			t.Errorf("%s: diff\n%s\nwant\n%s", c.Name, diff, want[i])
		}
	}
}
