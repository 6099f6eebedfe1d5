package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

const (
	magic       = "CRAE"
	version     = 1
	chunkSize   = 64 << 10
	tagSize     = 16
	saltSize    = 32
	maxKeyIDLen = 64
	// KeySize is the size of a data key and of a master key: AES-256.
	KeySize = 32
	// fileKeyInfo is HKDF's info string: a file key is for nothing else.
	fileKeyInfo = "callrec sealed recording v1"
)

// ErrNotSealed is returned by OpenReader for a file that is not a sealed recording (no magic,
// another version); ErrCorrupt for a sealed file that fails to authenticate or whose size
// cannot be a sealed file's. Both are wrapped with detail; test with errors.Is.
var (
	ErrNotSealed = errors.New("not a sealed recording")
	ErrCorrupt   = errors.New("sealed recording altered or damaged")
)

// ValidKeyID reports whether id can name a data key in a sealed file's header: 1 to 64 bytes
// of ASCII letters, digits, '_' and '-'.
func ValidKeyID(id string) bool {
	if id == "" || len(id) > maxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// header builds a sealed file's header for keyID and salt.
func header(keyID string, salt []byte) []byte {
	h := make([]byte, 0, len(magic)+2+len(keyID)+saltSize)
	h = append(h, magic...)
	h = append(h, version, byte(len(keyID)))
	h = append(h, keyID...)
	return append(h, salt...)
}

// fileAEAD derives the file key of one sealed file from its data key and salt.
func fileAEAD(dataKey, salt []byte) (cipher.AEAD, error) {
	if len(dataKey) != KeySize {
		return nil, fmt.Errorf("envelope: a data key has %d bytes, not %d", KeySize, len(dataKey))
	}
	k, err := hkdf.Key(sha256.New, dataKey, salt, fileKeyInfo, KeySize)
	if err != nil {
		return nil, fmt.Errorf("envelope: derive file key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return cipher.NewGCM(block)
}

// chunkNonce is the nonce of chunk i: its index (big-endian, in the first 11 bytes) and the
// last-chunk flag (the 12th).
func chunkNonce(i uint64, last bool) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n[3:11], i)
	if last {
		n[11] = 1
	}
	return n
}

// Writer seals what is written to it into a sealed file (see the package doc). Close seals the
// last chunk and must be called; it does not close the underlying writer. Not safe for
// concurrent use.
type Writer struct {
	w      io.Writer
	aead   cipher.AEAD
	hdr    []byte
	buf    []byte
	sealed []byte
	index  uint64
	n      int64
	err    error
}

// NewWriter writes a sealed file's header to w and returns the Writer that seals into it, with
// the data key dataKey named keyID (ValidKeyID). Errors: an invalid key id or key, w's error.
func NewWriter(w io.Writer, keyID string, dataKey []byte) (*Writer, error) {
	if !ValidKeyID(keyID) {
		return nil, fmt.Errorf("envelope: invalid data key id %q", keyID)
	}
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("envelope: salt: %w", err)
	}
	aead, err := fileAEAD(dataKey, salt)
	if err != nil {
		return nil, err
	}
	hdr := header(keyID, salt)
	if _, err := w.Write(hdr); err != nil {
		return nil, fmt.Errorf("envelope: write header: %w", err)
	}
	return &Writer{w: w, aead: aead, hdr: hdr, buf: make([]byte, 0, chunkSize), sealed: make([]byte, 0, chunkSize+tagSize)}, nil
}

// Write buffers p and seals every full chunk that more bytes follow.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		if len(w.buf) == chunkSize {
			// More bytes follow a full chunk, so it is not the last.
			if err := w.seal(false); err != nil {
				return written, err
			}
		}
		k := copy(w.buf[len(w.buf):chunkSize], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		written += k
		w.n += int64(k)
	}
	return written, nil
}

// seal writes the buffered chunk.
func (w *Writer) seal(last bool) error {
	w.sealed = w.aead.Seal(w.sealed[:0], chunkNonce(w.index, last), w.buf, w.hdr)
	if _, err := w.w.Write(w.sealed); err != nil {
		w.err = fmt.Errorf("envelope: write: %w", err)
		return w.err
	}
	w.index++
	w.buf = w.buf[:0]
	return nil
}

// Close seals the last chunk (possibly empty). Writing after Close is an error.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if err := w.seal(true); err != nil {
		return err
	}
	w.err = errors.New("envelope: write after close")
	return nil
}

// Plaintext is the number of bytes written so far: the size the file will decrypt to.
func (w *Writer) Plaintext() int64 { return w.n }

// Reader reads the plaintext of a sealed file at any offset (io.ReaderAt, safe for concurrent
// use), decrypting only the chunks a read touches (the last one decrypted is kept).
type Reader struct {
	r      io.ReaderAt
	aead   cipher.AEAD
	hdr    []byte
	keyID  string
	size   int64 // plaintext
	chunks uint64

	mu     sync.Mutex
	cached uint64
	plain  []byte // chunk cached, nil for none
	raw    []byte
}

