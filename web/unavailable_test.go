package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/callrec/callrec/store"
)

// TestErrorStatus_ABackendThatDoesNotAnswerIs503: the errors of a database or object store
// that is down or unreachable (as pgx and the S3 client wrap them) are 503 unavailable, which a
// client may retry; a bug or a broken file stays 500, a refusal keeps its own status.
func TestErrorStatus_ABackendThatDoesNotAnswerIs503(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	for _, c := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"connection refused", fmt.Errorf("list recordings: failed to connect to `host=db`: %w", refused), fiber.StatusServiceUnavailable, codeUnavailable},
		{"cut mid-answer", fmt.Errorf("create ddi: %w", io.ErrUnexpectedEOF), fiber.StatusServiceUnavailable, codeUnavailable},
		{"deadline", fmt.Errorf("recording: %w", context.DeadlineExceeded), fiber.StatusServiceUnavailable, codeUnavailable},
		{"row pending", fmt.Errorf("x: %w", store.ErrCommitPending), fiber.StatusServiceUnavailable, codeUnavailable},
		{"anything else", errors.New("decode row: bad json"), fiber.StatusInternalServerError, store.EINTERNAL},
		{"a refusal", store.Invalid("number", "bad"), fiber.StatusBadRequest, store.EINVALID},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, d := errorStatus(c.err)
			if status != c.status || d.Code != c.code {
				t.Fatalf("errorStatus(%v) = %d %q, want %d %q", c.err, status, d.Code, c.status, c.code)
			}
		})
	}
}
