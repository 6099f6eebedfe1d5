// Package s3test starts a real S3-compatible server for tests: versitygw
// (github.com/versity/versitygw, Apache-2.0) with its posix backend on a temp directory,
// listening on 127.0.0.1. Only tests may use it.
//
// The binary is found through $VERSITYGW_BIN, else as "versitygw" on PATH (.ci/run installs
// it with go install). Missing, Start skips the test, except under CI=true, where it fails it:
// CI never silently skips a real-server test.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Credentials and region of every server Start runs (the server's root user).
const (
	AccessKey = "callrec-test-access"
	SecretKey = "callrec-test-secret-0123456789"
	Region    = "us-east-1"
)

// Server is a running versitygw, stopped at the test's cleanup.
type Server struct {
	// Endpoint is the base URL, "http://127.0.0.1:PORT"; address buckets path-style.
	Endpoint string
	// Client is an S3 client signed as the root user, for what the code under test has no call
	// for (creating buckets, listing multipart uploads).
	Client *s3.Client
}

// startTimeout bounds how long the server may take to answer its first request (generous: the
// machine may be busy).
const startTimeout = 60 * time.Second

// Binary returns the versitygw to run, or "" when there is none.
func Binary() string {
	if p := os.Getenv("VERSITYGW_BIN"); p != "" {
		return p
	}
	p, err := exec.LookPath("versitygw")
	if err != nil {
		return ""
	}
	return p
}

// Start runs a versitygw on a free loopback port over a fresh t.TempDir(), waits until it
// answers, and stops it (SIGKILL, then wait) at t's cleanup. It skips t when the binary is
// missing (fails it under CI=true) and fails t when the server does not come up.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("versitygw not found ($VERSITYGW_BIN or PATH): .ci/run must install it")
		}
		t.Skip("versitygw not found ($VERSITYGW_BIN or PATH); install: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0")
	}
	var lastErr error
	for range 3 { // a free port can be taken between probing and binding; try another
		s, err := start(t, bin)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("s3test: versitygw did not start: %v", lastErr)
	return nil
}

// start runs one server attempt; on failure the process is already stopped.
func start(t testing.TB, bin string) (*Server, error) {
	root := t.TempDir()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var out lockedBuffer
	cmd := exec.Command(bin, "--access", AccessKey, "--secret", SecretKey, "--region", Region,
		"--port", addr, "--quiet", "posix", root)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID=", "ROOT_SECRET_ACCESS_KEY=") // flags win
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	s := &Server{Endpoint: "http://" + addr}
	s.Client = s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	})
	if err := s.waitReady(exited); err != nil {
		stop()
		return nil, fmt.Errorf("%w; output: %s", err, out.String())
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("versitygw output:\n%s", out.String())
		}
	})
	return s, nil
}

// waitReady polls ListBuckets until the server answers it, the process exits, or startTimeout.
func (s *Server) waitReady(exited <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := s.Client.ListBuckets(rctx, &s3.ListBucketsInput{})
		rcancel()
		if err == nil {
			return nil
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("versitygw exited: %v", werr)
		case <-ctx.Done():
			return fmt.Errorf("versitygw not answering on %s: %w", s.Endpoint, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Bucket creates bucket name and returns it; it fails t on error.
func (s *Server) Bucket(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// MultipartUploads lists the keys of the multipart uploads in progress in bucket (none should
// outlive a Put).
func (s *Server) MultipartUploads(ctx context.Context, bucket string) ([]string, error) {
	var keys []string
	in := &s3.ListMultipartUploadsInput{Bucket: &bucket}
	for {
		out, err := s.Client.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list multipart uploads: %w", err)
		}
		for _, u := range out.Uploads {
			keys = append(keys, aws.ToString(u.Key)+" "+aws.ToString(u.UploadId))
		}
		if !aws.ToBool(out.IsTruncated) {
			return keys, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects the server's output from its two pipes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
