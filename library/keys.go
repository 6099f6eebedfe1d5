package library

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/callrec/callrec/envelope"
	"github.com/callrec/callrec/objstore"
	"github.com/callrec/callrec/store"
)

// Keys holds callrec's master key ring and the data keys it unwraps, for encryption at rest
// (issue 15 item 6): the worker seals a company's MP3s with SealingKey, and whoever serves or
// hashes one opens it with OpenMP3. Unwrapped data keys are cached in memory for the life of
// the process. Create it with LoadKeys; safe for concurrent use.
type Keys struct {
	db   store.Store
	path string

	mu    sync.Mutex
	ring  *envelope.MasterRing
	cache map[string][]byte // data key id → key
}

// ErrMasterKeyMissing is LoadKeys's error when the store holds data keys but the master key
// file is absent: callrec refuses to start rather than make a new master key that opens none of
// the sealed recordings.
var ErrMasterKeyMissing = errors.New("the store has encrypted recordings' keys but the master key file is missing")

// LoadKeys loads the master key file at path, creating it when it is absent and the store has
// no data key yet (created reports that). Called once by cmd/callrec serve (and tests).
// Errors: ErrMasterKeyMissing; a malformed or unreadable file; a file that does not hold every
// master key the store's data keys are wrapped with (the wrong file: refused, never replaced).
func LoadKeys(ctx context.Context, db store.Store, path string) (k *Keys, created bool, err error) {
	used, err := db.MasterKeysInUse(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("master key: %w", err)
	}
	ring, err := envelope.LoadMasterRing(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && len(used) > 0:
		return nil, false, fmt.Errorf("%w: %s (restore it from the backup made with the store)", ErrMasterKeyMissing, path)
	case errors.Is(err, fs.ErrNotExist):
		if ring, err = envelope.CreateMasterRing(path); err != nil {
			return nil, false, err
		}
		created = true
	case err != nil:
		return nil, false, err
	}
	have := map[string]bool{}
	for _, id := range ring.IDs() {
		have[id] = true
	}
	for id := range used {
		if !have[id] {
			return nil, false, fmt.Errorf("master key file %s lacks master key %s that wraps data keys in the store (the wrong file, or one from before a rotation)", path, id)
		}
	}
	return &Keys{db: db, path: path, ring: ring, cache: map[string][]byte{}}, created, nil
}

// Has reports whether the master key ring holds the key with id (current or older). Any
// goroutine may call it.
func (k *Keys) Has(id string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, have := range k.ring.IDs() {
		if have == id {
			return true
		}
	}
	return false
}

// MasterKeyID is the id of the current master key.
func (k *Keys) MasterKeyID() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ring.Current()
}

// SealingKey returns the id and key a new recording of company companyID is sealed with: its
// current data key, made (and stored wrapped) when the company has none yet. Callers: the
// worker. Errors: the store's.
func (k *Keys) SealingKey(ctx context.Context, companyID string) (string, []byte, error) {
	cur, err := k.db.CurrentDataKey(ctx, companyID)
	switch {
	case store.ErrorCode(err) == store.ENOTFOUND:
		dk, err := k.rotate(ctx, companyID, true)
		if err != nil {
			return "", nil, err
		}
		cur = dk
	case err != nil:
		return "", nil, fmt.Errorf("data key of %s: %w", companyID, err)
	}
	key, err := k.unwrap(cur)
	if err != nil {
		return "", nil, err
	}
	return cur.ID, key, nil
}

// Rotate makes a new current data key for company companyID (the one before is retired: it
// still opens what it sealed) and returns it. Callers: SealingKey and the API's rotation
// (brand admins). Errors: ENOTFOUND for no such company, the store's.
func (k *Keys) Rotate(ctx context.Context, companyID string) (*store.DataKey, error) {
	return k.rotate(ctx, companyID, false)
}

// rotate is Rotate; firstOnly returns the company's current key instead when it has one (two
// workers sealing a company's first recordings at once make one key).
func (k *Keys) rotate(ctx context.Context, companyID string, firstOnly bool) (*store.DataKey, error) {
	raw, err := envelope.NewDataKey()
	if err != nil {
		return nil, err
	}
	id := k.db.NewDataKeyID()
	// Held until the key is stored, so a master rotation never prunes the master key that
	// wrapped a data key still on its way to the store.
	k.mu.Lock()
	defer k.mu.Unlock()
	if firstOnly {
		if cur, err := k.db.CurrentDataKey(ctx, companyID); err == nil {
			return cur, nil
		}
	}
	mid, wrapped, err := k.ring.Wrap(companyID, id, raw)
	if err != nil {
		return nil, err
	}
	dk := &store.DataKey{ID: id, CompanyID: companyID, MasterKeyID: mid, Wrapped: wrapped}
	if err := k.db.AddDataKey(ctx, dk); err != nil {
		return nil, fmt.Errorf("data key of %s: %w", companyID, err)
	}
	k.cache[id] = raw
	return dk, nil
}

