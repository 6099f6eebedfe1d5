package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Store is a recording library: a flat namespace of immutable-once-written objects named by
// slash-separated keys (see ValidKey). Dir and S3 implement it; every method may be called from
// any goroutine. Every error wraps its cause with %w; a missing object wraps ErrNotExist, a key
// ValidKey refuses wraps ErrInvalidKey, an unsupported call wraps ErrNotSupported.
//
// Callers must not store both a key and a key under it ("a/b" and "a/b/c"): S3 allows it, a
// directory cannot (Dir's Put of the second fails).
type Store interface {
	// Put stores everything r yields under key, replacing any object there, and returns only
	// when the object is durable (see the package doc for what that means per backend). Readers
	// see either the old object or the whole new one, never a part. On any error, r failing and
	// ctx ending included, no object is created or replaced and nothing is left behind (no temp
	// file, no multipart upload).
	Put(ctx context.Context, key string, r io.Reader) error

	// Open opens the object under key for random-access reading; the caller closes it. A
	// missing object gives ErrNotExist. ctx bounds the opening and, on S3, every read that
	// follows (the reads fail once ctx ends).
	Open(ctx context.Context, key string) (Object, error)

	// Stat returns the object's size and modification time; a missing object gives ErrNotExist.
	Stat(ctx context.Context, key string) (Info, error)

	// Delete removes the object under key. Deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error

	// List calls fn for every object whose key starts with prefix ("" for all), in no promised
	// order, and stops at the first error fn or the listing returns (that error comes back).
	// prefix is any leading part of a valid key: "acme/", "acme/2026/0".
	List(ctx context.Context, prefix string, fn func(Info) error) error

	// PresignGet returns a URL anyone may GET the object with for ttl, without credentials.
	// Only S3 supports it; Dir returns an error wrapping ErrNotSupported. The object's
	// existence is not checked: a URL for a missing key answers 404 when fetched.
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// Object is an opened object: random access (ReadAt, as many goroutines as like) and a
// sequential cursor (Read/Seek, one goroutine), so http.ServeContent can answer a Range
// request by reading only the bytes it asked for. Its size is fixed at Open; if the object is
// replaced while open, Dir keeps reading the old one and S3 fails the next fetch with ErrChanged.
type Object interface {
	io.ReaderAt
	io.ReadSeeker
	io.Closer
	// Size is the object's length in bytes.
	Size() int64
	// ModTime is when the object was last written, as the backend records it (fixed at Open).
	ModTime() time.Time
}

// Info describes a stored object.
type Info struct {
	Key     string    // the key the caller used, without the backend's prefix or root
	Size    int64     // bytes
	ModTime time.Time // when the object was last written, as the backend records it
}

var (
	// ErrNotExist is wrapped by every error about an object that is not there.
	ErrNotExist = errors.New("object does not exist")
	// ErrInvalidKey is wrapped by every error about a key ValidKey refuses.
	ErrInvalidKey = errors.New("invalid object key")
	// ErrNotSupported is wrapped by a call the backend cannot serve (Dir.PresignGet).
	ErrNotSupported = errors.New("not supported by this backend")
	// ErrChanged is wrapped by a read of an S3 object replaced since it was opened.
	ErrChanged = errors.New("object changed while open")
)

// Limits ValidKey enforces, in bytes. MaxKeyLen leaves room under S3's 1024-byte limit for an
// S3Config.Prefix; MaxSegmentLen is POSIX's NAME_MAX, a file name on Dir (and on versitygw's or
// Ceph's file-backed stores).
const (
	MaxKeyLen     = 768
	MaxSegmentLen = 255
)

// ValidKey reports, as an error wrapping ErrInvalidKey, why key cannot name an object; nil if it
// can. A key is one or more segments joined by "/": valid UTF-8, at most MaxKeyLen bytes and
// MaxSegmentLen a segment, no
// empty segment (so no leading, trailing or doubled "/"), no segment "." or "..", no segment that
// starts with "." (those names are the backends' own: Dir keeps its temp files in ".tmp"), no
// backslash and no control character (NUL included). Any caller may use it.
func ValidKey(key string) error {
	if err := validPrefix(key); err != nil {
		return err
	}
	if key == "" || strings.HasSuffix(key, "/") {
		return fmt.Errorf("key %q: empty segment: %w", key, ErrInvalidKey)
	}
	return nil
}

// validPrefix is ValidKey for a List prefix: "" and a trailing "/" are allowed, the last
// segment may be partial (so "acme/.", a prefix of no valid key, is still refused).
func validPrefix(p string) error {
	switch {
	case len(p) > MaxKeyLen:
		return fmt.Errorf("key of %d bytes, over %d: %w", len(p), MaxKeyLen, ErrInvalidKey)
	case !utf8.ValidString(p):
		return fmt.Errorf("key %q: not UTF-8: %w", p, ErrInvalidKey)
	case strings.ContainsFunc(p, badRune):
		return fmt.Errorf("key %q: backslash or control character: %w", p, ErrInvalidKey)
	case p == "":
		return nil
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		last := i == len(segs)-1
		if s == "" && !last {
			return fmt.Errorf("key %q: empty segment: %w", p, ErrInvalidKey)
		}
		if len(s) > MaxSegmentLen {
			return fmt.Errorf("key %q: segment of %d bytes, over %d: %w", p, len(s), MaxSegmentLen, ErrInvalidKey)
		}
		if strings.HasPrefix(s, ".") {
			return fmt.Errorf("key %q: segment %q starts with a dot: %w", p, s, ErrInvalidKey)
		}
	}
	return nil
}

// badRune refuses the backslash (a path separator on Windows, and a key S3 tools mangle) and
// every Unicode control character (C0, DEL, C1).
func badRune(r rune) bool {
	return r == '\\' || r < 0x20 || (r >= 0x7f && r <= 0x9f)
}
