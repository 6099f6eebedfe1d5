package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The audit log (issue 15 item 3): who played, downloaded, archived or deleted a recording,
// which recordings retention and quota removed, every change of a recording setting or a token,
// holds and requests by person — with who (token, role), when and from which address.
//
// It is append-only: the store has no method that changes or removes an entry, and it is never
// pruned (it outlives the recordings it describes). Each tenancy has its own hash chain: an
// entry's Hash is SHA-256 over its predecessor's Hash and its own canonical JSON, and the chain's
// head (last sequence number and hash) is kept apart, so an entry edited, removed or inserted
// anywhere — the last one included — breaks VerifyAudit. A company's chain is "company:<id>";
// entries about a brand (not one of its companies) are in "brand:<id>", the platform's in
// "platform". The chain of a company therefore holds everything its admins may see, and they
// can verify it whole.

var (
	bAudit     = []byte("audit")      // chain|seq (8 bytes, big-endian) -> entry JSON (schema v6)
	bAuditHead = []byte("audit_head") // chain -> head JSON {seq, hash}
)

// Audit actions (AuditEntry.Action).
const (
	AuditPlay             = "play"
	AuditDownload         = "download"
	AuditArchive          = "archive"
	AuditDelete           = "delete"
	AuditErase            = "erase" // a deletion by a request by person
	AuditRetentionRemoval = "retention_removal"
	AuditQuotaRemoval     = "quota_removal"
	AuditSettingChange    = "setting_change"
	AuditTokenCreated     = "token_created"
	AuditTokenRevoked     = "token_revoked"
	AuditHoldPlaced       = "hold_placed"
	AuditHoldReleased     = "hold_released"
	AuditSubjectListed    = "subject_listed"
	AuditSubjectExported  = "subject_exported"
)

// AuditEntry is one entry of the audit log. Seq, Chain, PrevHash and Hash are set by
// AppendAudit.
type AuditEntry struct {
	Seq         uint64    `json:"seq"`
	Chain       string    `json:"chain"`
	At          time.Time `json:"at"`
	Action      string    `json:"action"`
	BrandID     string    `json:"brand_id,omitempty"`
	CompanyID   string    `json:"company_id,omitempty"`
	RecordingID string    `json:"recording_id,omitempty"`
	Target      string    `json:"target,omitempty"` // what else it is about: "ddi:<id>", "token:<id>", "hold:<id>", …
	Detail      string    `json:"detail,omitempty"` // short and plain: the fields changed, a reason; never audio or a secret
	TokenID     string    `json:"token_id,omitempty"`
	Role        string    `json:"role"` // the caller's role, or "callrec" for its own sweeps
	Address     string    `json:"address,omitempty"`
	PrevHash    string    `json:"prev_hash"`
	Hash        string    `json:"hash"`
}

// MaxAuditDetail bounds an entry's Detail (longer ones are cut).
const MaxAuditDetail = 500

// auditHead is the last entry of a chain.
type auditHead struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// AuditChain names the chain an entry about companyID (else brandID, else the platform) is in.
func AuditChain(brandID, companyID string) string {
	switch {
	case companyID != "":
		return "company:" + companyID
	case brandID != "":
		return "brand:" + brandID
	}
	return "platform"
}

// AppendAudit appends entries (in order) to their chains in one transaction. It fills Seq,
// Chain, At (when zero), PrevHash and Hash. Errors: the store's (a caller that must not act
// unaudited stops on one).
func (db *DB) AppendAudit(ctx context.Context, entries ...*AuditEntry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	now := db.now().UTC()
	return db.bolt.Batch(func(tx *bolt.Tx) error {
		for _, e := range entries {
			if err := appendAudit(tx, e, now); err != nil {
				return err
			}
		}
		return nil
	})
}

func appendAudit(tx *bolt.Tx, e *AuditEntry, now time.Time) error {
	e.Chain = AuditChain(e.BrandID, e.CompanyID)
	if e.At.IsZero() {
		e.At = now
	}
	if len(e.Detail) > MaxAuditDetail {
		e.Detail = e.Detail[:MaxAuditDetail]
	}
	var head auditHead
	if b := tx.Bucket(bAuditHead).Get([]byte(e.Chain)); b != nil {
		if err := json.Unmarshal(b, &head); err != nil {
			return fmt.Errorf("audit head %s: %w", e.Chain, err)
		}
	}
	e.Seq, e.PrevHash = head.Seq+1, head.Hash
	h, err := AuditHash(e)
	if err != nil {
		return err
	}
	e.Hash = h
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode audit entry: %w", err)
	}
	if err := tx.Bucket(bAudit).Put(auditKey(e.Chain, e.Seq), b); err != nil {
		return err
	}
	hb, _ := json.Marshal(auditHead{Seq: e.Seq, Hash: e.Hash})
	return tx.Bucket(bAuditHead).Put([]byte(e.Chain), hb)
}

