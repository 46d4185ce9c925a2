package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluice-siem/sluice/internal/retry"
)

// createStreams makes the named streams with shards shards each on a Kinesis-compatible
// server at endpoint (kinesalite in scripts/bench.sh) and waits until they are active.
// A stream that already exists is left as it is.
func createStreams(ctx context.Context, endpoint, region string, shards int, names []string, allowRemote bool) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("endpoint %q: want http://host:port", endpoint)
	}
	hostport := u.Host
	if u.Port() == "" {
		hostport = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	if err := checkLoopback(ctx, hostport, allowRemote); err != nil {
		return err
	}
	if shards < 1 || shards > 1024 {
		return fmt.Errorf("--shards must be 1 to 1024, not %d", shards)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	kc := awskinesis.New(awskinesis.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		// A compatible server checks that requests are signed, not by whom.
		Credentials: credentials.NewStaticCredentialsProvider("sluice-bench", "sluice-bench", ""),
		HTTPClient:  &http.Client{Transport: tr},
	})
	for _, name := range names {
		_, err := kc.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))})
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("create stream %s: %w", name, err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, name := range names {
		for {
			out, err := kc.DescribeStreamSummary(wctx, &awskinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
			if err != nil {
				return fmt.Errorf("wait for stream %s: %w", name, err)
			}
			if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
				break
			}
			if !retry.Sleep(wctx, 20*time.Millisecond) {
				return fmt.Errorf("wait for stream %s to become active: %w", name, wctx.Err())
			}
		}
	}
	return nil
}
