package library

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	bolt "go.etcd.io/bbolt"

	"github.com/callrec/callrec/store"
)

// TestSweeper_ReadsOnlyTheRowsItMayRemove: the sweep is proportional to its work (issue 13
// target 4). A company with neither retention nor quota, one whose recordings are all younger
// than its retention and one under its quota each hold a recording row that cannot be decoded:
// a sweep that reads those rows (the old per-company walk of every row) fails; one that reads
// the kept running totals and walks by age only up to the cut-off does not. Bytes stored still
// come out right for every company.
func TestSweeper_ReadsOnlyTheRowsItMayRemove(t *testing.T) {
	e := mustOpenEnv(t)
	ctx := context.Background()
	companies := []*store.Company{
		e.company, // neither retention nor quota
		e.addCompany(t, "Thirty days", 30, 0),
		e.addCompany(t, "Ten MB", 0, 10),
		e.addCompany(t, "Both", 30, 10),
	}
	var broken []string
	for _, c := range companies {
		e.ready(t, c.ID, 1000)
		broken = append(broken, e.ready(t, c.ID, 500).ID)
	}
	path := e.db.Path()
	must(t, e.db.Close())
	bdb, err := bolt.Open(path, 0o600, nil)
	must(t, err)
	must(t, bdb.Update(func(tx *bolt.Tx) error {
		for _, id := range broken {
			if err := tx.Bucket([]byte("recordings")).Put([]byte(id), []byte("not json")); err != nil {
				return err
			}
		}
		return nil
	}))
	must(t, bdb.Close())
	db, err := store.Open(ctx, path, store.Options{NoSync: true, Now: e.clock.Now})
	must(t, err)
	t.Cleanup(func() { db.Close() })
	e.db = db

	m, err := NewMetrics(prometheus.NewRegistry())
	must(t, err)
	n, err := e.sweeper(m).SweepOnce(ctx)
	if err != nil || n != 0 {
		t.Fatalf("sweep read rows it had no reason to read: removed %d, %v", n, err)
	}
	for _, c := range companies {
		var pb dto.Metric
		must(t, m.BytesStored.WithLabelValues(c.ID).Write(&pb))
		if got := pb.GetGauge().GetValue(); got != 1500 {
			t.Errorf("company %s: bytes stored %v, want 1500", c.Name, got)
		}
	}
}