// AuditHash is an entry's hash in its chain: SHA-256 over the entry's JSON with Hash empty
// (PrevHash included), hex. Both backends chain with it, so their chains verify alike. Anyone
// may call it; the error is the JSON encoder's.
func AuditHash(e *AuditEntry) (string, error) {
	c := *e
	c.Hash = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("encode audit entry: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func auditKey(chain string, seq uint64) []byte {
	k := make([]byte, 0, len(chain)+1+8)
	k = append(append(k, chain...), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// AuditPage returns up to limit entries of chain, newest first, before sequence number before
// (0: from the newest), and the sequence number to pass for the next page (0 when none).
func (db *DB) AuditPage(ctx context.Context, chain string, before uint64, limit int) ([]*AuditEntry, uint64, error) {
	if limit <= 0 || limit > MaxListLimit {
		limit = DefaultListLimit
	}
	var out []*AuditEntry
	var next uint64
	err := db.view(ctx, func(tx *bolt.Tx) error {
		prefix := append([]byte(chain), 0)
		c := tx.Bucket(bAudit).Cursor()
		var k, v []byte
		if before == 0 {
			k, v = c.Seek(auditKey(chain, ^uint64(0)))
			if k == nil {
				k, v = c.Last()
			} else if !bytes.Equal(k, auditKey(chain, ^uint64(0))) {
				k, v = c.Prev()
			}
		} else {
			c.Seek(auditKey(chain, before))
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			if len(out) == limit {
				next = binary.BigEndian.Uint64(k[len(prefix):]) + 1
				break
			}
			e := new(AuditEntry)
			if err := json.Unmarshal(v, e); err != nil {
				return fmt.Errorf("decode audit entry %x: %w", k, err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, next, err
}

// AuditVerification is the outcome of VerifyAudit.
type AuditVerification struct {
	Chain   string `json:"chain"`
	Entries uint64 `json:"entries"`
	OK      bool   `json:"ok"`
	// BrokenAt is the first sequence number whose entry is missing, altered or out of its chain
	// (0 when OK), Problem what is wrong there.
	BrokenAt uint64 `json:"broken_at,omitempty"`
	Problem  string `json:"problem,omitempty"`
}

// VerifyAudit walks chain from its first entry to its head and checks every link and hash.
func (db *DB) VerifyAudit(ctx context.Context, chain string) (AuditVerification, error) {
	out := AuditVerification{Chain: chain}
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var head auditHead
		if b := tx.Bucket(bAuditHead).Get([]byte(chain)); b != nil {
			if err := json.Unmarshal(b, &head); err != nil {
				return fmt.Errorf("audit head %s: %w", chain, err)
			}
		}
		prefix := append([]byte(chain), 0)
		c := tx.Bucket(bAudit).Cursor()
		var want uint64 = 1
		prev := ""
		fail := func(seq uint64, format string, args ...any) {
			out.BrokenAt, out.Problem = seq, fmt.Sprintf(format, args...)
		}
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k[len(prefix):])
			e := new(AuditEntry)
			switch {
			case seq != want:
				fail(want, "entry %d is missing", want)
			case json.Unmarshal(v, e) != nil:
				fail(seq, "entry %d does not decode", seq)
			case e.Seq != seq || e.Chain != chain || e.PrevHash != prev:
				fail(seq, "entry %d is not linked to its predecessor", seq)
			default:
				if h, err := AuditHash(e); err != nil || h != e.Hash {
					fail(seq, "entry %d was altered (its hash does not match)", seq)
				}
			}
			if out.BrokenAt != 0 {
				return nil
			}
			prev, want = e.Hash, want+1
			out.Entries++
		}
		if out.Entries != head.Seq || prev != head.Hash {
			fail(out.Entries+1, "the chain ends at %d but its head says %d: entries were removed", out.Entries, head.Seq)
		}
		return nil
	})
	out.OK = err == nil && out.BrokenAt == 0
	return out, err
}

// migrateAudit creates the audit buckets (schema v6).
func migrateAudit(tx *bolt.Tx) error {
	for _, b := range [][]byte{bAudit, bAuditHead} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}
