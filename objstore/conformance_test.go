package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/objstore/s3test"
)

// Sizes the suite uses. testThreshold and testPartSize make a few-MiB object a multipart upload
// on S3 (5 MiB is S3's smallest part); Dir ignores them.
const (
	testThreshold = 1 << 20
	testPartSize  = 5 << 20
	multipartSize = 11<<20 + 12345 // three parts: 5 MiB, 5 MiB, the rest
)

// harness is one backend under the conformance suite: a Store over a fresh, empty root or
// bucket for each subtest.
type harness struct {
	// open returns a Store over the subtest's root or bucket; called again, another instance
	// over the same data (for durability).
	open func() Store
	// leftovers lists what a Put in progress or a failed one could leave behind: Dir's temp
	// files, S3's multipart uploads.
	leftovers func(ctx context.Context) ([]string, error)
	// multipart reports whether key was stored by a multipart upload; nil where the backend
	// has no such thing.
	multipart func(ctx context.Context, key string) (bool, error)
	// presigns is true for a backend whose PresignGet works.
	presigns bool
}

// backend makes a harness for one subtest.
type backend func(t *testing.T) harness

// TestConformance runs the suite against Dir and against S3 on a real versitygw.
func TestConformance(t *testing.T) {
	t.Run("Dir", func(t *testing.T) { runConformance(t, dirBackend) })
	t.Run("S3", func(t *testing.T) { runConformance(t, s3Backend(s3test.Start(t))) })
}

func dirBackend(t *testing.T) harness {
	root := t.TempDir()
	return harness{
		open: func() Store { return &Dir{Root: root} },
		leftovers: func(context.Context) ([]string, error) {
			es, err := os.ReadDir(filepath.Join(root, TmpDirName))
			if errors.Is(err, os.ErrNotExist) {
				return nil, nil
			}
			var names []string
			for _, e := range es {
				names = append(names, e.Name())
			}
			return names, err
		},
	}
}

// s3Backend gives each subtest its own bucket on srv, with a Prefix so that its stripping is
// exercised too.
func s3Backend(srv *s3test.Server) backend {
	var mu sync.Mutex
	n := 0
	return func(t *testing.T) harness {
		mu.Lock()
		n++
		bucket := srv.Bucket(t, fmt.Sprintf("conformance-%d", n))
		mu.Unlock()
		open := func() *S3 {
			s, err := NewS3(t.Context(), s3Config(srv, bucket))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		return harness{
			open:      func() Store { return open() },
			leftovers: func(ctx context.Context) ([]string, error) { return srv.MultipartUploads(ctx, bucket) },
			multipart: func(ctx context.Context, key string) (bool, error) {
				etag, err := open().etag(ctx, key)
				// a multipart object's ETag is "<md5 of the part md5s>-<parts>"
				return strings.Contains(etag, "-"), err
			},
			presigns: true,
		}
	}
}

func s3Config(srv *s3test.Server, bucket string) S3Config {
	return S3Config{
		Endpoint: srv.Endpoint, Region: s3test.Region, Bucket: bucket, Prefix: "lib/", PathStyle: true,
		AccessKeyID: s3test.AccessKey, SecretAccessKey: s3test.SecretKey,
		MultipartThreshold: testThreshold, PartSize: testPartSize,
	}
}

// runConformance is the suite every Store must pass.
func runConformance(t *testing.T, b backend) {
	tests := []struct {
		name string
		run  func(t *testing.T, h harness)
	}{
		{"PutThenOpenReadsTheSameBytes", testRoundTrip},
		{"RangedReadsAtOddOffsets", testRangedReads},
		{"ServeContentAnswersARangeRequest", testServeContent},
		{"MissingObjectIsErrNotExist", testMissing},
		{"DeleteIsIdempotent", testDelete},
		{"ListFindsKeysUnderAPrefix", testList},
		{"PutReplacesAnObject", testReplace},
		{"PutIsDurableWhenItReturns", testDurable},
		{"LargePutIsMultipart", testMultipart},
		{"FailedPutLeavesNothing", testFailedPut},
		{"BadKeysAreRefused", testBadKeys},
		{"ConcurrentPutsOfDifferentKeys", testConcurrentPuts},
		{"PresignedURLServesTheBytesThenExpires", testPresign},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, b(t)) })
	}
}