// KeyIDOf reads the data key id from the header of the sealed file r. Errors: ErrNotSealed,
// r's error.
func KeyIDOf(r io.ReaderAt) (string, error) {
	pre := make([]byte, len(magic)+2)
	if _, err := r.ReadAt(pre, 0); err != nil {
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("envelope: %w: too short", ErrNotSealed)
		}
		return "", fmt.Errorf("envelope: read header: %w", err)
	}
	if string(pre[:len(magic)]) != magic || pre[len(magic)] != version {
		return "", fmt.Errorf("envelope: %w", ErrNotSealed)
	}
	n := int(pre[len(magic)+1])
	id := make([]byte, n)
	if _, err := r.ReadAt(id, int64(len(pre))); err != nil {
		return "", fmt.Errorf("envelope: %w: header: %w", ErrNotSealed, err)
	}
	if !ValidKeyID(string(id)) {
		return "", fmt.Errorf("envelope: %w: bad key id", ErrNotSealed)
	}
	return string(id), nil
}

// OpenReader opens the sealed file r of size bytes with the data key that key returns for the
// id in its header, and authenticates its last chunk. Errors: ErrNotSealed, ErrCorrupt (also
// for a wrong key: the two cannot be told apart), key's error, r's error.
func OpenReader(r io.ReaderAt, size int64, key func(keyID string) ([]byte, error)) (*Reader, error) {
	keyID, err := KeyIDOf(r)
	if err != nil {
		return nil, err
	}
	hlen := int64(len(magic) + 2 + len(keyID) + saltSize)
	salt := make([]byte, saltSize)
	if _, err := r.ReadAt(salt, hlen-saltSize); err != nil {
		return nil, fmt.Errorf("envelope: %w: header: %w", ErrCorrupt, err)
	}
	body := size - hlen
	rem := body % (chunkSize + tagSize)
	if body < tagSize || (rem != 0 && rem < tagSize) {
		return nil, fmt.Errorf("envelope: %w: %d bytes cannot be a sealed file", ErrCorrupt, size)
	}
	dataKey, err := key(keyID)
	if err != nil {
		return nil, fmt.Errorf("envelope: data key %s: %w", keyID, err)
	}
	aead, err := fileAEAD(dataKey, salt)
	if err != nil {
		return nil, err
	}
	chunks := uint64((body + chunkSize + tagSize - 1) / (chunkSize + tagSize))
	rd := &Reader{r: r, aead: aead, hdr: header(keyID, salt), keyID: keyID,
		size: body - int64(chunks)*tagSize, chunks: chunks, raw: make([]byte, chunkSize+tagSize)}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if _, err := rd.chunk(chunks - 1); err != nil {
		return nil, err
	}
	return rd, nil
}

// Size is the plaintext's size.
func (r *Reader) Size() int64 { return r.size }

// KeyID is the id of the data key the file is sealed with.
func (r *Reader) KeyID() string { return r.keyID }

// chunk decrypts chunk i (r.mu held) and returns its plaintext, valid until the next call.
func (r *Reader) chunk(i uint64) ([]byte, error) {
	if r.plain != nil && r.cached == i {
		return r.plain, nil
	}
	hlen := int64(len(r.hdr))
	off := hlen + int64(i)*(chunkSize+tagSize)
	n := int64(chunkSize + tagSize)
	last := i == r.chunks-1
	if last {
		n = hlen + r.size + int64(r.chunks)*tagSize - off
	}
	raw := r.raw[:n]
	if got, err := r.r.ReadAt(raw, off); got < len(raw) {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: the file is shorter than it was", ErrCorrupt)
		}
		return nil, fmt.Errorf("envelope: read chunk %d: %w", i, err)
	}
	plain, err := r.aead.Open(r.plainBuf(), chunkNonce(i, last), raw, r.hdr)
	if err != nil {
		r.plain = nil
		return nil, fmt.Errorf("envelope: %w: chunk %d does not authenticate", ErrCorrupt, i)
	}
	r.plain, r.cached = plain, i
	return plain, nil
}

// plainBuf is the buffer a chunk decrypts into (reused).
func (r *Reader) plainBuf() []byte {
	if r.plain != nil {
		return r.plain[:0]
	}
	return make([]byte, 0, chunkSize)
}

// ReadAt reads len(p) plaintext bytes at off (io.ReaderAt: io.EOF at the end).
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("envelope: negative offset")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for n < len(p) && off < r.size {
		i := uint64(off / chunkSize)
		plain, err := r.chunk(i)
		if err != nil {
			return n, err
		}
		k := copy(p[n:], plain[off-int64(i)*chunkSize:])
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
