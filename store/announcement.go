package store

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/callrec/callrec/dialplan"
)

// DDIsWithInvalidAnnouncements returns the stored DDIs whose announcement the call path refuses
// (dialplan.CheckAnnouncement): rows an older version accepted. Their calls are not recorded, so
// serve names them at start. Anyone may call it; errors are the store's.
func (db *DB) DDIsWithInvalidAnnouncements(ctx context.Context) ([]*DDI, error) {
	var out []*DDI
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return forEachJSON(tx, bDDIs, func(d *DDI) error {
			if d.Announcement != "" && dialplan.CheckAnnouncement(d.Announcement) != nil {
				out = append(out, d)
			}
			return nil
		})
	})
	return out, err
}
