package postgres

import (
	"context"
	"crypto/rand"
	"fmt"
)

// SharedSecret returns the secret called name, creating it from size random bytes if no
// instance has yet: every instance gets the same bytes (web's link-signing key, so a signed
// link made by one instance is valid on all). A secret of another size is returned as
// stored. Errors: the random source's, the database's.
func (db *DB) SharedSecret(ctx context.Context, name string, size int) ([]byte, error) {
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("shared secret %s: %w", name, err)
	}
	return db.SharedValue(ctx, name, fresh)
}

// SharedValue returns the value called name, storing value under it if no instance has yet:
// the first instance's value is every instance's (cmd/callrec records the deployment's master
// key id so that an instance with another master key file refuses to start). Errors: the
// database's.
func (db *DB) SharedValue(ctx context.Context, name string, value []byte) ([]byte, error) {
	// ON CONFLICT DO NOTHING: of instances racing, the first insert wins and all read it.
	if _, err := db.pool.Exec(ctx, "INSERT INTO shared_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", name, value); err != nil {
		return nil, fmt.Errorf("shared value %s: %w", name, err)
	}
	var v []byte
	if err := db.pool.QueryRow(ctx, "SELECT value FROM shared_secrets WHERE name = $1", name).Scan(&v); err != nil {
		return nil, fmt.Errorf("shared value %s: %w", name, err)
	}
	return v, nil
}