// payload is n bytes that differ with seed.
func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

func mustPut(t *testing.T, s Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, bytes.NewReader(data)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustRead(t *testing.T, s Store, key string) []byte {
	t.Helper()
	o, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer o.Close()
	got, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	if int64(len(got)) != o.Size() {
		t.Fatalf("read %q: %d bytes, Size() %d", key, len(got), o.Size())
	}
	return got
}

func testRoundTrip(t *testing.T, h harness) {
	s := h.open()
	for i, n := range []int{0, 1, 1000, 300*1024 + 7} {
		key := fmt.Sprintf("acme/2026/01/rec-%d.mp3", i)
		want := payload(n, uint64(i))
		mustPut(t, s, key, want)
		if got := mustRead(t, s, key); !bytes.Equal(got, want) {
			t.Errorf("%s: read %d bytes back, not the %d put", key, len(got), n)
		}
		info, err := s.Stat(t.Context(), key)
		if err != nil {
			t.Fatalf("Stat(%q): %v", key, err)
		}
		if info.Key != key || info.Size != int64(n) || info.ModTime.IsZero() {
			t.Errorf("Stat(%q) = %+v, want key %q size %d and a time", key, info, key, n)
		}
	}
}

func testRangedReads(t *testing.T, h harness) {
	s := h.open()
	data := payload(3<<20+17, 7)
	size := int64(len(data))
	mustPut(t, s, "acme/r.mp3", data)
	o, err := s.Open(t.Context(), "acme/r.mp3")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Size() != size {
		t.Fatalf("Size() = %d, want %d", o.Size(), size)
	}
	for _, c := range []struct {
		off     int64
		n       int
		wantN   int
		wantEOF bool
	}{
		{0, 1, 1, false},
		{1, 7, 7, false},
		{4095, 3, 3, false},
		{12345, 200001, 200001, false},
		{1<<20 - 1, 2, 2, false}, // across a MiB boundary
		{size - 5, 5, 5, false},
		{size - 5, 10, 5, true},
		{size, 1, 0, true},
		{size + 100, 1, 0, true},
		{3, 0, 0, false},
	} {
		p := make([]byte, c.n)
		n, err := o.ReadAt(p, c.off)
		if n != c.wantN || errors.Is(err, io.EOF) != c.wantEOF || (err != nil && !errors.Is(err, io.EOF)) {
			t.Errorf("ReadAt(%d bytes at %d) = %d, %v; want %d, EOF %v", c.n, c.off, n, err, c.wantN, c.wantEOF)
			continue
		}
		if !bytes.Equal(p[:n], data[min(c.off, size):min(c.off, size)+int64(n)]) {
			t.Errorf("ReadAt(%d bytes at %d): wrong bytes", c.n, c.off)
		}
	}
	// The cursor: Seek to odd places, Read what follows.
	for _, off := range []int64{size - 1000, 777, 0, 2 << 20} {
		if _, err := o.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		p := make([]byte, 999)
		n, err := io.ReadFull(o, p)
		if err != nil || !bytes.Equal(p[:n], data[off:off+int64(n)]) {
			t.Errorf("Seek(%d)+Read: %d, %v, or wrong bytes", off, n, err)
		}
	}
	if pos, err := o.Seek(-10, io.SeekEnd); err != nil || pos != size-10 {
		t.Errorf("Seek(-10, end) = %d, %v; want %d", pos, err, size-10)
	}
}

// testServeContent is how /audio uses an Object: net/http answers a Range request from it.
func testServeContent(t *testing.T, h harness) {
	s := h.open()
	data := payload(2<<20+3, 8)
	mustPut(t, s, "acme/a.mp3", data)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, err := s.Open(r.Context(), "acme/a.mp3")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer o.Close()
		http.ServeContent(w, r, "a.mp3", time.Time{}, o)
	}))
	defer srv.Close()
	for _, c := range []struct {
		rng      string
		from, to int // inclusive
	}{
		{"bytes=1000-1099", 1000, 1099},
		{"bytes=1048575-1048580", 1048575, 1048580},
		{"bytes=-7", len(data) - 7, len(data) - 1},
		{"bytes=2097000-", 2097000, len(data) - 1},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
		req.Header.Set("Range", c.rng)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[c.from:c.to+1]) {
			t.Errorf("Range %s: status %d, %d bytes, %v; want 206 and bytes %d-%d", c.rng, resp.StatusCode, len(body), err, c.from, c.to)
		}
	}
}

