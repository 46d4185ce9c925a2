package main

import (
	"os"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/gateway/httprecv"
)

// bulkOptions turns the bulk section of the configuration into the HTTP receiver's
// options for the Elasticsearch-compatible API, or nil when it is off. An empty node
// name becomes the host name, as Elasticsearch's own default is.
func bulkOptions(c config.Bulk) *httprecv.Bulk {
	if !c.Enabled {
		return nil
	}
	b := &httprecv.Bulk{
		DataStreamTypes: c.DataStreamTypes,
		Version:         c.Version,
		ClusterName:     c.ClusterName,
		NodeName:        c.NodeName,
	}
	for _, it := range c.IndexTypes {
		b.IndexTypes = append(b.IndexTypes, httprecv.IndexType{Pattern: it.Pattern, Type: it.Type})
	}
	if b.NodeName == "" {
		if host, err := os.Hostname(); err == nil {
			b.NodeName = host
		} else {
			b.NodeName = "sluice"
		}
	}
	return b
}
