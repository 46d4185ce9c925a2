package config

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// changed returns a value of v's type that differs from v: what a test sets a leaf to.
// Lists and maps get one fresh element, since a variable replaces the whole value.
func changed(t *testing.T, v reflect.Value) reflect.Value {
	t.Helper()
	out := reflect.New(v.Type()).Elem()
	switch v.Kind() {
	case reflect.String:
		out.SetString(v.String() + "-changed")
	case reflect.Bool:
		out.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		out.SetInt(v.Int() + 7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		out.SetUint(v.Uint() + 7)
	case reflect.Float32, reflect.Float64:
		out.SetFloat(v.Float() + 0.25)
	case reflect.Slice:
		out.Set(reflect.Append(reflect.MakeSlice(v.Type(), 0, 1), changed(t, reflect.New(v.Type().Elem()).Elem())))
	case reflect.Map:
		out.Set(reflect.MakeMap(v.Type()))
		k := changed(t, reflect.New(v.Type().Key()).Elem())
		out.SetMapIndex(k, changed(t, reflect.New(v.Type().Elem()).Elem()))
	case reflect.Struct:
		out.Set(v)
		for i := 0; i < out.NumField(); i++ {
			out.Field(i).Set(changed(t, out.Field(i)))
		}
	default:
		t.Fatalf("no changed value for kind %s: add it to the test", v.Kind())
	}
	return out
}

// envValue renders v as its variable would be written: strings as they are, anything
// else as YAML.
func envValue(t *testing.T, v reflect.Value) string {
	t.Helper()
	if v.Kind() == reflect.String {
		return v.String()
	}
	b, err := yaml.Marshal(v.Interface())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func leafByPath(c *Config, path string) reflect.Value {
	for _, f := range leaves(reflect.ValueOf(c), "") {
		if f.path == path {
			return f.v
		}
	}
	return reflect.Value{}
}

// Every leaf has its own variable, and setting that variable changes that leaf and
// nothing else.
func TestEveryLeafIsSettableByItsOwnVariable(t *testing.T) {
	for _, role := range []Role{RoleDev, RoleGateway} {
		def := Default(role)
		fields := leaves(reflect.ValueOf(&def), "")
		if len(fields) < 40 {
			t.Fatalf("only %d leaves: the walk is missing fields", len(fields))
		}
		seen := map[string]string{}
		for _, f := range fields {
			if other, dup := seen[f.env]; dup {
				t.Errorf("%s and %s share the variable %s", other, f.path, f.env)
			}
			seen[f.env] = f.path
			if f.env != EnvName(f.path) || !strings.HasPrefix(f.env, EnvPrefix) {
				t.Errorf("%s: variable %s, want EnvName = %s", f.path, f.env, EnvName(f.path))
			}
			if f.path == "pipelines" {
				// Pipelines hold YAML trees (processors), which carry their line
				// numbers and so never equal by value; TestPipelinesFromEnv covers it.
				continue
			}

			want := Default(role)
			leafByPath(&want, f.path).Set(changed(t, f.v))
			val := envValue(t, leafByPath(&want, f.path))
			if strings.Contains(val, "[redacted]") {
				// Secrets never print, so this value cannot be written back;
				// TestSecretsSettableByVariable covers such leaves.
				continue
			}
			got, err := Load(role, "", func(k string) (string, bool) {
				if k == f.env {
					return val, true
				}
				return "", false
			})
			if err != nil {
				t.Errorf("%s=%q: %v", f.env, val, err)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s=%q did not set %s (alone): got %v, want %v",
					f.env, val, f.path, leafByPath(&got, f.path), leafByPath(&want, f.path))
			}
		}
	}
}

// Leaves are what the environment can set and what Document comments; a few known
// paths pin the walk to the real structure.
func TestLeavesIncludeKnownPaths(t *testing.T) {
	c := Default(RoleDev)
	got := map[string]bool{}
	for _, f := range leaves(reflect.ValueOf(&c), "") {
		got[f.path] = true
	}
	for _, p := range []string{
		"http.addr", "http.tls.client_ca_file", "grpc.idle_timeout", "lumberjack.tls.client_auth",
		"gateway.routing.streams", "gateway.routing.type_fields", "gateway.limits.max_body_bytes",
		"gateway.limits.retry_after", "gateway.auth.disabled", "gateway.auth.keys",
		"stream.kind", "stream.embedded.max_bytes", "sink.file.fsync", "shutdown.drain_delay", "log.format",
	} {
		if !got[p] {
			t.Errorf("no leaf %s", p)
		}
	}
	for _, p := range []string{"http", "http.tls", "gateway", "gateway.limits", "stream.embedded"} {
		if got[p] {
			t.Errorf("section %s is a leaf: it should be descended into", p)
		}
	}
}

// A leaf holding secrets is set from its variable like any other, although it never
// prints them.
func TestSecretsSettableByVariable(t *testing.T) {
	got, err := Load(RoleGateway, "", func(k string) (string, bool) {
		if k == "SLUICE_STREAM_KINESIS_STREAMS" {
			return `{s1: {region: eu-west-1, credentials: {access_key_id: AK, secret_access_key: SK}}}`, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	loc, ok := got.Stream.Kinesis.Streams["s1"]
	if !ok || loc.Region != "eu-west-1" || loc.Credentials.AccessKeyID != "AK" || string(loc.Credentials.SecretAccessKey) != "SK" {
		t.Fatalf("streams = %#v", got.Stream.Kinesis.Streams)
	}
}

// SLUICE_PIPELINES sets whole pipelines, in YAML flow style.
func TestPipelinesFromEnv(t *testing.T) {
	c, err := Load(RoleDev, "", func(k string) (string, bool) {
		if k == "SLUICE_PIPELINES" {
			return `{vpn: {description: d, processors: [{drop: {}}]}}`, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	p, ok := c.Pipelines["vpn"]
	if !ok || len(c.Pipelines) != 1 || p.Description != "d" || len(p.Processors) != 1 || p.Processors[0].Content[0].Value != "drop" {
		t.Fatalf("pipelines = %+v", c.Pipelines)
	}
}
