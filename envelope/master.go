package envelope

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/callrec/callrec/atomicfile"
)

// ringLine is the first word of every key line of a master key file.
const ringLine = "callrec-master-key-v1"

// MasterRing is the set of master keys of one callrec, the newest current (see the package
// doc). It is immutable: Rotate and Without write a new file and return a new ring. Safe for
// concurrent use.
type MasterRing struct {
	ids  []string
	keys map[string][]byte
}

// ErrUnknownMasterKey is returned by Unwrap for a data key wrapped by a master key the ring no
// longer (or never) had: the master key file is not the one the store was written with.
var ErrUnknownMasterKey = errors.New("master key not in the master key file")

// LoadMasterRing reads the master key file at path. Errors: the file's (errors.Is
// fs.ErrNotExist when it is absent), a malformed line, an empty file.
func LoadMasterRing(path string) (*MasterRing, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	r := &MasterRing{keys: map[string][]byte{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != ringLine || !ValidKeyID(f[1]) {
			return nil, fmt.Errorf("master key file %s line %d: want %q, a key id and a base64 key", path, n, ringLine)
		}
		k, err := base64.StdEncoding.DecodeString(f[2])
		if err != nil || len(k) != KeySize {
			return nil, fmt.Errorf("master key file %s line %d: the key is not %d bytes of base64", path, n, KeySize)
		}
		if _, dup := r.keys[f[1]]; dup {
			return nil, fmt.Errorf("master key file %s line %d: key %s twice", path, n, f[1])
		}
		r.ids = append(r.ids, f[1])
		r.keys[f[1]] = k
	}
	if len(r.ids) == 0 {
		return nil, fmt.Errorf("master key file %s holds no key", path)
	}
	return r, nil
}

// CreateMasterRing writes a new master key file at path holding one new key (mode 0600; never
// over an existing file: that is an error) and returns its ring.
func CreateMasterRing(path string) (*MasterRing, error) {
	r, err := (&MasterRing{keys: map[string][]byte{}}).withNewKey()
	if err != nil {
		return nil, err
	}
	if err := r.write(path, false); err != nil {
		return nil, err
	}
	return r, nil
}

// Rotate adds a new master key to the ring, replaces the file at path with the new ring
// (atomically) and returns it: the new key is current, the old ones still unwrap. The caller
// rewraps every data key with the new ring, then may drop the old keys (Without).
func (r *MasterRing) Rotate(path string) (*MasterRing, error) {
	n, err := r.withNewKey()
	if err != nil {
		return nil, err
	}
	if err := n.write(path, true); err != nil {
		return nil, err
	}
	return n, nil
}

// Without returns the ring without the keys keep rejects (never the current one) and, when it
// dropped any, replaces the file at path with it.
func (r *MasterRing) Without(path string, keep func(id string) bool) (*MasterRing, []string, error) {
	n := &MasterRing{keys: map[string][]byte{}}
	var dropped []string
	for _, id := range r.ids {
		if id != r.Current() && !keep(id) {
			dropped = append(dropped, id)
			continue
		}
		n.ids = append(n.ids, id)
		n.keys[id] = r.keys[id]
	}
	if len(dropped) == 0 {
		return r, nil, nil
	}
	if err := n.write(path, true); err != nil {
		return nil, nil, err
	}
	return n, dropped, nil
}

// withNewKey is a copy of r with a new random key appended.
func (r *MasterRing) withNewKey() (*MasterRing, error) {
	raw := make([]byte, 8)
	k := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	n := &MasterRing{ids: append(append([]string(nil), r.ids...), "mk_"+hex.EncodeToString(raw)), keys: map[string][]byte{}}
	for id, v := range r.keys {
		n.keys[id] = v
	}
	n.keys[n.ids[len(n.ids)-1]] = k
	return n, nil
}

// write puts the ring in a file at path (0600, atomicfile.Write): a new file, or replacing the
// one there.
func (r *MasterRing) write(path string, replace bool) error {
	var b strings.Builder
	b.WriteString("# callrec master keys: they unwrap the per-company data keys of recordings encrypted at rest.\n")
	b.WriteString("# Back this file up with the store, and keep it apart from it: without it encrypted recordings are lost.\n")
	for _, id := range r.ids {
		fmt.Fprintf(&b, "%s %s %s\n", ringLine, id, base64.StdEncoding.EncodeToString(r.keys[id]))
	}
	err := atomicfile.Write(path, 0o600, replace, func(w io.Writer) error {
		_, err := io.WriteString(w, b.String())
		return err
	})
	if err != nil {
		return fmt.Errorf("master key file: %w", err)
	}
	return nil
}

// Current is the id of the master key that wraps new data keys.
func (r *MasterRing) Current() string { return r.ids[len(r.ids)-1] }

// IDs lists the ring's key ids, oldest first.
func (r *MasterRing) IDs() []string { return append([]string(nil), r.ids...) }

// wrapAD is the additional data a data key is wrapped with: it binds the key to its company and
// id.
func wrapAD(companyID, keyID string) []byte {
	return []byte("callrec data key\x00" + companyID + "\x00" + keyID)
}

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return cipher.NewGCM(block)
}

// Wrap encrypts dataKey, the key keyID of company companyID, with the current master key and
// returns that key's id and the wrapped key (nonce first).
func (r *MasterRing) Wrap(companyID, keyID string, dataKey []byte) (masterID string, wrapped []byte, err error) {
	if len(dataKey) != KeySize {
		return "", nil, fmt.Errorf("envelope: a data key has %d bytes", KeySize)
	}
	id := r.Current()
	a, err := gcm(r.keys[id])
	if err != nil {
		return "", nil, err
	}
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, fmt.Errorf("envelope: nonce: %w", err)
	}
	return id, a.Seal(nonce, nonce, dataKey, wrapAD(companyID, keyID)), nil
}

// Unwrap decrypts a data key that Wrap returned. Errors: ErrUnknownMasterKey, ErrCorrupt (the
// wrapped key was altered, or belongs to another company or id).
func (r *MasterRing) Unwrap(masterID, companyID, keyID string, wrapped []byte) ([]byte, error) {
	k, ok := r.keys[masterID]
	if !ok {
		return nil, fmt.Errorf("envelope: data key %s: %w: %s", keyID, ErrUnknownMasterKey, masterID)
	}
	a, err := gcm(k)
	if err != nil {
		return nil, err
	}
	if len(wrapped) < a.NonceSize()+a.Overhead() {
		return nil, fmt.Errorf("envelope: data key %s: %w: too short", keyID, ErrCorrupt)
	}
	dk, err := a.Open(nil, wrapped[:a.NonceSize()], wrapped[a.NonceSize():], wrapAD(companyID, keyID))
	if err != nil || len(dk) != KeySize {
		return nil, fmt.Errorf("envelope: data key %s: %w: it does not unwrap", keyID, ErrCorrupt)
	}
	return dk, nil
}

// NewDataKey returns a new random data key.
func NewDataKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("envelope: data key: %w", err)
	}
	return k, nil
}
