package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/callrec/callrec/store"
)

// TestServe_NamesDDIsWhoseAnnouncementCallsRefuse: a DDI an older version stored with an
// announcement the call path refuses ($${sounds_dir}/…) is named in a warning at start, since
// every call to it goes unrecorded.
func TestServe_NamesDDIsWhoseAnnouncementCallsRefuse(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, "callrec.db"), store.Options{})
	must(t, err)
	b := &store.Brand{Name: "B"}
	must(t, db.CreateBrand(ctx, b))
	c := &store.Company{BrandID: b.ID, Name: "C", OnDemand: store.OnDemandDisabled}
	must(t, db.CreateCompany(ctx, c))
	d := &store.DDI{CompanyID: c.ID, Number: "+34911234567", RecordCalls: store.RecordAll, Announcement: "ivr/notice.wav"}
	must(t, db.CreateDDI(ctx, d))
	must(t, db.Close())
	// What an older version accepted, written as it stored it.
	raw, err := bolt.Open(filepath.Join(dir, "callrec.db"), 0o600, nil)
	must(t, err)
	must(t, raw.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("ddis"))
		v := bk.Get([]byte(d.ID))
		return bk.Put([]byte(d.ID), bytes.Replace(v, []byte("ivr/notice.wav"), []byte("$${sounds_dir}/notice.wav"), 1))
	}))
	must(t, raw.Close())

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(sctx, []string{"serve", "--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"}, nil, &stdout, &stderr)
	}()
	waitForLog(t, &stderr, `"http":"(http://[^"]+)"`, done)
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	var warned bool
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, `"decision":"invalid_announcement"`) && strings.Contains(line, d.ID) {
			warned = true
		}
	}
	if !warned {
		t.Fatalf("no invalid_announcement warning naming %s:\n%s", d.ID, stderr.String())
	}
}
