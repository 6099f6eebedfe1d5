package webhook

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/store"
	"github.com/callrec/callrec/store/postgres"
	"github.com/callrec/callrec/store/postgres/pgtest"
)

// Two callrec instances' dispatchers on one real PostgreSQL store (issue 16 item 3), each its
// own pool, running at once over 10 recording.ready events: the receiver gets every delivery
// exactly once, and every delivery ends delivered after one attempt.
func TestDispatcher_TwoInstancesOnPostgreSQLDeliverEachEventOnce(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t, pgtest.Options{Prepare: func(ctx context.Context, dsn string) error {
		db, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err == nil {
			db.Close()
		}
		return err
	}})
	open := func() *postgres.DB {
		db, err := postgres.Open(ctx, dsn, postgres.Options{})
		must(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()

	rc := newReceiver(t, nil)
	brand := &store.Brand{Name: "B"}
	must(t, a.CreateBrand(ctx, brand))
	co := &store.Company{BrandID: brand.ID, Name: "C"}
	must(t, a.CreateCompany(ctx, co))
	_, err := a.CreateWebhook(ctx, &store.Webhook{CompanyID: co.ID, URL: rc.srv.URL + "/hook", Active: true})
	must(t, err)
	const n = 10
	for i := range n {
		r := &store.Recording{CompanyID: co.ID, CallID: "call", Type: store.TypeDDI, Trigger: store.TriggerDDI,
			Direction: store.DirectionInbound, Caller: "+34600111222", Callee: "+34911234567", StartedAt: time.Now()}
		must(t, a.CreateRecording(ctx, r))
		must(t, a.FinishRecording(ctx, r.ID, time.Now(), 1000, "/spool/"+r.ID+".wav"))
		j, err := a.ClaimJob(ctx, time.Minute)
		must(t, err)
		must(t, a.CompleteRecording(ctx, j.ID, store.RecordingResult{MP3Path: "/lib/" + r.ID + ".mp3", DurationMS: 1000, FileSize: int64(10 + i)}))
	}

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, db := range []*postgres.DB{a, b} {
		d := &Dispatcher{DB: db, AllowPrivateNetworks: true, Poll: 5 * time.Millisecond, Workers: 3,
			Logger: zerolog.New(io.Discard), Backoff: func(int) time.Duration { return time.Millisecond }}
		wg.Add(1)
		go func() { defer wg.Done(); _ = d.Run(runCtx) }()
	}
	waitFor(t, "every delivery", func() bool { return len(rc.requests()) >= n })
	time.Sleep(200 * time.Millisecond) // a duplicate would come now
	stop()
	wg.Wait()
	seen := map[string]int{}
	for _, r := range rc.requests() {
		seen[r.header.Get(HeaderDelivery)]++
	}
	if len(rc.requests()) != n || len(seen) != n {
		t.Fatalf("%d requests for %d distinct deliveries, want %d each once", len(rc.requests()), len(seen), n)
	}
}