func testMissing(t *testing.T, h harness) {
	s := h.open()
	mustPut(t, s, "acme/file.mp3", []byte("x"))
	for _, key := range []string{"acme/none.mp3", "nobody/x.mp3", "acme/file.mp3/under"} {
		if _, err := s.Stat(t.Context(), key); !errors.Is(err, ErrNotExist) {
			t.Errorf("Stat(%q) = %v, want ErrNotExist", key, err)
		}
		if _, err := s.Open(t.Context(), key); !errors.Is(err, ErrNotExist) {
			t.Errorf("Open(%q) = %v, want ErrNotExist", key, err)
		}
	}
	if _, err := s.Stat(t.Context(), "acme"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Stat of a key that is only a prefix = %v, want ErrNotExist", err)
	}
}

func testDelete(t *testing.T, h harness) {
	s := h.open()
	mustPut(t, s, "acme/d.mp3", []byte("gone soon"))
	mustPut(t, s, "acme/stays.mp3", []byte("stays"))
	for i := range 2 {
		if err := s.Delete(t.Context(), "acme/d.mp3"); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if err := s.Delete(t.Context(), "never/was.mp3"); err != nil {
		t.Errorf("Delete of a never-written key: %v", err)
	}
	if _, err := s.Stat(t.Context(), "acme/d.mp3"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Stat after Delete = %v, want ErrNotExist", err)
	}
	if got := mustRead(t, s, "acme/stays.mp3"); string(got) != "stays" {
		t.Errorf("the neighbour reads %q after a Delete", got)
	}
}

func listed(t *testing.T, s Store, prefix string) []string {
	t.Helper()
	var keys []string
	err := s.List(t.Context(), prefix, func(i Info) error {
		keys = append(keys, fmt.Sprintf("%s:%d", i.Key, i.Size))
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	slices.Sort(keys)
	return keys
}

func testList(t *testing.T, h harness) {
	s := h.open()
	for _, k := range []string{"a/2026/01/x.mp3", "a/2026/02/y.mp3", "a/2026/02/w.mp3", "ab/q.mp3", "b/z.mp3"} {
		mustPut(t, s, k, []byte(k))
	}
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a/2026/01/x.mp3:15", "a/2026/02/w.mp3:15", "a/2026/02/y.mp3:15", "ab/q.mp3:8", "b/z.mp3:7"}},
		{"a/", []string{"a/2026/01/x.mp3:15", "a/2026/02/w.mp3:15", "a/2026/02/y.mp3:15"}},
		{"a", []string{"a/2026/01/x.mp3:15", "a/2026/02/w.mp3:15", "a/2026/02/y.mp3:15", "ab/q.mp3:8"}},
		{"a/2026/0", []string{"a/2026/01/x.mp3:15", "a/2026/02/w.mp3:15", "a/2026/02/y.mp3:15"}},
		{"a/2026/02/y", []string{"a/2026/02/y.mp3:15"}},
		{"b/z.mp3", []string{"b/z.mp3:7"}},
		{"c/", nil},
		{"a/2027/", nil},
	} {
		if got := listed(t, s, c.prefix); !slices.Equal(got, c.want) {
			t.Errorf("List(%q) = %v, want %v", c.prefix, got, c.want)
		}
	}
	stop := errors.New("enough")
	calls := 0
	err := s.List(t.Context(), "", func(Info) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("List with fn failing: %v after %d calls, want %v after 1", err, calls, stop)
	}
	if err := s.List(t.Context(), "../", func(Info) error { return nil }); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("List(\"../\") = %v, want ErrInvalidKey", err)
	}
}

func testReplace(t *testing.T, h harness) {
	s := h.open()
	mustPut(t, s, "acme/v.mp3", []byte("version one, longer"))
	mustPut(t, s, "acme/v.mp3", []byte("v2"))
	if got := mustRead(t, s, "acme/v.mp3"); string(got) != "v2" {
		t.Errorf("after two Puts the object reads %q, want %q", got, "v2")
	}
}

// testDurable reads each object back through a second, fresh instance the moment Put
// returns: nothing may be left in a buffer of the first.
func testDurable(t *testing.T, h harness) {
	writer, reader := h.open(), h.open()
	for i, n := range []int{10, 200 * 1024, testThreshold + 1} {
		key := fmt.Sprintf("acme/durable-%d.mp3", i)
		want := payload(n, 100+uint64(i))
		mustPut(t, writer, key, want)
		if got := mustRead(t, reader, key); !bytes.Equal(got, want) {
			t.Errorf("%s: a second instance reads %d bytes right after Put, want the %d put", key, len(got), n)
		}
	}
	if left, err := h.leftovers(t.Context()); err != nil || len(left) > 0 {
		t.Errorf("after successful Puts: leftovers %v, %v", left, err)
	}
}

func testMultipart(t *testing.T, h harness) {
	s := h.open()
	want := payload(multipartSize, 9)
	mustPut(t, s, "acme/big.mp3", want)
	if got := mustRead(t, s, "acme/big.mp3"); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes back, not the %d put", len(got), len(want))
	}
	if h.multipart != nil {
		mp, err := h.multipart(t.Context(), "acme/big.mp3")
		if err != nil || !mp {
			t.Errorf("a %d-byte Put over a %d-byte threshold: multipart %v, %v; want a multipart upload", multipartSize, testThreshold, mp, err)
		}
		mustPut(t, s, "acme/small.mp3", payload(testThreshold, 1))
		if mp, err := h.multipart(t.Context(), "acme/small.mp3"); err != nil || mp {
			t.Errorf("a Put of exactly the threshold: multipart %v, %v; want one PUT", mp, err)
		}
	}
	if left, err := h.leftovers(t.Context()); err != nil || len(left) > 0 {
		t.Errorf("after a multipart Put: leftovers %v, %v", left, err)
	}
}

