package enrich

import (
	"context"
	"testing"
	"time"
)

// Shutdown is safe without Start and twice; after Start it ends the reloading: a file
// changed after Shutdown is not loaded.
func TestResourcesShutdown(t *testing.T) {
	ctx := context.Background()
	res, _ := cidrResources(t, nil, false)
	for range 2 {
		if err := res.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown without Start: %v", err)
		}
	}

	res, dir := cidrResources(t, nil, false)
	p, err := NewCIDRLookup(CIDRConfig{Field: "source.ip", Table: "zones"}, res)
	if err != nil {
		t.Fatal(err)
	}
	zoneOf := func(ip string) any {
		e := eventOf(map[string]any{"source": map[string]any{"ip": ip}})
		if err := p.Process(ctx, e); err != nil {
			t.Fatal(err)
		}
		nw, _ := e.Fields["source"].(map[string]any)["network"].(map[string]any)
		return nw["zone"]
	}
	// The work runs after the context of Start ends.
	startCtx, cancel := context.WithCancel(ctx)
	if err := res.Start(startCtx); err != nil {
		t.Fatal(err)
	}
	cancel()
	writeFile(t, dir, "zones.csv", []byte("cidr,network.zone\n172.16.0.0/12,vpn\n"))
	eventually(t, "the reloaded table", func() bool { return zoneOf("172.16.0.1") == "vpn" })
	for range 2 {
		if err := res.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	// The table in service stays (processors are not used after Shutdown in a real
	// process; here it shows what reloading did): a later change is not loaded.
	writeFile(t, dir, "zones.csv", []byte("cidr,network.zone\n172.16.0.0/12,changed\n"))
	time.Sleep(100 * time.Millisecond) // ten reload intervals, twice the wait for a change to hold
	if z := zoneOf("172.16.0.1"); z != "vpn" {
		t.Errorf("zone %v after Shutdown: the files are still reloaded", z)
	}
}
