package gateway_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/stream"
)

// TestNewPrincipal: a principal made by a receiver without API keys (lumberjack)
// authenticates its batches when keys are required, and its type allow-list applies.
func TestNewPrincipal(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Auth.Keys = []gateway.APIKey{{Name: "ci", SHA256: gateway.HashKey("secret"), Types: []string{"*"}}}
	p := &producer{}
	g := newGateway(t, cfg, p)
	batch := gateway.Batch{Receiver: "lumberjack", Events: []gateway.Event{
		{Doc: []byte(`{"fields":{"log_type":"firewall"}}`)},
		{Doc: []byte(`{"fields":{"log_type":"ids"}}`)},
	}}
	if _, err := g.Ingest(context.Background(), batch); gateway.KindOf(err) != gateway.KindUnauthenticated {
		t.Fatalf("without a principal: %v, want unauthenticated", err)
	}
	ctx := gateway.WithPrincipal(context.Background(), gateway.NewPrincipal("lumberjack", []string{"firewall"}))
	res, err := g.Ingest(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 1 || len(res.Rejections) != 1 || res.Rejections[0].Kind != gateway.KindForbidden ||
		!strings.Contains(res.Rejections[0].Reason, `"lumberjack" may not send log type "ids"`) {
		t.Fatalf("result %+v", res)
	}
	all := gateway.NewPrincipal("lumberjack", []string{"*"})
	if !all.Allows("anything") || gateway.NewPrincipal("x", nil).Allows("firewall") {
		t.Error(`"*" must allow every type, no types none`)
	}
}

// TestDefaultTypeFieldsEndWithInputType: Beats events that name no log type are typed
// by input.type, after fields.log_type and event.dataset.
func TestDefaultTypeFieldsEndWithInputType(t *testing.T) {
	fields := gateway.DefaultConfig().Routing.TypeFields
	if fields[len(fields)-1] != "input.type" {
		t.Fatalf("default type fields %q do not end with input.type", fields)
	}
	p := &producer{}
	g := newGateway(t, gateway.DefaultConfig(), p)
	res, err := g.Ingest(context.Background(), gateway.Batch{Receiver: "lumberjack", Events: []gateway.Event{
		{Doc: []byte(`{"message":"m","input":{"type":"filestream"}}`)},
		{Doc: []byte(`{"event":{"dataset":"ids"},"input":{"type":"filestream"}}`)},
	}})
	if err != nil || res.Accepted != 2 {
		t.Fatalf("Ingest = %+v, %v", res, err)
	}
	var types []string
	for _, recs := range p.puts {
		for _, r := range recs {
			env, err := stream.ParseEnvelope(r.Data)
			if err != nil {
				t.Fatal(err)
			}
			types = append(types, env.Type)
		}
	}
	if strings.Join(types, ",") != "filestream,ids" && strings.Join(types, ",") != "ids,filestream" {
		t.Fatalf("types %v, want filestream and ids", types)
	}
}