// stallingReader yields its data, then closes reached and blocks until release is closed,
// when it fails with fail(), or, if ignoresEnd, goes on yielding zeros: a source that does not
// watch ctx, which Put must stop reading by itself (after overrunLimit it fails with errOverrun).
type stallingReader struct {
	data       []byte
	reached    chan struct{}
	release    <-chan struct{}
	fail       func() error
	ignoresEnd bool
	overrun    int
}

const overrunLimit = 64 << 20

var errOverrun = errors.New("Put went on reading its source after ctx ended")

func (r *stallingReader) Read(p []byte) (int, error) {
	if len(r.data) > 0 {
		n := copy(p, r.data)
		r.data = r.data[n:]
		return n, nil
	}
	select {
	case <-r.reached:
	default:
		close(r.reached)
	}
	<-r.release
	if r.ignoresEnd && r.overrun < overrunLimit {
		r.overrun += len(p)
		clear(p)
		return len(p), nil
	}
	if r.ignoresEnd {
		return 0, errOverrun
	}
	return 0, r.fail()
}

// testFailedPut cancels a Put mid-stream, or has its source fail: the key must keep its old
// object (or stay missing), and nothing may be left behind (no temp file, no multipart upload).
func testFailedPut(t *testing.T, h harness) {
	readErr := errors.New("source failed")
	for _, c := range []struct {
		name     string
		sent     int  // bytes the source yields before it stalls
		inFlight bool // whether a temp file / multipart upload must exist while it stalls
		cancel   bool // end ctx (else the source fails)
		existing bool // an object is there before
		ignores  bool // the source goes on yielding after ctx ends
	}{
		{"CancelSmall", 100 * 1024, false, true, false, false},
		{"CancelMultipart", testPartSize + testThreshold, true, true, false, false},
		{"CancelMultipartOverExisting", testPartSize + testThreshold, true, true, true, false},
		{"CancelSmallSourceIgnoresCtx", 100 * 1024, false, true, false, true},
		{"CancelMultipartSourceIgnoresCtx", testPartSize + testThreshold, true, true, true, true},
		{"SourceFailsMultipart", testPartSize + testThreshold, true, false, false, false},
		{"SourceFailsSmallOverExisting", 1000, false, false, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := h.open()
			key := "acme/" + c.name + ".mp3"
			old := []byte("the recording that was there")
			if c.existing {
				mustPut(t, s, key, old)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			release := make(chan struct{})
			src := &stallingReader{data: payload(c.sent, 3), reached: make(chan struct{}), release: release,
				fail: func() error { return readErr }, ignoresEnd: c.ignores}
			if c.cancel {
				src.release, src.fail = ctx.Done(), ctx.Err
			}
			done := make(chan error, 1)
			go func() { done <- s.Put(ctx, key, src) }()
			select {
			case <-src.reached:
			case err := <-done:
				t.Fatalf("Put returned %v before its source ended", err)
			case <-time.After(60 * time.Second):
				t.Fatal("Put never read its source to the stall")
			}
			if c.inFlight {
				waitLeftovers(t, h, 1)
			}
			if c.cancel {
				cancel()
			} else {
				close(release)
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("Put did not return after its source ended")
			}
			want := readErr
			if c.cancel {
				want = context.Canceled
			}
			if !errors.Is(err, want) {
				t.Errorf("Put = %v, want an error wrapping %v", err, want)
			}
			if c.existing {
				if got := mustRead(t, h.open(), key); !bytes.Equal(got, old) {
					t.Errorf("the old object reads %d bytes after the failed Put, want it intact", len(got))
				}
			} else if _, err := h.open().Stat(t.Context(), key); !errors.Is(err, ErrNotExist) {
				t.Errorf("Stat after the failed Put = %v, want ErrNotExist", err)
			}
			if left, err := h.leftovers(t.Context()); err != nil || len(left) > 0 {
				t.Errorf("after the failed Put: leftovers %v, %v; want none", left, err)
			}
		})
	}
}

