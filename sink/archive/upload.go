package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sluice-siem/sluice/internal/awsclient"
)

// newClient makes the S3 client of cfg through awsclient, the project's one AWS
// setup; transport, if set, replaces the HTTP transport (tests put a fault-injecting
// one in front of a real server). attempts is the SDK's tries per call: 1 for the
// archive, which retries uploads itself.
func newClient(ctx context.Context, cfg Config, transport http.RoundTripper, attempts int) (*s3.Client, error) {
	ac, err := awsclient.Load(ctx, awsclient.Settings{Region: cfg.Region, Endpoint: cfg.Endpoint, Credentials: cfg.Credentials})
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if transport != nil {
		ac.AWS.HTTPClient = &http.Client{Transport: transport}
	}
	return s3.NewFromConfig(ac.AWS, func(o *s3.Options) {
		o.BaseEndpoint = ac.Endpoint
		o.UsePathStyle = cfg.PathStyle
		o.RetryMaxAttempts = attempts
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.DisableLogOutputChecksumValidationSkipped = true
	}), nil
}

// s3API is the S3 calls the archive makes: exactly these need IAM permissions
// (deploy/ecs/sluice.yaml's TransformTaskRole; deploy's test reads this interface).
type s3API interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

var _ s3API = (*s3.Client)(nil)

// oldObject is an object of a shard found in the bucket when a shard's processing
// (re)started: written by an earlier owner, maybe past the shard's checkpoint.
type oldObject struct {
	key         string
	first, last pos
}

// listShard lists the objects of a shard's type in one partition (one hour).
func (a *Archive) listShard(ctx context.Context, prefix string) ([]oldObject, error) {
	var out []oldObject
	p := s3.NewListObjectsV2Paginator(a.client, &s3.ListObjectsV2Input{Bucket: aws.String(a.cfg.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		ctx, cancel := context.WithTimeout(ctx, a.cfg.UploadTimeout)
		page, err := p.NextPage(ctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", a.cfg.Bucket, prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			first, last, ok := rangeOfKey(key, prefix, a.cfg.ending())
			if ok {
				out = append(out, oldObject{key: key, first: first, last: last})
			}
		}
	}
	return out, nil
}

// rangeOfKey reads first and last of a key <shardPrefix><first>-<last><ending>.
func rangeOfKey(key, shardPrefix, ending string) (first, last pos, ok bool) {
	rest, ok := bytes.CutPrefix([]byte(key), []byte(shardPrefix))
	if !ok {
		return pos{}, pos{}, false
	}
	f, _, ok := bytes.Cut(rest, []byte("-"))
	if !ok {
		return pos{}, pos{}, false
	}
	first, ok = parseKeyPos(string(f))
	if !ok {
		return pos{}, pos{}, false
	}
	last, ok = lastOfKey(key, shardPrefix+string(f)+"-", ending)
	return first, last, ok
}

// errUploadAborted marks a failed multipart upload that was aborted.
var errUploadAborted = errors.New("multipart upload aborted")

// upload writes one object: a PutObject below the part size, else a multipart upload
// of part-size parts, aborted when any step fails (so no incomplete upload is left
// behind to be billed).
func (a *Archive) upload(ctx context.Context, key string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.UploadTimeout)
	defer cancel()
	bucket := aws.String(a.cfg.Bucket)
	part := int(a.cfg.PartSize)
	if len(body) < part {
		_, err := a.client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(key), Body: bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String(a.cfg.contentType())})
		if err != nil {
			return fmt.Errorf("put s3://%s/%s: %w", a.cfg.Bucket, key, err)
		}
		return nil
	}
	mu, err := a.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String(key), ContentType: aws.String(a.cfg.contentType())})
	if err != nil {
		return fmt.Errorf("create multipart upload of s3://%s/%s: %w", a.cfg.Bucket, key, err)
	}
	err = a.uploadParts(ctx, key, mu.UploadId, body, part)
	if err == nil {
		return nil
	}
	// Abort with a context of its own: ctx may be what ended.
	actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.UploadTimeout)
	defer acancel()
	if _, aerr := a.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: bucket, Key: aws.String(key), UploadId: mu.UploadId}); aerr != nil {
		a.log.Warn("abort multipart upload (the bucket's lifecycle rule removes it)", "key", key, "err", aerr)
		return errors.Join(err, fmt.Errorf("abort: %w", aerr))
	}
	return fmt.Errorf("%w: %w", errUploadAborted, err)
}

func (a *Archive) uploadParts(ctx context.Context, key string, id *string, body []byte, size int) error {
	var parts []types.CompletedPart
	for n, off := int32(1), 0; off < len(body); n, off = n+1, off+size {
		chunk := body[off:min(off+size, len(body))]
		if a.failPart != nil {
			if err := a.failPart(n); err != nil {
				return err
			}
		}
		out, err := a.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(a.cfg.Bucket), Key: aws.String(key), UploadId: id,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(chunk), ContentLength: aws.Int64(int64(len(chunk)))})
		if err != nil {
			return fmt.Errorf("upload part %d of s3://%s/%s: %w", n, a.cfg.Bucket, key, err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
	}
	_, err := a.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(a.cfg.Bucket), Key: aws.String(key), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: slices.Clip(parts)}})
	if err != nil {
		return fmt.Errorf("complete multipart upload of s3://%s/%s: %w", a.cfg.Bucket, key, err)
	}
	return nil
}

// contentType of c's objects: Parquet, or NDJSON (compressed, as the key's ending
// says).
func (c Config) contentType() string {
	if c.Format == FormatParquet {
		return "application/vnd.apache.parquet"
	}
	return "application/x-ndjson"
}
