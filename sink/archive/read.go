package archive

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/stream"
)

// Line is one archived event as read back: what a replay needs to run it through the
// current pipeline and index it under the id it had.
type Line struct {
	// Type is the log type of the object's partition.
	Type string
	// Position is the event's stream position (stream/shard/sequence[/sub-sequence]).
	Position string
	// ID is the document id it was indexed under: the event's identity, or its
	// position when it had none.
	ID string
	// Received is when the gateway accepted the event.
	Received time.Time
	// Event is the event as shipped (without the archive's _sluice member).
	Event []byte
	// Source names the line for messages: s3://bucket/key:line.
	Source string
}

// EnvelopeID is the id the event's envelope had: its identity, or empty when the
// document id is the stream position.
func (l *Line) EnvelopeID() string {
	if l.ID == l.Position {
		return ""
	}
	return l.ID
}

// ReadLine parses one archived line: a raw event with its _sluice member (content
// raw) or a {"position","id","received","raw","document"} object (content both).
// Lines of content document, and of archives written before lines carried their
// position, have no position: they cannot be replayed under their ids, and ReadLine
// says so. Nesting is bounded by jsonx.MaxDepth.
func ReadLine(line []byte) (Line, error) {
	line = bytes.TrimSpace(line)
	if len(line) < 2 || line[0] != '{' || line[len(line)-1] != '}' {
		return Line{}, errors.New("not a JSON object")
	}
	l, rawErr := readRaw(line)
	if rawErr == nil {
		return l, nil
	}
	if bytes.HasPrefix(line, []byte(`{"position":`)) {
		return readBoth(line)
	}
	if errors.Is(rawErr, errNoMeta) {
		return Line{}, errors.New("no _sluice member with the event's position: a line of content document, or of an archive older than replays from it")
	}
	return Line{}, rawErr
}

var errNoMeta = errors.New("no _sluice member")

// readRaw reads a raw event whose last member is _sluice (appendMeta): the event is
// the bytes before that member, exactly as shipped.
func readRaw(line []byte) (Line, error) {
	i := bytes.LastIndex(line, []byte(metaKey))
	if i < 1 {
		return Line{}, errNoMeta
	}
	l, err := parseMeta(line[i+len(metaKey) : len(line)-1])
	if err != nil {
		return Line{}, fmt.Errorf("_sluice: %w", err)
	}
	// Before the member: a comma after the event's own members, or the opening brace
	// of an event that had none.
	j := i - 1
	for j > 0 && isSpace(line[j]) {
		j--
	}
	switch line[j] {
	case ',':
		l.Event = append(bytes.Clone(line[:j]), '}')
	case '{':
		if j != 0 {
			return Line{}, errors.New("_sluice is not a member of the event object")
		}
		l.Event = []byte("{}")
	default:
		return Line{}, errors.New("_sluice is not a member of the event object")
	}
	if err := validObject(l.Event); err != nil {
		return Line{}, fmt.Errorf("event: %w", err)
	}
	return l, nil
}

// readBoth reads a line of content both.
func readBoth(line []byte) (Line, error) {
	var l Line
	var recv string
	d := jsonx.NewDecoder(line)
	err := d.Object(func(key string) error {
		var err error
		switch key {
		case "position":
			l.Position, err = d.String()
		case "id":
			l.ID, err = d.String()
		case "received":
			recv, err = d.String()
		case "raw":
			l.Event, err = d.Skip()
		default:
			_, err = d.Skip()
		}
		return err
	})
	if err == nil {
		err = d.End()
	}
	if err != nil {
		return Line{}, err
	}
	if len(l.Event) == 0 || l.Event[0] != '{' {
		return Line{}, errors.New("no raw event object")
	}
	l.Event = bytes.Clone(l.Event)
	return l, l.check(recv)
}

// parseMeta reads the _sluice member's value, {"position","id","received"}.
func parseMeta(obj []byte) (Line, error) {
	var l Line
	var recv string
	d := jsonx.NewDecoder(obj)
	d.SetMaxDepth(1)
	err := d.Object(func(key string) error {
		var err error
		switch key {
		case "position":
			l.Position, err = d.String()
		case "id":
			l.ID, err = d.String()
		case "received":
			recv, err = d.String()
		default:
			_, err = d.Skip()
		}
		return err
	})
	if err == nil {
		err = d.End()
	}
	if err != nil {
		return Line{}, err
	}
	return l, l.check(recv)
}

// check completes l from what its line said: position and time of receipt are
// required, the id defaults to the position.
func (l *Line) check(recv string) error {
	if l.Position == "" || recv == "" {
		return errors.New("want position and received")
	}
	if l.ID == "" {
		l.ID = l.Position
	}
	if len(l.ID) > stream.MaxIDLen {
		return fmt.Errorf("id of %d bytes, at most %d", len(l.ID), stream.MaxIDLen)
	}
	t, err := time.Parse(time.RFC3339Nano, recv)
	if err != nil {
		return fmt.Errorf("received: %w", err)
	}
	l.Received = t
	return nil
}

// validObject reports whether b is one JSON object and nothing else.
func validObject(b []byte) error {
	d := jsonx.NewDecoder(b)
	if d.Peek() != '{' {
		return errors.New("not an object")
	}
	if _, err := d.Skip(); err != nil {
		return err
	}
	return d.End()
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// ParseURL reads an archive's location, s3://BUCKET[/PREFIX].
func ParseURL(s string) (bucket, prefix string, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("%q: want s3://BUCKET[/PREFIX]", s)
	}
	return u.Host, strings.Trim(u.Path, "/"), nil
}

