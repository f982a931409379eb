package main

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzConfigFile feeds arbitrary bytes to the configuration file parser, and what it
// parses to the rest of Load: nothing panics; every problem is reported as an error
// that names the file (and its key) or the variable to fix; and the settings a file
// yields, written back as YAML, read back the same.
func FuzzConfigFile(f *testing.F) {
	for _, name := range []string{"../../configs/embedded.yaml", "../../configs/cluster.yaml"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"http_addr: \":8080\"\nlog_level: debug\n",
		"allowed_origins:\n  - https://a.example\n  - https://b.example\n",
		"trusted_proxies: [10.0.0.0/8, \"192.168.0.0/16\"]\nmessage_rate: 12.5\n",
		"turn_addr: \":3478\"\nturn_secret: s\n",
		"apns_key_file: /nonexistent\n",
		"tls_cert_file: c.pem\n",
		"http_addr:\n", "http_addr: [a]\n", "nope: 1\n", "http_addr: a\nhttp_addr: b\n",
		"- a\n", "{", "", "# only a comment\n", "log_level: &a info\nlog_format: *a\n",
		"retention_days: 0x10\n", "http_addr: !!binary aGk=\n", "? [a]\n: b\n",
	} {
		f.Add([]byte(s))
	}
	const path = "securecam.yaml" // named in errors, never read
	f.Fuzz(func(t *testing.T, data []byte) {
		values, errs := parseConfigFile(path, data)
		for _, err := range errs {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("parser error %q does not name the file", err)
			}
		}
		if len(errs) > 0 {
			return
		}

		flat := make(map[string]string, len(values))
		for k, v := range values {
			flat[k] = v.value
		}
		again, err := yaml.Marshal(flat)
		if err != nil {
			t.Fatalf("marshal %q: %v", flat, err)
		}
		back, errs := parseConfigFile(path, again)
		if len(errs) > 0 || len(back) != len(flat) {
			t.Fatalf("%q written back as %q reads %v, %v", data, again, back, errs)
		}
		for k, v := range flat {
			if back[k].value != v {
				t.Fatalf("%q written back as %q: %s = %q, want %q", data, again, k, back[k].value, v)
			}
		}

		_, err = load(envMap(map[string]string{"SECURECAM_CONFIG": path, "SECURECAM_NODE_ID": "fuzz"}), path, values)
		if err == nil {
			return
		}
		list, ok := err.(configError)
		if !ok || len(list) == 0 {
			t.Fatalf("Load error %T %v is not a list of problems", err, err)
		}
		for _, e := range list {
			if !strings.Contains(e.Error(), "SECURECAM_") && !strings.Contains(e.Error(), path) {
				t.Fatalf("Load error %q names neither a variable nor the file", e)
			}
		}
	})
}
