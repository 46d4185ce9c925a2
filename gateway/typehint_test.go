package gateway_test

import (
	"context"
	"testing"

	"github.com/sluice-siem/sluice/gateway"
)

// TestNoTypeReasonIsTheTransports checks that the rejection of an event without a log
// type offers the batch's TypeHint, then the configured type fields, and nothing of
// another transport.
func TestNoTypeReasonIsTheTransports(t *testing.T) {
	withFields := gateway.DefaultConfig()
	noFields := gateway.DefaultConfig()
	noFields.Routing.TypeFields = nil
	for _, tt := range []struct {
		name string
		cfg  gateway.Config
		hint string
		want string
	}{
		{"hint and fields", withFields, "the event's type field",
			"no log type: name it with the event's type field, or one of the event fields fields.log_type, event.dataset, input.type"},
		{"fields only", withFields, "",
			"no log type: name it with one of the event fields fields.log_type, event.dataset, input.type"},
		{"hint only", noFields, "?type= or the X-Sluice-Type header",
			"no log type: name it with ?type= or the X-Sluice-Type header"},
		{"neither", noFields, "",
			"no log type: the event names none, and gateway.routing has no type_fields or default_type"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t, tt.cfg, &producer{})
			res, err := g.Ingest(context.Background(), gateway.Batch{Receiver: "test", TypeHint: tt.hint, Events: []gateway.Event{ev(`{"message":"m"}`)}})
			if err != nil || len(res.Rejections) != 1 {
				t.Fatalf("Ingest = %+v, %v; want one rejection", res, err)
			}
			if rj := res.Rejections[0]; rj.Kind != gateway.KindInvalid || rj.Reason != tt.want {
				t.Errorf("rejection %s %q, want invalid %q", rj.Kind, rj.Reason, tt.want)
			}
		})
	}
}
