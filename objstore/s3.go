package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Config is what the S3 backend needs, one field per configuration key (the koanf tags are
// the names under library.s3 the lead maps them to). Only Bucket is required; zero values take
// the defaults named on each field.
type S3Config struct {
	// Endpoint is the server's base URL, scheme included ("https://s3.eu-west-1.amazonaws.com",
	// "http://127.0.0.1:7070", "https://rgw.example.net"). Empty: AWS S3's own endpoint for Region.
	Endpoint string `koanf:"endpoint"`
	// Region is the signing region. Default "us-east-1", which MinIO, Ceph RGW and versitygw accept
	// unless configured otherwise.
	Region string `koanf:"region"`
	// Bucket holds the library; it must exist (callrec never creates buckets).
	Bucket string `koanf:"bucket"`
	// Prefix is prepended to every key, so one bucket can hold several libraries: "" or a
	// valid key prefix ending in "/" ("callrec/", "tenants/eu/").
	Prefix string `koanf:"prefix"`
	// PathStyle addresses the bucket as Endpoint/Bucket/key instead of Bucket.Endpoint/key; most
	// self-hosted servers (MinIO, versitygw, Ceph RGW without wildcard DNS) need it true.
	PathStyle bool `koanf:"path_style"`
	// AccessKeyID and SecretAccessKey (and SessionToken, for temporary keys) are static
	// credentials. Leave both keys empty to use the AWS SDK's default chain: AWS_ACCESS_KEY_ID /
	// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, then the shared files ~/.aws/credentials and
	// ~/.aws/config (AWS_PROFILE selects the profile), then web identity / ECS / EC2 instance
	// roles.
	AccessKeyID     string `koanf:"access_key_id"`
	SecretAccessKey string `koanf:"secret_access_key"`
	SessionToken    string `koanf:"session_token"`
	// MultipartThreshold: a Put of more bytes than this is a multipart upload; up to it, one
	// PUT. Default 16 MiB. The first MultipartThreshold bytes of every Put are held in memory.
	MultipartThreshold int64 `koanf:"multipart_threshold"`
	// PartSize is the size of each multipart part but the last, at least 5 MiB (S3's minimum).
	// Default 16 MiB; with S3's 10,000-part limit that caps one object at about 156 GiB.
	PartSize int64 `koanf:"part_size"`
	// ReadAhead caps the window a sequential reader fetches per ranged GET (see Object). Default
	// 1 MiB.
	ReadAhead int `koanf:"read_ahead"`
	// ChecksumWhenRequired stops the SDK from adding its default CRC32 checksums (a trailer on
	// every upload) unless an API requires one; set it for servers that reject them (older Ceph
	// RGW and MinIO releases). Default false: uploads carry a CRC32 the server verifies.
	ChecksumWhenRequired bool `koanf:"checksum_when_required"`

	// HTTPClient, when set, carries every request (custom CA, proxy, tests); it ignores
	// AWS_CA_BUNDLE, so set its TLS roots yourself. Not a configuration key.
	HTTPClient *http.Client `koanf:"-"`
}

// Defaults of S3Config's zero fields.
const (
	DefaultS3Region           = "us-east-1"
	DefaultMultipartThreshold = 16 << 20
	DefaultPartSize           = 16 << 20
	DefaultReadAhead          = 1 << 20
	minPartSize               = 5 << 20 // S3: every part but the last
	maxParts                  = 10000   // S3: parts per upload
	maxPutSize                = 5 << 30 // S3: one PUT
	maxPresignTTL             = 7 * 24 * time.Hour
	abortTimeout              = 30 * time.Second
)

// S3 is a Store on a bucket of an S3-compatible server (AWS S3, MinIO, Ceph RGW, versitygw).
// Make it with NewS3; it is safe for concurrent use and holds only an HTTP client's idle
// connections, so it needs no Close.
type S3 struct {
	client  *s3.Client
	presign *s3.PresignClient
	cfg     S3Config
}

var _ Store = (*S3)(nil)

// NewS3 checks cfg, fills its defaults and builds the client; it resolves credentials lazily,
// so it does not talk to the server (a wrong key shows at the first call). Errors: a field out
// of range, or the SDK's when loading the shared config files fails.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(cfg.Region)}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	if cfg.ChecksumWhenRequired {
		opts = append(opts,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load AWS config: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// Passed here, not to LoadDefaultConfig, which refuses a plain *http.Client when
		// AWS_CA_BUNDLE is set (it wants to add the bundle to the SDK's own transport).
		if cfg.HTTPClient != nil {
			o.HTTPClient = cfg.HTTPClient
		}
		// A ranged GET carries no whole-object checksum to validate; without this the SDK logs
		// a line per read (aws/aws-sdk-go-v2 PR #2976 added the switch).
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return &S3{client: client, presign: s3.NewPresignClient(client), cfg: cfg}, nil
}

// fill checks c and sets its defaults.
func (c *S3Config) fill() error {
	if c.Bucket == "" {
		return errors.New("s3: bucket is required")
	}
	if c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "http://") && !strings.HasPrefix(c.Endpoint, "https://") {
		return fmt.Errorf("s3: endpoint %q: want an http:// or https:// URL", c.Endpoint)
	}
	if c.Prefix != "" {
		if err := validPrefix(c.Prefix); err != nil || !strings.HasSuffix(c.Prefix, "/") {
			return fmt.Errorf("s3: prefix %q: want \"\" or a key prefix ending in \"/\"", c.Prefix)
		}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return errors.New("s3: set both access_key_id and secret_access_key, or neither")
	}
	if c.Region == "" {
		c.Region = DefaultS3Region
	}
	if c.MultipartThreshold == 0 {
		c.MultipartThreshold = DefaultMultipartThreshold
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.ReadAhead == 0 {
		c.ReadAhead = DefaultReadAhead
	}
	switch {
	case c.MultipartThreshold < 0 || c.MultipartThreshold > maxPutSize:
		return fmt.Errorf("s3: multipart_threshold %d: want 0 to 5 GiB (S3's largest single PUT)", c.MultipartThreshold)
	case c.PartSize < minPartSize:
		return fmt.Errorf("s3: part_size %d is under S3's 5 MiB minimum", c.PartSize)
	case c.ReadAhead < 0:
		return fmt.Errorf("s3: read_ahead %d is negative", c.ReadAhead)
	}
	return nil
}

// objectKey is key's name in the bucket, or an error wrapping ErrInvalidKey.
func (s *S3) objectKey(key string) (string, error) {
	if err := ValidKey(key); err != nil {
		return "", err
	}
	return s.cfg.Prefix + key, nil
}

// Put uploads r under key: one PUT when r yields at most MultipartThreshold bytes, else a
// multipart upload of PartSize parts, completed only after every part is stored; either way the
// object exists, whole, when Put returns nil (S3 is read-after-write consistent). Any failure,
// ctx ending included, aborts the multipart upload so no parts remain, except that if ctx ends
// during the final request the server may still complete it: the error then does not prove the
// object absent, and a retried Put replaces it. Errors: ErrInvalidKey, ctx's, r's, the server's.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) error {
	k, err := s.objectKey(key)
	if err != nil {
		return err
	}
	src := ctxReader{ctx, r}
	head, more, err := readHead(src, s.cfg.MultipartThreshold)
	if err != nil {
		return fmt.Errorf("put %s: read: %w", key, err)
	}
	if !more {
		return s.putOnce(ctx, key, k, head)
	}
	return s.putMultipart(ctx, key, k, io.MultiReader(bytes.NewReader(head), src))
}

