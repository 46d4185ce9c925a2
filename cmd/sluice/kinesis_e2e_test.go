package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluice-siem/sluice/config"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
)

// TestGatewayToKinesis runs `sluice gateway` on a Kinesis-compatible server (started by
// scripts/test.sh) and sends over HTTP, gRPC and lumberjack. Reading every shard back
// and de-aggregating yields exactly the events sent, in the stream of their type, each
// on the shard its partition key hashes to.
func TestGatewayToKinesis(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	kc := kinesistest.Client(t, endpoint)
	streams := map[string]string{
		"firewall": kinesistest.CreateStream(t, kc, 4),
		"ids":      kinesistest.CreateStream(t, kc, 2),
	}
	defaultStream := kinesistest.CreateStream(t, kc, 1)

	cfg := config.Default(config.RoleGateway)
	cfg.HTTP.Addr, cfg.GRPC.Addr, cfg.Lumberjack.Addr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Gateway.Auth.Disabled = true
	cfg.Gateway.Routing.Streams = streams
	cfg.Gateway.Routing.DefaultStream = defaultStream
	cfg.Gateway.Routing.PartitionKeyField = "host.name"
	cfg.Shutdown.DrainDelay = 0
	k := &cfg.Stream.Kinesis
	k.Endpoint, k.Region = endpoint, kinesistest.Region
	k.Credentials.AccessKeyID, k.Credentials.SecretAccessKey = kinesistest.AccessKeyID, kinesistest.SecretAccessKey
	k.Linger = 5 * time.Millisecond
	a, stop := startApp(t, cfg, config.RoleGateway)

	want := map[string][]string{} // stream -> messages
	// HTTP: firewall events from 20 hosts.
	var nd bytes.Buffer
	for i := range 200 {
		msg := fmt.Sprintf("http-%d", i)
		fmt.Fprintf(&nd, `{"message":%q,"fields":{"log_type":"firewall"},"host":{"name":"fw%02d"}}`+"\n", msg, i%20)
		want[streams["firewall"]] = append(want[streams["firewall"]], msg)
	}
	postOK(t, "http://"+a.httpLn.Addr().String()+"/v1/events", "application/x-ndjson", nd.Bytes(), `"accepted":200`)

	// gRPC: ids events with explicit partition keys.
	conn, err := grpc.NewClient("passthrough:///"+a.grpcLn.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var evs []*sluicev1.Event
	for i := range 100 {
		msg := fmt.Sprintf("grpc-%d", i)
		evs = append(evs, &sluicev1.Event{Type: "ids", Message: msg, PartitionKey: fmt.Sprintf("sensor-%d", i%7)})
		want[streams["ids"]] = append(want[streams["ids"]], msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resp, err := sluicev1.NewIngestServiceClient(conn).Push(ctx, &sluicev1.PushRequest{Events: evs}); err != nil || resp.GetAccepted() != 100 {
		t.Fatalf("Push = %v, %v", resp, err)
	}

	// Lumberjack: events of a type without a stream of its own go to the default one.
	lc, err := lj.SyncDial(a.ljSrv.Addr().String(), lj.CompressionLevel(3), lj.Timeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	var window []any
	for i := range 150 {
		msg := fmt.Sprintf("beats-%d", i)
		window = append(window, json.RawMessage(fmt.Sprintf(`{"message":%q,"fields":{"log_type":"vpn"},"host":{"name":"vpn%d"}}`, msg, i%5)))
		want[defaultStream] = append(want[defaultStream], msg)
	}
	if n, err := lc.Send(window); err != nil || n != len(window) {
		t.Fatalf("lumberjack window ACKed %d of %d: %v", n, len(window), err)
	}

	if err := stop(); err != nil {
		t.Fatalf("gateway stopped with: %v", err)
	}

	for name, msgs := range want {
		owners := map[string]kinesistest.Shard{}
		for _, sh := range kinesistest.Shards(t, kc, name) {
			owners[sh.ID] = sh
		}
		var got []string
		for _, rec := range kinesistest.ReadAll(t, kc, name) {
			for _, u := range rec.Users {
				if !owners[rec.Shard].Owns(u.PartitionKey) {
					t.Errorf("stream %s: event with key %q on shard %s, which does not own it", name, u.PartitionKey, rec.Shard)
				}
				env, err := stream.ParseEnvelope(u.Data)
				if err != nil {
					t.Fatalf("stream %s: %v", name, err)
				}
				var doc struct{ Message string }
				if err := json.Unmarshal(env.Event, &doc); err != nil {
					t.Fatal(err)
				}
				got = append(got, doc.Message)
			}
		}
		slices.Sort(got)
		slices.Sort(msgs)
		if !slices.Equal(got, msgs) {
			t.Errorf("stream %s holds %d events, sent %d\ngot  %v\nsent %v", name, len(got), len(msgs), got, msgs)
		}
	}
}
