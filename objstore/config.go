package objstore

import (
	"context"
	"fmt"
	"time"
)

// Backend names Config.Backend accepts.
const (
	BackendDir = "dir"
	BackendS3  = "s3"
)

// Config selects and configures a library backend, one field per configuration key (library.backend,
// library.s3.*). The zero value is the default: a Dir.
type Config struct {
	// Backend is "dir" (the default, also when empty) or "s3".
	Backend string `koanf:"backend"`
	// S3 configures the "s3" backend; ignored for "dir".
	S3 S3Config `koanf:"s3"`
	// PresignTTL, when not zero (s3 only), is how long the pre-signed URL lives that callrec's
	// API answers a playback with (a 302 to the object itself, so the audio bytes do not pass
	// through callrec). Zero: callrec streams every byte. Read by cmd and the web server, not by
	// the store.
	PresignTTL time.Duration `koanf:"presign_ttl"`
}

// New returns the Store cfg names: a Dir over dir (which must exist) or an S3 from cfg.S3.
// cmd wires it once at start-up. Errors: an unknown backend, or NewS3's.
func New(ctx context.Context, cfg Config, dir string) (Store, error) {
	switch cfg.Backend {
	case "", BackendDir:
		if dir == "" {
			return nil, fmt.Errorf("library backend %q: no directory", BackendDir)
		}
		return &Dir{Root: dir}, nil
	case BackendS3:
		s, err := NewS3(ctx, cfg.S3)
		if err != nil {
			return nil, fmt.Errorf("library backend %q: %w", BackendS3, err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("library backend %q: want %q or %q", cfg.Backend, BackendDir, BackendS3)
	}
}