// readHead reads up to limit bytes of r, and reports whether r has more. The buffer grows
// with what arrives, so a small object costs a small buffer.
func readHead(r io.Reader, limit int64) (head []byte, more bool, err error) {
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, r, limit+1)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	return buf.Bytes(), n > limit, nil
}

// putOnce stores body with a single PUT.
func (s *S3) putOnce(ctx context.Context, key, k string, body []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.cfg.Bucket,
		Key:           &k,
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String(contentType(key)),
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, mapErr(err))
	}
	return nil
}

// putMultipart uploads r as a multipart upload, one part in memory at a time, and aborts the
// upload on any failure.
func (s *S3) putMultipart(ctx context.Context, key, k string, r io.Reader) (err error) {
	in := &s3.CreateMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: &k, ContentType: aws.String(contentType(key))}
	if !s.cfg.ChecksumWhenRequired {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
	}
	up, err := s.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return fmt.Errorf("put %s: create multipart upload: %w", key, mapErr(err))
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.abort(ctx, k, up.UploadId))
		}
	}()
	parts, err := s.uploadParts(ctx, k, up.UploadId, r)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.cfg.Bucket, Key: &k, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return fmt.Errorf("put %s: complete multipart upload: %w", key, mapErr(err))
	}
	return nil
}

// uploadParts sends r in PartSize parts, in order, and returns what CompleteMultipartUpload needs.
func (s *S3) uploadParts(ctx context.Context, k string, uploadID *string, r io.Reader) ([]types.CompletedPart, error) {
	buf := make([]byte, s.cfg.PartSize)
	var parts []types.CompletedPart
	for n := int32(1); ; n++ {
		size, rerr := io.ReadFull(r, buf)
		if rerr != nil && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("read part %d: %w", n, rerr)
		}
		if size == 0 && n > 1 {
			return parts, nil
		}
		if n > maxParts {
			return nil, fmt.Errorf("more than %d parts of %d bytes", maxParts, s.cfg.PartSize)
		}
		in := &s3.UploadPartInput{
			Bucket: &s.cfg.Bucket, Key: &k, UploadId: uploadID, PartNumber: aws.Int32(n),
			Body: bytes.NewReader(buf[:size]), ContentLength: aws.Int64(int64(size)),
		}
		if !s.cfg.ChecksumWhenRequired {
			in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
		}
		out, err := s.client.UploadPart(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("upload part %d: %w", n, mapErr(err))
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
		if rerr != nil {
			return parts, nil
		}
	}
}

