package web

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/callrec/callrec/atomicfile"
	"github.com/callrec/callrec/envelope"
	"github.com/callrec/callrec/library"
	"github.com/callrec/callrec/store"
)

// Integrity (issue 15 item 6): every MP3's SHA-256 is on its row (the audio worker hashes what
// it writes); a served file is checked against it; every archive carries a manifest signed
// with the installation's Ed25519 key, whose public half GET /api/v1/signing-key gives anyone.
//
// What is checked when: a full GET hashes while it streams and withholds the last bytes when
// the sum does not match (the client sees a cut-short body, never a whole altered file); a
// Range request cannot hash the whole file each time, so the whole file is hashed once per
// ETag (size and modification time) before the first range is served and the answer is
// remembered; an archive hashes every file as it copies it and is cut short on a mismatch.
// A mismatch is logged (decision integrity_mismatch), counted and marked on the row
// (integrity "mismatch"); such a row is refused (409) from then on.

// Names of the archive's manifest entries.
const (
	ManifestName    = "manifest.json"
	ManifestSigName = "manifest.json.sig"
)

// codeIntegrity is the error code of a recording whose file no longer matches its SHA-256.
const codeIntegrity = "integrity_mismatch"

// verifiedCap bounds the remembered ETags; past it the memory starts afresh (files are then
// hashed once more).
const verifiedCap = 4096

// SigningKey is the installation's Ed25519 key that signs archive manifests. Create it with
// LoadSigningKey (cmd/callrec, from the data directory) or NewSigningKey (a key of this
// process only); safe for concurrent use.
type SigningKey struct {
	priv ed25519.PrivateKey
	id   string
}

// NewSigningKey returns a fresh random key held only in memory. Error: the system's random
// source failed.
func NewSigningKey() (*SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return newSigningKey(priv), nil
}

// SigningKeyFromSeed returns the key derived from a 32-byte Ed25519 seed: the key every
// instance of a deployment on a shared store signs with (cmd/callrec keeps the seed in the
// PostgreSQL store, so archives made by any instance verify against one public key). Error:
// a seed of another size.
func SigningKeyFromSeed(seed []byte) (*SigningKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing key: seed of %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return newSigningKey(ed25519.NewKeyFromSeed(seed)), nil
}

func newSigningKey(priv ed25519.PrivateKey) *SigningKey {
	return &SigningKey{priv: priv, id: KeyID(priv.Public().(ed25519.PublicKey))}
}

// KeyID is the id of an Ed25519 public key: the first 8 bytes of the SHA-256 of its 32 raw
// bytes, in hex. Anyone may call it.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// ID is the key's KeyID.
func (k *SigningKey) ID() string { return k.id }

// Public is the key's public half.
func (k *SigningKey) Public() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// Sign is the Ed25519 signature of msg.
func (k *SigningKey) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// LoadSigningKey reads the Ed25519 key at path (PEM, PKCS #8, as openssl writes it), or, when
// no file is there, generates one and writes it there atomically with mode 0600 (created is then
// true). A key is never replaced: a file that exists but cannot be read or is not an Ed25519
// key is an error naming the file, and the caller must refuse to start (archives signed with
// the key would no longer verify against the published public key). cmd/callrec calls it once
// at start.
func LoadSigningKey(path string) (key *SigningKey, created bool, err error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		key, err := createSigningKey(path)
		if errors.Is(err, fs.ErrExist) { // another process created it meanwhile: use that one
			return LoadSigningKey(path)
		}
		return key, err == nil, err
	case err != nil:
		return nil, false, fmt.Errorf("signing key %s cannot be read: %w (callrec never replaces a signing key: fix its permissions)", path, err)
	}
	priv, err := parseSigningKey(b)
	if err != nil {
		return nil, false, fmt.Errorf("signing key %s is corrupt: %w (callrec never replaces a signing key: restore it from a backup, or move it away to start with a new key, whose public key then differs)", path, err)
	}
	return newSigningKey(priv), false, nil
}

// parseSigningKey reads a PEM "PRIVATE KEY" block holding an Ed25519 key.
func parseSigningKey(b []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an Ed25519 key", k)
	}
	return priv, nil
}

