package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// s3Object reads an S3 object with ranged GETs through one cached window. A read at a new
// position fetches exactly the bytes asked for, so a small Range request costs a small GET; each
// read that continues where the last fetch ended doubles the window, up to ReadAhead (or the
// read's own length if larger), so a sequential stream costs few requests. Every GET carries
// If-Match with the ETag seen at Open, so a replaced object fails (ErrChanged) instead of
// mixing two versions. ReadAt calls are serialised by a mutex.
type s3Object struct {
	s    *S3
	ctx  context.Context
	key  string // the caller's key, for errors
	k    string // the bucket's key
	etag string
	size int64
	mod  time.Time

	mu      sync.Mutex
	closed  bool
	pos     int64  // Read/Seek cursor
	buf     []byte // bytes [bufOff, bufOff+len(buf)) of the object
	bufOff  int64
	window  int   // the last sequential fetch's length
	fetches int64 // ranged GETs so far (tests)
}

func (o *s3Object) Size() int64 { return o.size }

func (o *s3Object) ModTime() time.Time { return o.mod }

// ReadAt reads len(p) bytes at off, from the window or with ranged GETs; fewer only at the end
// of the object, with io.EOF.
func (o *s3Object) ReadAt(p []byte, off int64) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.readAt(p, off)
}

func (o *s3Object) readAt(p []byte, off int64) (int, error) {
	if o.closed {
		return 0, fmt.Errorf("read %s: %w", o.key, os.ErrClosed)
	}
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset %d", o.key, off)
	}
	n := 0
	for n < len(p) && off+int64(n) < o.size {
		at := off + int64(n)
		if at < o.bufOff || at >= o.bufOff+int64(len(o.buf)) {
			if err := o.fetch(at, len(p)-n); err != nil {
				return n, err
			}
		}
		n += copy(p[n:], o.buf[at-o.bufOff:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// fetch fills the window with the bytes from at: want of them for a read at a new position,
// more for one that continues the last fetch.
func (o *s3Object) fetch(at int64, want int) error {
	length := want
	if at == o.bufOff+int64(len(o.buf)) && len(o.buf) > 0 {
		o.window = min(max(2*o.window, want), o.s.cfg.ReadAhead)
		length = max(want, o.window)
	} else {
		o.window = want
	}
	length = int(min(int64(length), o.size-at))
	rng := fmt.Sprintf("bytes=%d-%d", at, at+int64(length)-1)
	out, err := o.s.client.GetObject(o.ctx, &s3.GetObjectInput{Bucket: &o.s.cfg.Bucket, Key: &o.k, Range: &rng, IfMatch: &o.etag})
	if err != nil {
		o.buf = o.buf[:0]
		return fmt.Errorf("read %s %s: %w", o.key, rng, mapErr(err))
	}
	defer out.Body.Close()
	o.fetches++
	if cap(o.buf) < length {
		o.buf = make([]byte, length)
	}
	o.buf = o.buf[:length]
	o.bufOff = at
	if _, err := io.ReadFull(out.Body, o.buf); err != nil {
		o.buf = o.buf[:0]
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = errors.Join(ErrChanged, err) // shorter than at Open
		}
		return fmt.Errorf("read %s %s: %w", o.key, rng, err)
	}
	return nil
}

// Read reads from the cursor and advances it.
func (o *s3Object) Read(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	if o.pos >= o.size {
		return 0, io.EOF
	}
	n, err := o.readAt(p, o.pos)
	o.pos += int64(n)
	if errors.Is(err, io.EOF) && n > 0 {
		err = nil
	}
	return n, err
}

// Seek moves the cursor; no request is made until the next Read.
func (o *s3Object) Seek(offset int64, whence int) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += o.pos
	case io.SeekEnd:
		offset += o.size
	default:
		return 0, fmt.Errorf("seek %s: bad whence %d", o.key, whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("seek %s: negative position %d", o.key, offset)
	}
	o.pos = offset
	return offset, nil
}

// Close drops the window; reads after it fail with os.ErrClosed.
func (o *s3Object) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	o.buf = nil
	return nil
}
