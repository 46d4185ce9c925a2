package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSecretNeverPrints(t *testing.T) {
	type cfg struct {
		User     string `yaml:"user" json:"user"`
		Password Secret `yaml:"password" json:"password"`
	}
	c := cfg{User: "sluice", Password: "hunter2"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cfg", c, "password", c.Password)
	y, _ := yaml.Marshal(c)
	j, _ := json.Marshal(c)
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"String": c.Password.String(), "yaml": string(y), "json": string(j), "slog": logged.String(),
	} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s prints the secret: %s", name, out)
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("%s does not show [redacted]: %s", name, out)
		}
	}
	if string(c.Password) != "hunter2" || Secret("").String() != "" {
		t.Fatal("the value itself must stay usable, and an empty secret print empty")
	}
	var back cfg
	if err := yaml.Unmarshal([]byte("password: s3cret\n"), &back); err != nil || string(back.Password) != "s3cret" {
		t.Fatalf("a secret must load from YAML: %v %q", err, back.Password)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://search.internal:9200":                      "https://search.internal:9200",
		"https://sluice:hunter2@search.internal:9200/x?y@z": "https://sluice:[redacted]@search.internal:9200/x?y@z",
		"http://user:pa ss@host:badport":                    "http://user:[redacted]@host:badport",
		"https://tok3n@host":                                "https://[redacted]@host",
		"user:hunter2@host:5432":                            "user:[redacted]@host:5432",
		"postgres://u:p@ss:w@rd@db/x":                       "postgres://u:[redacted]@db/x",
		"not a url":                                         "not a url",
		"":                                                  "",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