// createSigningKey generates a key and puts it at path without ever replacing a file there: it
// is written to a temporary file in the same directory, fsynced, then hard-linked to path (link
// fails when path exists, where rename would replace it) and the directory fsynced.
func createSigningKey(path string) (*SigningKey, error) {
	key, err := NewSigningKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key.priv)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	err = atomicfile.Write(path, 0o600, false, func(w io.Writer) error {
		return pem.Encode(w, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	})
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return key, nil
}

// signingKeyReply is GET /api/v1/signing-key.
type signingKeyReply struct {
	Algorithm string `json:"algorithm"`
	KeyID     string `json:"key_id"`
	// PublicKey is the 32 raw bytes of the Ed25519 public key in standard base64.
	PublicKey string `json:"public_key"`
	// PublicKeyPEM is the same key as a PEM SubjectPublicKeyInfo (openssl pkeyutl -pubin).
	PublicKeyPEM string `json:"public_key_pem"`
}

// signingKey answers the public half of the archive signing key (public, like openapi.json: it
// reveals nothing but lets anyone check an archive).
func (s *Server) signingKey(c *fiber.Ctx) error {
	pub := s.SigningKey.Public()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	return c.JSON(signingKeyReply{Algorithm: "ed25519", KeyID: s.SigningKey.ID(),
		PublicKey:    base64.StdEncoding.EncodeToString(pub),
		PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
}

// IntegrityMetrics count the served files that did not match their SHA-256
// (callrec_integrity_mismatches_total{where="audio"|"archive"}). NewIntegrityMetrics registers
// them; Server.IntegrityMetrics counts.
type IntegrityMetrics struct {
	mismatches *prometheus.CounterVec
}

// NewIntegrityMetrics creates the integrity series and registers them with reg (cmd/callrec
// calls it once per process); the error is reg's, for a name already registered.
func NewIntegrityMetrics(reg prometheus.Registerer) (*IntegrityMetrics, error) {
	m := &IntegrityMetrics{mismatches: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "callrec_integrity_mismatches_total",
		Help: "MP3s found not to match the SHA-256 stored when they were made, by where they were being served (audio, archive).",
	}, []string{"where"})}
	for _, where := range []string{"audio", "archive"} {
		m.mismatches.WithLabelValues(where) // present at 0, so an alert can watch the series
	}
	if err := reg.Register(m.mismatches); err != nil {
		return nil, fmt.Errorf("integrity metrics: %w", err)
	}
	return m, nil
}

// etagSet is a bounded set of ETags: of files hashed in full and found matching (a Range
// request hashes a file once per version, not once per range), or found still bad.
type etagSet struct {
	mu sync.Mutex
	m  map[string]struct{}
}

func (v *etagSet) has(etag string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.m[etag]
	return ok
}

func (v *etagSet) add(etag string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= verifiedCap {
		v.m = map[string]struct{}{}
	}
	v.m[etag] = struct{}{}
}

// errIntegrity is the 409 of a recording whose file is known not to match its SHA-256.
func errIntegrity(r *store.Recording) error {
	return &httpError{status: fiber.StatusConflict, code: codeIntegrity,
		message: fmt.Sprintf("The audio of recording %s does not match the SHA-256 stored when it was made (altered or damaged on disk); it is not served. An administrator must restore the file.", r.ID)}
}

// reprDigest is the RFC 9530 Repr-Digest value of a hex SHA-256 (`sha-256=:base64:`), "" for
// none.
func reprDigest(hexSum string) string {
	b, err := hex.DecodeString(hexSum)
	if err != nil || len(b) != sha256.Size {
		return ""
	}
	return "sha-256=:" + base64.StdEncoding.EncodeToString(b) + ":"
}

// checked settles the outcome of hashing r's whole file (sum) where ("audio", "archive"): a
// match is remembered under etag (when not ""), a row without a hash gets this one, and a
// mismatch is logged, counted, marked on the row and returned as errIntegrity. It runs where
// the request context may be gone (a streamed body), so it uses its own.
func (s *Server) checked(r *store.Recording, sum, etag, where string) error {
	switch {
	case r.SHA256 == "":
		// Made ready before hashes were stored: this full read is its first hash.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.DB.SetRecordingSHA256(ctx, r.ID, r.MP3Path, sum); err != nil && store.ErrorCode(err) != store.ECONFLICT {
			s.Logger.Error().Err(err).Str("recording_id", r.ID).Msg("integrity: hash of an old recording not stored")
		}
	case r.SHA256 != sum:
		return s.mismatch(r, sum, "", where)
	}
	if etag != "" {
		s.verified.add(etag)
	}
	return nil
}

