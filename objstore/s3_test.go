package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/callrec/callrec/objstore/s3test"
)

// etag is the object's ETag as the server reports it (tests tell a multipart object by it).
func (s *S3) etag(ctx context.Context, key string) (string, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return "", err
	}
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &k})
	if err != nil {
		return "", mapErr(err)
	}
	return aws.ToString(h.ETag), nil
}

// rangeRecorder records the Range header of every GET the client sends.
type rangeRecorder struct {
	mu     sync.Mutex
	ranges []string
	next   http.RoundTripper
}

func (r *rangeRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && req.Header.Get("Range") != "" {
		r.mu.Lock()
		r.ranges = append(r.ranges, req.Header.Get("Range"))
		r.mu.Unlock()
	}
	return r.next.RoundTrip(req)
}

func (r *rangeRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.ranges
	r.ranges = nil
	return got
}

// fetched sums the bytes the recorded "bytes=a-b" ranges asked for.
func fetched(t *testing.T, ranges []string) int64 {
	t.Helper()
	var sum int64
	for _, r := range ranges {
		var a, b int64
		if _, err := fmt.Sscanf(r, "bytes=%d-%d", &a, &b); err != nil {
			t.Fatalf("range %q: %v", r, err)
		}
		sum += b - a + 1
	}
	return sum
}

// TestS3_ReadsFetchOnlyWhatIsAskedThenReadAhead: a read at a new position is one ranged GET of
// exactly its bytes; a sequential stream grows its window to ReadAhead, so it costs a handful of
// GETs and fetches no byte twice.
func TestS3_ReadsFetchOnlyWhatIsAskedThenReadAhead(t *testing.T) {
	srv := s3test.Start(t)
	rec := &rangeRecorder{next: http.DefaultTransport}
	cfg := s3Config(srv, srv.Bucket(t, "ranges"))
	cfg.HTTPClient = &http.Client{Transport: rec}
	s, err := NewS3(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	data := payload(3<<20+5, 11)
	mustPut(t, s, "acme/r.mp3", data)
	o, err := s.Open(t.Context(), "acme/r.mp3")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	rec.take()

	p := make([]byte, 100)
	if _, err := o.ReadAt(p, 1_000_001); err != nil || !bytes.Equal(p, data[1_000_001:1_000_101]) {
		t.Fatalf("ReadAt: %v or wrong bytes", err)
	}
	if got := rec.take(); len(got) != 1 || got[0] != "bytes=1000001-1000100" {
		t.Errorf("a 100-byte ReadAt sent ranged GETs %v, want [bytes=1000001-1000100]", got)
	}
	if _, err := o.ReadAt(p[:50], 1_000_020); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("a ReadAt inside the last window sent %v, want no request", got)
	}

	if _, err := o.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(struct{ io.Reader }{o}) // 512-byte reads, growing: no WriterTo shortcut
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("sequential read: %d bytes, %v", len(got), err)
	}
	ranges := rec.take()
	if n := fetched(t, ranges); n != int64(len(data)) {
		t.Errorf("a sequential read of %d bytes fetched %d", len(data), n)
	}
	if len(ranges) > 20 {
		t.Errorf("a sequential read of %d bytes took %d GETs, want read-ahead to keep it under 20: %v", len(data), len(ranges), ranges)
	}
}

// TestS3_ReplacedWhileOpenIsErrChanged: the ETag fixed at Open guards every later GET.
func TestS3_ReplacedWhileOpenIsErrChanged(t *testing.T) {
	srv := s3test.Start(t)
	s, err := NewS3(t.Context(), s3Config(srv, srv.Bucket(t, "changed")))
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "acme/c.mp3", payload(10000, 1))
	o, err := s.Open(t.Context(), "acme/c.mp3")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	mustPut(t, s, "acme/c.mp3", payload(10000, 2))
	if _, err := o.ReadAt(make([]byte, 10), 0); !errors.Is(err, ErrChanged) {
		t.Errorf("ReadAt after the object was replaced = %v, want ErrChanged", err)
	}
}

// TestS3_ChecksumWhenRequiredStillUploads: the compatibility switch for servers that reject the
// SDK's CRC32 trailers still stores single and multipart objects whole.
func TestS3_ChecksumWhenRequiredStillUploads(t *testing.T) {
	srv := s3test.Start(t)
	cfg := s3Config(srv, srv.Bucket(t, "nochecksum"))
	cfg.ChecksumWhenRequired = true
	s, err := NewS3(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1000, multipartSize} {
		want := payload(n, 4)
		mustPut(t, s, "acme/x.mp3", want)
		if got := mustRead(t, s, "acme/x.mp3"); !bytes.Equal(got, want) {
			t.Errorf("%d bytes: read back %d", n, len(got))
		}
	}
}