// s3Reader is the S3 calls of a Reader (s3:ListBucket, s3:GetObject).
type s3Reader interface {
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Reader reads archived events back, for `sluice replay --from-archive`.
type Reader struct {
	client s3Reader
	bucket string
	prefix string
	log    *slog.Logger
}

// NewReader returns a Reader of the archive in cfg.Bucket under cfg.Prefix, with
// cfg's S3 settings (region, endpoint, credentials). The SDK retries each call.
func NewReader(ctx context.Context, cfg Config, opts Options) (*Reader, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("archive: no bucket to read")
	}
	client, err := newClient(ctx, cfg, opts.Transport, 5)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reader{client: client, bucket: cfg.Bucket, prefix: strings.Trim(cfg.Prefix, "/"), log: log}, nil
}

// ReadOptions choose what a Reader reads.
type ReadOptions struct {
	// Types are the log types to read; empty: every type under the prefix.
	Types []string
	// Since and Until bound when the gateway received the events read (both
	// included). Since is required: an archive holds years.
	Since, Until time.Time
	// MaxLineBytes bounds one line; a longer one is reported to visit as unreadable
	// and skipped. 0: 16 MiB.
	MaxLineBytes int
	// Object, if set, is called before each object is read.
	Object func(key string)
}

// ErrStop, returned by a visit, ends a Read early without an error.
var ErrStop = errors.New("stop reading")

// Read calls visit with each archived event of opts' types received between
// opts.Since and opts.Until, type by type, hour by hour, in key order; a line it
// cannot read comes with an error (and Source set), and the reading goes on unless
// visit returns an error. An object holds events up to max_age (at most an hour)
// after the hour of its partition, so the hour before Since is read too.
func (r *Reader) Read(ctx context.Context, opts ReadOptions, visit func(Line, error) error) error {
	if opts.Since.IsZero() {
		return errors.New("read archive: no start time")
	}
	if opts.Until.IsZero() {
		opts.Until = time.Now()
	}
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = int(16 * bytesize.MiB)
	}
	types := opts.Types
	if len(types) == 0 {
		var err error
		if types, err = r.types(ctx); err != nil {
			return err
		}
	}
	err := func() error {
		for _, typ := range types {
			for h := opts.Since.UTC().Truncate(time.Hour).Add(-time.Hour); !h.After(opts.Until); h = h.Add(time.Hour) {
				keys, err := r.list(ctx, r.join(partition(typ, h))+"/")
				if err != nil {
					return err
				}
				for _, key := range keys {
					if opts.Object != nil {
						opts.Object(key)
					}
					if err := r.object(ctx, key, typ, opts, visit); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}()
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

func (r *Reader) join(s string) string {
	if r.prefix == "" {
		return s
	}
	return r.prefix + "/" + s
}

// types lists the log types with objects under the prefix (type=<type>/).
func (r *Reader) types(ctx context.Context) ([]string, error) {
	var out []string
	base := r.join("type=")
	p := s3.NewListObjectsV2Paginator(r.client, &s3.ListObjectsV2Input{Bucket: aws.String(r.bucket), Prefix: aws.String(base), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", r.bucket, base, err)
		}
		for _, cp := range page.CommonPrefixes {
			typ := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), base), "/")
			if stream.ValidType(typ) {
				out = append(out, typ)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// list returns the keys of the objects under prefix, in order.
func (r *Reader) list(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	p := s3.NewListObjectsV2Paginator(r.client, &s3.ListObjectsV2Input{Bucket: aws.String(r.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", r.bucket, prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	slices.Sort(out)
	return out, nil
}

// object reads the lines of one object.
func (r *Reader) object(ctx context.Context, key, typ string, opts ReadOptions, visit func(Line, error) error) error {
	src := "s3://" + r.bucket + "/" + key
	res, err := r.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("get %s: %w", src, err)
	}
	defer res.Body.Close()
	var body io.Reader
	switch {
	case strings.HasSuffix(key, extension(CompressionZstd)):
		zr, err := zstd.NewReader(res.Body, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20))
		if err != nil {
			return visit(Line{Source: src}, fmt.Errorf("zstd: %w", err))
		}
		defer zr.Close()
		body = zr
	case strings.HasSuffix(key, extension(CompressionGzip)):
		gz, err := gzip.NewReader(res.Body)
		if err != nil {
			return visit(Line{Source: src}, fmt.Errorf("gzip: %w", err))
		}
		defer gz.Close()
		body = gz
	default:
		r.log.Warn("not an archive object, skipped", "object", src)
		return nil
	}
	br := bufio.NewReaderSize(body, 64<<10)
	for n := 1; ; n++ {
		line, err := readLine(br, opts.MaxLineBytes)
		if len(line) == 0 && err == io.EOF {
			return nil
		}
		source := src + ":" + strconv.Itoa(n)
		switch {
		case errors.Is(err, errLineTooLong):
			if verr := visit(Line{Type: typ, Source: source}, err); verr != nil {
				return verr
			}
			continue
		case err != nil && err != io.EOF:
			// A damaged object: what was read stands, the rest of it cannot be.
			return visit(Line{Type: typ, Source: source}, fmt.Errorf("read: %w", err))
		}
		l, perr := ReadLine(line)
		l.Type, l.Source = typ, source
		if perr == nil && (l.Received.Before(opts.Since) || l.Received.After(opts.Until)) {
			continue
		}
		if verr := visit(l, perr); verr != nil {
			return verr
		}
		if err == io.EOF {
			return nil
		}
	}
}

var errLineTooLong = errors.New("line longer than the limit")

// readLine returns the next line without its newline, reading at most max bytes of
// it: a longer line is consumed and errLineTooLong returned.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > max+1 {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return nil, err
			}
			return nil, errLineTooLong
		}
		line = append(line, frag...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimSuffix(line, []byte("\n")), err
	}
}