// mismatch logs, counts and marks on the row that r's file is not what was stored (its SHA-256
// is got, or its sealed file did not authenticate: why), and returns errIntegrity.
func (s *Server) mismatch(r *store.Recording, got, why, where string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev := s.Logger.Error().Str("recording_id", r.ID).Str("company_id", r.CompanyID).Str("decision", codeIntegrity).
		Str("where", where).Str("want_sha256", r.SHA256).Str("path", r.MP3Path)
	if got != "" {
		ev = ev.Str("got_sha256", got)
	}
	if why != "" {
		ev = ev.Str("reason", why)
	}
	ev.Msg("integrity: the MP3 does not match its SHA-256: refused")
	if s.IntegrityMetrics != nil {
		s.IntegrityMetrics.mismatches.WithLabelValues(where).Inc()
	}
	if r.Integrity != store.IntegrityMismatch {
		if err := s.DB.SetRecordingIntegrity(ctx, r.ID, r.MP3Path, store.IntegrityMismatch); err != nil {
			s.Logger.Error().Err(err).Str("recording_id", r.ID).Msg("integrity: mismatch not marked on the row")
		}
	}
	return errIntegrity(r)
}

// recheck decides about a row marked IntegrityMismatch: its file is hashed again (once per
// ETag: a file still bad is not read again until it changes) and, when it matches its SHA-256
// again (an operator restored it), the mark is cleared and nil returned; otherwise the 409.
func (s *Server) recheck(ctx context.Context, r *store.Recording) error {
	m, err := library.OpenMP3(ctx, s.mp3Source(), r)
	if err != nil {
		return errIntegrity(r)
	}
	defer m.Close()
	etag := audioETag(r.ID, m)
	if s.stillBad.has(etag) {
		return errIntegrity(r)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(m, 0, m.Size)); err != nil || hex.EncodeToString(h.Sum(nil)) != r.SHA256 {
		s.stillBad.add(etag)
		return errIntegrity(r)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.DB.SetRecordingIntegrity(ctx, r.ID, r.MP3Path, ""); err != nil {
		return fmt.Errorf("integrity: clear the mark: %w", err)
	}
	r.Integrity = ""
	s.Logger.Info().Str("recording_id", r.ID).Str("company_id", r.CompanyID).Str("decision", "integrity_restored").
		Msg("integrity: the MP3 matches its SHA-256 again: served")
	return nil
}

// verifyOnce hashes f (r's whole MP3, whose ETag is etag) unless that version was verified
// before; for a Range request, before its first range is served.
func (s *Server) verifyOnce(r *store.Recording, f io.ReaderAt, size int64, etag string) error {
	if s.verified.has(etag) {
		return nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		if errors.Is(err, envelope.ErrCorrupt) {
			return s.mismatch(r, "", err.Error(), "audio")
		}
		return fmt.Errorf("integrity: read mp3: %w", err)
	}
	return s.checked(r, hex.EncodeToString(h.Sum(nil)), etag, "audio")
}

// hashingBody is a full response body that hashes as it is read and, when the last byte is
// reached, has the sum checked: on a mismatch it returns an error instead of the last chunk, so
// the client gets a body cut short (fasthttp closes the connection), never the altered file
// whole.
type hashingBody struct {
	r     io.Reader
	c     io.Closer
	h     hash.Hash
	left  int64
	check func(sum string) error
	// corrupt, when set, settles a sealed file's chunk that does not authenticate
	// (envelope.ErrCorrupt) and returns the error the body ends with.
	corrupt func(err error) error
}

func (b *hashingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && b.corrupt != nil && errors.Is(err, envelope.ErrCorrupt) {
		return 0, b.corrupt(err)
	}
	if n > 0 && b.left > 0 {
		b.h.Write(p[:n])
		if b.left -= int64(n); b.left <= 0 {
			if cerr := b.check(hex.EncodeToString(b.h.Sum(nil))); cerr != nil {
				return 0, cerr
			}
		}
	}
	return n, err
}

func (b *hashingBody) Close() error { return b.c.Close() }

// Manifest is manifest.json in every archive: what it holds, signed (manifest.json.sig is the
// Ed25519 signature of manifest.json's exact bytes, in base64, by the key KeyID names).
type Manifest struct {
	Version   int            `json:"version"` // 1
	CreatedAt time.Time      `json:"created_at"`
	Algorithm string         `json:"algorithm"` // "ed25519"
	KeyID     string         `json:"key_id"`
	Files     []ManifestFile `json:"files"`
}

// ManifestFile is one MP3 of an archive.
type ManifestFile struct {
	Name        string    `json:"name"`
	RecordingID string    `json:"recording_id"`
	CompanyID   string    `json:"company_id"`
	StartedAt   time.Time `json:"started_at"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
}

// addManifest writes manifest.json and its signature as the last entries of zw.
func (s *Server) addManifest(zw *zip.Writer, files []ManifestFile) error {
	m := Manifest{Version: 1, CreatedAt: time.Now().UTC(), Algorithm: "ed25519", KeyID: s.SigningKey.ID(), Files: files}
	if m.Files == nil {
		m.Files = []ManifestFile{}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	b = append(b, '\n')
	sig := base64.StdEncoding.EncodeToString(s.SigningKey.Sign(b)) + "\n"
	for _, e := range []struct {
		name string
		body []byte
	}{{ManifestName, b}, {ManifestSigName, []byte(sig)}} {
		hdr := &zip.FileHeader{Name: e.name, Method: zip.Store, Modified: m.CreatedAt}
		hdr.SetMode(0o644)
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
		if _, err := w.Write(e.body); err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
	}
	return nil
}

// VerifyArchive checks a callrec archive against the signing key pub (from GET
// /api/v1/signing-key): manifest.json is signed by pub (manifest.json.sig), every other entry
// is listed in it exactly once, and every listed file is there with its size and SHA-256. It
// returns the manifest when all holds; otherwise an error naming every problem (a manifest it
// could read comes back too). Anyone may call it (`callrec verify` does).
func VerifyArchive(r io.ReaderAt, size int64, pub ed25519.PublicKey) (*Manifest, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("not a ZIP archive: %w", err)
	}
	entries := map[string]*zip.File{}
	var problems []error
	for _, f := range zr.File {
		if _, dup := entries[f.Name]; dup {
			problems = append(problems, fmt.Errorf("%s: in the archive twice", f.Name))
		}
		entries[f.Name] = f
	}
	raw, err := readEntry(entries[ManifestName], ManifestName)
	if err != nil {
		return nil, err
	}
	sigText, err := readEntry(entries[ManifestSigName], ManifestSigName)
	if err != nil {
		return nil, err
	}
	sig, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(sigText)))
	if err != nil || !ed25519.Verify(pub, raw, sig) {
		return nil, fmt.Errorf("%s: the signature does not verify with key %s: the manifest was altered or signed by another key", ManifestName, KeyID(pub))
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestName, err)
	}
	listed := map[string]bool{ManifestName: true, ManifestSigName: true}
	for _, mf := range m.Files {
		if listed[mf.Name] {
			problems = append(problems, fmt.Errorf("%s: listed twice", mf.Name))
			continue
		}
		listed[mf.Name] = true
		if err := checkEntry(entries[mf.Name], mf); err != nil {
			problems = append(problems, err)
		}
	}
	var extra []string
	for name := range entries {
		if !listed[name] {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	for _, name := range extra {
		problems = append(problems, fmt.Errorf("%s: not in the manifest", name))
	}
	return &m, errors.Join(problems...)
}

// readEntry reads a small archive entry whole; f nil is "missing".
func readEntry(f *zip.File, name string) ([]byte, error) {
	if f == nil {
		return nil, fmt.Errorf("%s: missing from the archive (not a callrec archive, or one made before manifests)", name)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// checkEntry hashes archive entry f and compares it with mf; f nil is "missing".
func checkEntry(f *zip.File, mf ManifestFile) error {
	if f == nil {
		return fmt.Errorf("%s: listed in the manifest but missing from the archive", mf.Name)
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("%s: %w", mf.Name, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return fmt.Errorf("%s: %w", mf.Name, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != mf.SHA256 || n != mf.Size {
		return fmt.Errorf("%s: %d bytes with SHA-256 %s, the manifest says %d bytes with %s: the file was altered", mf.Name, n, sum, mf.Size, mf.SHA256)
	}
	return nil
}
