// Package samples holds the sample pipelines of the transform step that sluice ships
// and `sluice dev` loads by default (config sample_pipelines): firewall (Linux
// netfilter/iptables over syslog), ids (Suricata EVE JSON) and waf (AWS WAF logs), each
// NAME.yaml with its test cases in NAME.test.yaml for `sluice test`. They are examples
// to copy into a pipelines_dir as much as defaults.
package samples

import (
	"embed"
	"io/fs"

	"github.com/sluice-siem/sluice/transform/pipeline"
)

// files is the embedded sample directory: a read-only table, never modified.
//
//go:embed *.yaml
var files embed.FS

// Origin is how the samples are named in error messages and listings.
const Origin = "samples"

// FS returns the sample files: NAME.yaml pipelines and NAME.test.yaml test cases.
func FS() fs.FS { return files }

// Pipelines returns the sample pipelines' configurations, by log type.
func Pipelines() (map[string]pipeline.Config, error) {
	return pipeline.LoadFS(files, Origin)
}