// waitLeftovers waits (generously) until the backend shows at least n writes in progress, so a test of
// their clean-up is known to have something to clean.
func waitLeftovers(t *testing.T, h harness, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		left, err := h.leftovers(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(left) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("in-progress writes: %v, want %d", left, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// badKeys are keys no backend may accept.
var badKeys = []string{
	"", "/", "/abs.mp3", "a//b", "a/", "..", ".", "../x", "a/../b", "a/./b", "a/..", ".tmp/x",
	"a/.hidden", ".inflight/r.json", "a\\b", "..\\x", "a\x00b", "a\nb", "a\tb", "a\x7fb", "a\u0085b",
	"\xff\xfe", strings.Repeat("k", MaxKeyLen+1), "a/" + strings.Repeat("s", MaxSegmentLen+1),
}

func testBadKeys(t *testing.T, h harness) {
	s := h.open()
	ctx := t.Context()
	for _, key := range badKeys {
		calls := map[string]error{
			"Put":    s.Put(ctx, key, strings.NewReader("x")),
			"Delete": s.Delete(ctx, key),
		}
		_, calls["Open"] = s.Open(ctx, key)
		_, calls["Stat"] = s.Stat(ctx, key)
		_, calls["PresignGet"] = s.PresignGet(ctx, key, time.Minute)
		for call, err := range calls {
			if !errors.Is(err, ErrInvalidKey) {
				t.Errorf("%s(%q) = %v, want ErrInvalidKey", call, key, err)
			}
		}
	}
	if got := listed(t, s, ""); len(got) != 0 {
		t.Errorf("after only bad keys the store lists %v", got)
	}
	seg := strings.Repeat("k", MaxSegmentLen)
	longest := seg + "/" + seg + "/" + seg[:MaxKeyLen-3*MaxSegmentLen-3+MaxSegmentLen-1] + "/k" // 768 bytes, longest segment 255
	if err := s.Put(ctx, longest, strings.NewReader("x")); err != nil || len(longest) != MaxKeyLen {
		t.Errorf("Put of a %d-byte key: %v", len(longest), err)
	}
}

func testConcurrentPuts(t *testing.T, h harness) {
	s := h.open()
	const n = 12
	errs := make(chan error, n)
	for i := range n {
		go func() {
			size := 50*1024 + i
			if i%4 == 0 {
				size = testPartSize + testThreshold + i // a few multipart uploads among them
			}
			errs <- s.Put(t.Context(), fmt.Sprintf("acme/c/%02d.mp3", i), bytes.NewReader(payload(size, uint64(i))))
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Put: %v", err)
		}
	}
	for i := range n {
		size := 50*1024 + i
		if i%4 == 0 {
			size = testPartSize + testThreshold + i
		}
		if got := mustRead(t, s, fmt.Sprintf("acme/c/%02d.mp3", i)); !bytes.Equal(got, payload(size, uint64(i))) {
			t.Errorf("object %d: wrong bytes after concurrent Puts", i)
		}
	}
	if got := listed(t, s, "acme/c/"); len(got) != n {
		t.Errorf("List after %d concurrent Puts: %d keys", n, len(got))
	}
}

func testPresign(t *testing.T, h harness) {
	s := h.open()
	data := payload(4321, 5)
	mustPut(t, s, "acme/p.mp3", data)
	if !h.presigns {
		if _, err := s.PresignGet(t.Context(), "acme/p.mp3", time.Minute); !errors.Is(err, ErrNotSupported) {
			t.Errorf("PresignGet = %v, want ErrNotSupported", err)
		}
		return
	}
	get := func(url string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req) // no credentials: the URL alone
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	url, err := s.PresignGet(t.Context(), "acme/p.mp3", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(url); code != http.StatusOK || !bytes.Equal(body, data) {
		t.Errorf("GET of the pre-signed URL: %d, %d bytes; want 200 and the %d put", code, len(body), len(data))
	}
	signed := time.Now()
	short, err := s.PresignGet(t.Context(), "acme/p.mp3", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// SigV4 counts the TTL from X-Amz-Date, whole seconds: 3 s after signing it is past.
	time.Sleep(time.Until(signed.Add(3 * time.Second)))
	if code, _ := get(short); code != http.StatusForbidden {
		t.Errorf("GET of an expired pre-signed URL: %d, want 403", code)
	}
	for _, ttl := range []time.Duration{0, -time.Second, 8 * 24 * time.Hour} {
		if _, err := s.PresignGet(t.Context(), "acme/p.mp3", ttl); err == nil {
			t.Errorf("PresignGet with ttl %s: no error", ttl)
		}
	}
}
