package library

import (
	"context"
	"testing"

	"github.com/callrec/callrec/store"
)

// The largest retention_days and quota_mb the store accepts ("keep practically for ever") keep
// the recordings: days*24h overflowed int64 above 106751 days and quota<<20 above ~8.8e12 MB,
// turning "keep a lot" into "remove everything". Larger values are refused by the store.
func TestSweeperHugeRetentionOrQuotaKeepsRecordings(t *testing.T) {
	for _, tc := range []struct {
		name             string
		retention, quota int
	}{
		{"retention at the maximum", store.MaxRetentionDays, 0},
		{"quota at the maximum", 0, store.MaxQuotaMB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustOpenEnv(t)
			c := e.addCompany(t, "Huge", tc.retention, tc.quota)
			r := e.ready(t, c.ID, 1000)
			n, err := e.sweeper(nil).SweepOnce(context.Background())
			must(t, err)
			if n != 0 || gone(t, e, r.ID) {
				t.Fatalf("retention_days=%d quota_mb=%d: sweeper removed %d recording(s), a fresh one included", tc.retention, tc.quota, n)
			}
		})
	}
	for _, c := range []store.Company{
		{BrandID: "b", Name: "x", OnDemand: store.OnDemandDisabled, RetentionDays: 110000},
		{BrandID: "b", Name: "x", OnDemand: store.OnDemandDisabled, QuotaMB: 9_000_000_000_000},
	} {
		if err := c.Validate(); store.ErrorCode(err) != store.EINVALID {
			t.Errorf("retention %d / quota %d accepted by the store: %v", c.RetentionDays, c.QuotaMB, err)
		}
	}
}
