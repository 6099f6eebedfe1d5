package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/callrec/callrec/store"
)

// The audit log (store/audit.go): one hash chain per tenancy, append-only. Instances append to
// one chain concurrently, so each append locks the chain's head row (FOR UPDATE) for its
// transaction: the next instance's append waits and links to the entry just committed, and a
// chain never forks. Hashes are computed exactly as store computes them, so a chain verifies
// the same on either backend.

const auditColumns = "chain, seq, at, action, brand_id, company_id, recording_id, target, detail, token_id, role, address, prev_hash, hash"

func scanAudit(row pgx.Row) (*store.AuditEntry, error) {
	var e store.AuditEntry
	if err := row.Scan(&e.Chain, &e.Seq, &e.At, &e.Action, &e.BrandID, &e.CompanyID, &e.RecordingID, &e.Target,
		&e.Detail, &e.TokenID, &e.Role, &e.Address, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.At = e.At.UTC()
	return &e, nil
}

// AppendAudit appends entries (in order) to their chains in one transaction, as
// store.DB.AppendAudit: it fills Seq, Chain, At (when zero; kept to the microsecond, what the
// database stores, so the hash verifies when read back), PrevHash and Hash. Errors: the
// database's (a caller that must not act unaudited stops on one).
func (db *DB) AppendAudit(ctx context.Context, entries ...*store.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	now := db.now()
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error { return appendAudit(ctx, tx, now, entries) })
}

// appendAudit is AppendAudit inside the caller's transaction tx (DeleteRecordingAudited appends
// its entry with the deletion): entries without At get now. The chain heads stay locked until
// tx ends.
func appendAudit(ctx context.Context, tx pgx.Tx, now time.Time, entries []*store.AuditEntry) error {
	var chains []string
	for _, e := range entries {
		e.Chain = store.AuditChain(e.BrandID, e.CompanyID)
		chains = append(chains, e.Chain)
	}
	slices.Sort(chains) // heads locked in one order by every appender: no deadlock
	chains = slices.Compact(chains)
	heads := map[string]*struct {
		seq  uint64
		hash string
	}{}
	for _, c := range chains {
		if _, err := tx.Exec(ctx, "INSERT INTO audit_heads (chain, seq, hash) VALUES ($1, 0, '') ON CONFLICT (chain) DO NOTHING", c); err != nil {
			return fmt.Errorf("audit head %s: %w", c, err)
		}
		h := &struct {
			seq  uint64
			hash string
		}{}
		if err := tx.QueryRow(ctx, "SELECT seq, hash FROM audit_heads WHERE chain = $1 FOR UPDATE", c).Scan(&h.seq, &h.hash); err != nil {
			return fmt.Errorf("audit head %s: %w", c, err)
		}
		heads[c] = h
	}
	for _, e := range entries {
		if e.At.IsZero() {
			e.At = now
		}
		e.At = e.At.UTC().Truncate(time.Microsecond)
		if len(e.Detail) > store.MaxAuditDetail {
			e.Detail = e.Detail[:store.MaxAuditDetail]
		}
		h := heads[e.Chain]
		e.Seq, e.PrevHash = h.seq+1, h.hash
		var err error
		if e.Hash, err = store.AuditHash(e); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO audit ("+auditColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
			e.Chain, e.Seq, e.At, e.Action, e.BrandID, e.CompanyID, e.RecordingID, e.Target, e.Detail, e.TokenID, e.Role,
			e.Address, e.PrevHash, e.Hash); err != nil {
			return fmt.Errorf("append audit: %w", err)
		}
		h.seq, h.hash = e.Seq, e.Hash
	}
	for c, h := range heads {
		if _, err := tx.Exec(ctx, "UPDATE audit_heads SET seq = $2, hash = $3 WHERE chain = $1", c, h.seq, h.hash); err != nil {
			return fmt.Errorf("audit head %s: %w", c, err)
		}
	}
	return nil
}

// AuditPage returns up to limit entries of chain, newest first, before sequence number before
// (0: from the newest), and the sequence number to pass for the next page (0 when none), as
// store.DB.AuditPage.
func (db *DB) AuditPage(ctx context.Context, chain string, before uint64, limit int) ([]*store.AuditEntry, uint64, error) {
	if limit <= 0 || limit > store.MaxListLimit {
		limit = store.DefaultListLimit
	}
	if before == 0 {
		before = 1 << 62
	}
	rows, err := db.pool.Query(ctx, "SELECT "+auditColumns+" FROM audit WHERE chain = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3", chain, before, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("audit page: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.AuditEntry, error) { return scanAudit(r) })
	if err != nil {
		return nil, 0, fmt.Errorf("audit page: %w", err)
	}
	if len(out) <= limit {
		return out, 0, nil
	}
	return out[:limit], out[limit].Seq + 1, nil
}

// VerifyAudit walks chain from its first entry to its head and checks every link and hash, as
// store.DB.VerifyAudit (same problems reported at the same sequence numbers).
func (db *DB) VerifyAudit(ctx context.Context, chain string) (store.AuditVerification, error) {
	out := store.AuditVerification{Chain: chain}
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var headSeq uint64
		var headHash string
		if err := tx.QueryRow(ctx, "SELECT seq, hash FROM audit_heads WHERE chain = $1", chain).Scan(&headSeq, &headHash); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("audit head %s: %w", chain, err)
		}
		rows, err := tx.Query(ctx, "SELECT "+auditColumns+" FROM audit WHERE chain = $1 ORDER BY seq", chain)
		if err != nil {
			return err
		}
		defer rows.Close()
		var want uint64 = 1
		prev := ""
		fail := func(seq uint64, format string, args ...any) {
			out.BrokenAt, out.Problem = seq, fmt.Sprintf(format, args...)
		}
		for rows.Next() {
			e, err := scanAudit(rows)
			if err != nil {
				return err
			}
			switch {
			case e.Seq != want:
				fail(want, "entry %d is missing", want)
			case e.PrevHash != prev:
				fail(e.Seq, "entry %d is not linked to its predecessor", e.Seq)
			default:
				if h, err := store.AuditHash(e); err != nil || h != e.Hash {
					fail(e.Seq, "entry %d was altered (its hash does not match)", e.Seq)
				}
			}
			if out.BrokenAt != 0 {
				return nil
			}
			prev, want = e.Hash, want+1
			out.Entries++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if out.Entries != headSeq || prev != headHash {
			fail(out.Entries+1, "the chain ends at %d but its head says %d: entries were removed", out.Entries, headSeq)
		}
		return nil
	})
	out.OK = err == nil && out.BrokenAt == 0
	if err != nil {
		return out, fmt.Errorf("verify audit: %w", err)
	}
	return out, nil
}