// abort ends a failed multipart upload so its parts are freed, on a context of its own: the
// caller's may be the reason for the failure.
func (s *S3) abort(ctx context.Context, k string, uploadID *string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: &k, UploadId: uploadID})
	if err != nil {
		return fmt.Errorf("abort multipart upload %s: %w", aws.ToString(uploadID), err)
	}
	return nil
}

// contentType is what a browser fetching the object (a pre-signed URL) is told it is.
func contentType(key string) string {
	ext := strings.ToLower(path.Ext(key))
	switch ext {
	case ".mp3":
		return "audio/mpeg"
	case ".wav":
		return "audio/wav"
	case ".zip":
		return "application/zip"
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// Open heads the object to fix its size and ETag; every read then is a ranged GET conditional
// on that ETag (see Object). Errors: ErrInvalidKey, ErrNotExist, ctx's, the server's.
func (s *S3) Open(ctx context.Context, key string) (Object, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return nil, err
	}
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &k})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, mapErr(err))
	}
	return &s3Object{s: s, ctx: ctx, key: key, k: k, etag: aws.ToString(h.ETag), size: aws.ToInt64(h.ContentLength), mod: aws.ToTime(h.LastModified)}, nil
}

// Stat heads the object. Errors: ErrInvalidKey, ErrNotExist, ctx's, the server's.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return Info{}, err
	}
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &k})
	if err != nil {
		return Info{}, fmt.Errorf("stat %s: %w", key, mapErr(err))
	}
	return Info{Key: key, Size: aws.ToInt64(h.ContentLength), ModTime: aws.ToTime(h.LastModified)}, nil
}

// Delete deletes the object; S3 answers a delete of a missing key with success, so it is
// idempotent. Errors: ErrInvalidKey, ctx's, the server's.
func (s *S3) Delete(ctx context.Context, key string) error {
	k, err := s.objectKey(key)
	if err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: &k}); err != nil {
		if errors.Is(mapErr(err), ErrNotExist) {
			return nil
		}
		return fmt.Errorf("delete %s: %w", key, mapErr(err))
	}
	return nil
}

// List pages through ListObjectsV2 under Prefix+prefix (1,000 keys a request) and calls fn for
// each object, in the server's (lexical) order; an object whose name is not a valid key under
// Prefix (written by something else) is skipped. Errors: ErrInvalidKey for a bad prefix, ctx's,
// fn's, the server's.
func (s *S3) List(ctx context.Context, prefix string, fn func(Info) error) error {
	if err := validPrefix(prefix); err != nil {
		return err
	}
	full := s.cfg.Prefix + prefix
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: &full})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %q: %w", prefix, mapErr(err))
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), s.cfg.Prefix)
			if !ok || ValidKey(key) != nil {
				continue
			}
			if err := fn(Info{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}); err != nil {
				return fmt.Errorf("list %q: %w", prefix, err)
			}
		}
	}
	return nil
}

// PresignGet signs a GET of the object valid for ttl (at most 7 days, SigV4's limit; with
// temporary credentials the URL dies with them, whichever comes first). It signs locally and
// does not check that the object exists. Errors: ErrInvalidKey, a ttl out of range, the SDK's
// when credentials cannot be resolved.
func (s *S3) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return "", err
	}
	if ttl < time.Second || ttl > maxPresignTTL {
		return "", fmt.Errorf("presign %s: ttl %s: want 1s to 7 days", key, ttl)
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &k}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", key, err)
	}
	return req.URL, nil
}

// mapErr keeps err and adds ErrNotExist for a missing object (NoSuchKey on GET, a bare 404 on
// HEAD) or ErrChanged for a failed If-Match (412).
func mapErr(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return errors.Join(ErrNotExist, err)
		case "PreconditionFailed":
			return errors.Join(ErrChanged, err)
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusPreconditionFailed:
			return errors.Join(ErrChanged, err)
		}
	}
	return err
}