// RotateMaster adds a new master key to the master key file, rewraps every data key with it
// (one transaction), then drops from the file the master keys no data key needs any more. A
// crash between the steps leaves a file with a key too many, never one too few. Callers: the
// API (platform admins). It returns the new master key id and how many data keys were rewrapped.
func (k *Keys) RotateMaster(ctx context.Context) (string, int, error) {
	k.mu.Lock()
	defer k.mu.Unlock() // one rotation at a time; sealing waits only for the ring swap
	next, err := k.ring.Rotate(k.path)
	if err != nil {
		return "", 0, err
	}
	old := k.ring
	k.ring = next
	n, err := k.db.RewrapDataKeys(ctx, func(dk *store.DataKey) (string, []byte, error) {
		raw, err := old.Unwrap(dk.MasterKeyID, dk.CompanyID, dk.ID, dk.Wrapped)
		if err != nil {
			return "", nil, err
		}
		return next.Wrap(dk.CompanyID, dk.ID, raw)
	})
	if err != nil {
		return "", 0, fmt.Errorf("rewrap data keys: %w (the master key file keeps both keys; nothing is lost)", err)
	}
	used, err := k.db.MasterKeysInUse(ctx)
	if err != nil {
		return next.Current(), n, nil // pruning is optional: the file keeps an unused key
	}
	if pruned, _, err := next.Without(k.path, func(id string) bool { return used[id] }); err == nil {
		k.ring = pruned
	}
	return next.Current(), n, nil
}

// DataKey returns data key id of company companyID, unwrapped (cached). Errors: ENOTFOUND,
// envelope.ErrUnknownMasterKey, envelope.ErrCorrupt.
func (k *Keys) DataKey(ctx context.Context, companyID, id string) ([]byte, error) {
	k.mu.Lock()
	raw, ok := k.cache[id]
	k.mu.Unlock()
	if ok {
		return raw, nil
	}
	dk, err := k.db.FindDataKey(ctx, companyID, id)
	if err != nil {
		return nil, err
	}
	return k.unwrap(dk)
}

func (k *Keys) unwrap(dk *store.DataKey) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if raw, ok := k.cache[dk.ID]; ok {
		return raw, nil
	}
	raw, err := k.ring.Unwrap(dk.MasterKeyID, dk.CompanyID, dk.ID, dk.Wrapped)
	if err != nil {
		return nil, err
	}
	k.cache[dk.ID] = raw
	return raw, nil
}

// MP3 is the audio of a ready recording opened for reading: its MP3 bytes at any offset, clear
// or sealed, in library_dir or in the object store alike. Close it.
type MP3 struct {
	io.ReaderAt
	// Size is the MP3's size (of the clear bytes, as served); ModTime the file's or object's.
	Size    int64
	ModTime time.Time
	c       io.Closer
}

// Close closes the file or object.
func (m *MP3) Close() error { return m.c.Close() }

// Source is where OpenMP3 finds a recording's MP3: Objects for the rows whose MP3Path names an
// object (library.backend s3), Keys for the sealed ones. The zero value opens clear MP3s in
// library_dir.
type Source struct {
	Objects objstore.Store
	Keys    *Keys
}

// OpenMP3 opens the MP3 of recording r (ready, MP3Path set): the file in library_dir or the
// object in src.Objects, itself or through src.Keys when r.EncryptionKeyID names the data key
// it is sealed with. Callers: the web server (play, download, archive, integrity checks) and the
// hash backfill. Errors: fs.ErrNotExist for a missing file or object (errors.Is);
// envelope.ErrCorrupt for a sealed file that does not authenticate (altered or damaged: the
// same as a hash mismatch for the caller); envelope.ErrNotSealed for a clear file where a
// sealed one should be; an object row with no object store, a sealed one with no keys; the
// data key's and the object store's errors.
func OpenMP3(ctx context.Context, src Source, r *store.Recording) (*MP3, error) {
	raw, err := openRaw(ctx, src.Objects, r)
	if err != nil {
		return nil, err
	}
	if r.EncryptionKeyID == "" {
		return raw, nil
	}
	if src.Keys == nil {
		raw.Close()
		return nil, fmt.Errorf("recording %s is encrypted at rest and no master key is loaded", r.ID)
	}
	sr, err := envelope.OpenReader(raw, raw.Size, func(id string) ([]byte, error) {
		if id != r.EncryptionKeyID {
			return nil, fmt.Errorf("%w: sealed with %s, the row says %s", envelope.ErrCorrupt, id, r.EncryptionKeyID)
		}
		return src.Keys.DataKey(ctx, r.CompanyID, id)
	})
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("recording %s: %w", r.ID, err)
	}
	return &MP3{ReaderAt: sr, Size: sr.Size(), ModTime: raw.ModTime, c: raw.c}, nil
}

// openRaw opens the bytes r.MP3Path names, as stored.
func openRaw(ctx context.Context, objects objstore.Store, r *store.Recording) (*MP3, error) {
	if key, ok := ObjectKey(r.MP3Path); ok {
		if objects == nil {
			return nil, fmt.Errorf("recording %s is in an object store and library.backend is not s3", r.ID)
		}
		o, err := objects.Open(ctx, key)
		if err != nil {
			if errors.Is(err, objstore.ErrNotExist) {
				err = fmt.Errorf("%w: %w", fs.ErrNotExist, err)
			}
			return nil, fmt.Errorf("open mp3: %w", err)
		}
		return &MP3{ReaderAt: o, Size: o.Size(), ModTime: o.ModTime(), c: o}, nil
	}
	f, err := os.Open(r.MP3Path)
	if err != nil {
		return nil, fmt.Errorf("open mp3: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat mp3: %w", err)
	}
	return &MP3{ReaderAt: f, Size: fi.Size(), ModTime: fi.ModTime(), c: f}, nil
}
