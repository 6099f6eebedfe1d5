package store_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
	"github.com/callrec/callrec/store/storetest"
)

// TestConformance holds the bbolt store, the reference, to the conformance suite that the
// PostgreSQL store runs too (store/postgres/conformance_test.go).
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, o storetest.Options) store.Store {
		db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "callrec.db"), store.Options{
			Now: o.Now, DefaultCountry: o.DefaultCountry, NoSync: true, MaxBatchDelay: time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := db.Close(); err != nil {
				t.Error(err)
			}
		})
		return db
	})
}