// TestNewS3_RefusesBadConfig: every field out of range is an error at construction.
func TestNewS3_RefusesBadConfig(t *testing.T) {
	ok := S3Config{Bucket: "b", AccessKeyID: "a", SecretAccessKey: "s"}
	for _, c := range []struct {
		name string
		edit func(*S3Config)
		want string
	}{
		{"NoBucket", func(c *S3Config) { c.Bucket = "" }, "bucket"},
		{"EndpointWithoutScheme", func(c *S3Config) { c.Endpoint = "127.0.0.1:7070" }, "endpoint"},
		{"PrefixWithoutSlash", func(c *S3Config) { c.Prefix = "callrec" }, "prefix"},
		{"PrefixEscaping", func(c *S3Config) { c.Prefix = "../x/" }, "prefix"},
		{"HalfCredentials", func(c *S3Config) { c.SecretAccessKey = "" }, "access_key_id"},
		{"TinyParts", func(c *S3Config) { c.PartSize = 1 << 20 }, "part_size"},
		{"NegativeThreshold", func(c *S3Config) { c.MultipartThreshold = -1 }, "multipart_threshold"},
		{"ThresholdOverOnePut", func(c *S3Config) { c.MultipartThreshold = 5<<30 + 1 }, "multipart_threshold"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.edit(&cfg)
			if _, err := NewS3(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("NewS3 = %v, want an error naming %s", err, c.want)
			}
		})
	}
	if _, err := NewS3(t.Context(), ok); err != nil {
		t.Errorf("NewS3 of a good config: %v", err)
	}
}

// TestNewS3_CredentialsFromTheUsualSources: with no keys in the config, the SDK's default chain
// finds them in the AWS environment variables, else in the shared credentials file; wrong ones
// are refused by the server, so the test sees which were used.
func TestNewS3_CredentialsFromTheUsualSources(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t, "creds")
	// Nothing from this host's own AWS setup, and never the EC2 metadata service.
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	credFile := filepath.Join(t.TempDir(), "credentials")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credFile)

	put := func() error {
		cfg := s3Config(srv, bucket)
		cfg.AccessKeyID, cfg.SecretAccessKey = "", ""
		s, err := NewS3(t.Context(), cfg)
		if err != nil {
			return err
		}
		return s.Put(t.Context(), "acme/c.mp3", strings.NewReader("x"))
	}
	writeCreds := func(secret string) {
		body := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", s3test.AccessKey, secret)
		if err := os.WriteFile(credFile, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCreds("wrong-secret")
	if err := put(); err == nil {
		t.Fatal("Put with a wrong secret in the credentials file succeeded: the test cannot tell sources apart")
	}
	writeCreds(s3test.SecretKey)
	if err := put(); err != nil {
		t.Errorf("Put with the shared credentials file: %v", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret") // the environment comes before the file
	if err := put(); err == nil {
		t.Error("Put with a wrong secret in AWS_SECRET_ACCESS_KEY succeeded: the environment was not used first")
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.SecretKey)
	writeCreds("wrong-secret")
	if err := put(); err != nil {
		t.Errorf("Put with the environment's keys: %v", err)
	}
}

// TestS3_PrefixIsolatesLibraries: two Stores on one bucket with different Prefixes see only
// their own objects, and an object in the bucket whose name is no valid key under the Prefix
// (written by another tool) is left out of List rather than handed back as a key no call takes.
func TestS3_PrefixIsolatesLibraries(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t, "prefixes")
	open := func(prefix string) *S3 {
		cfg := s3Config(srv, bucket)
		cfg.Prefix = prefix
		s, err := NewS3(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	eu, us := open("tenants/eu/"), open("tenants/us/")
	mustPut(t, eu, "acme/1.mp3", []byte("eu"))
	mustPut(t, us, "acme/1.mp3", []byte("us!"))
	for _, name := range []string{"tenants/eu/acme/.hidden", `tenants/eu/acme/back\slash.mp3`} {
		if _, err := srv.Client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(name), Body: strings.NewReader("x")}); err != nil {
			t.Fatalf("raw put %s: %v", name, err)
		}
	}
	if got, want := listed(t, eu, ""), []string{"acme/1.mp3:2"}; !slices.Equal(got, want) {
		t.Errorf("eu lists %v, want %v", got, want)
	}
	if got := mustRead(t, us, "acme/1.mp3"); string(got) != "us!" {
		t.Errorf("us reads %q", got)
	}
	if err := eu.Delete(t.Context(), "acme/1.mp3"); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, us, "acme/1.mp3"); string(got) != "us!" {
		t.Errorf("after eu's delete us reads %q", got)
	}
}
