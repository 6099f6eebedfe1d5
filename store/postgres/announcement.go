package postgres

import (
	"context"
	"fmt"

	"github.com/callrec/callrec/dialplan"
	"github.com/callrec/callrec/store"
)

// DDIsWithInvalidAnnouncements returns the stored DDIs whose announcement the call path refuses
// (dialplan.CheckAnnouncement): rows an older version accepted, by id, as
// store.DB.DDIsWithInvalidAnnouncements. Their calls are not recorded, so serve names them at
// start. Anyone may call it; nil when there are none. Errors: the database's.
func (db *DB) DDIsWithInvalidAnnouncements(ctx context.Context) ([]*store.DDI, error) {
	withAnn, err := queryAll(ctx, db, "SELECT "+ddiColumns+" FROM ddis WHERE announcement <> '' ORDER BY id", scanDDI)
	if err != nil {
		return nil, fmt.Errorf("DDIs with invalid announcements: %w", err)
	}
	var out []*store.DDI
	for _, d := range withAnn {
		if dialplan.CheckAnnouncement(d.Announcement) != nil {
			out = append(out, d)
		}
	}
	return out, nil
}
