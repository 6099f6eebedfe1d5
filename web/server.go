// Package web is callrec's HTTP surface: the REST API under /api/v1, audio streaming, the embedded
// web page, health and metrics. It is the only package that speaks HTTP.
package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/callrec/callrec/store"
)

// Server serves callrec's HTTP surface. Set the fields, then call Open; Shutdown drains it.
// A Server is used by one owner (cmd/callrec or a test); it is not reusable after Shutdown.
type Server struct {
	Addr   string    // host:port; port 0 picks a free port (see URL)
	DB     *store.DB // the store of record
	Logger zerolog.Logger
	// Ready, when set, is consulted by /readyz in addition to the store.
	Ready func(ctx context.Context) error

	app *fiber.App
	ln  net.Listener
}

// Open listens on Addr and starts serving in the background. It returns the listen error
// synchronously (an address in use is reported here, not later).
func (s *Server) Open() error {
	if s.DB == nil {
		return errors.New("web: Server.DB is required")
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("web: listen %s: %w", s.Addr, err)
	}
	s.ln = ln
	s.app = s.newApp()
	go func() {
		if err := s.app.Listener(ln); err != nil {
			s.Logger.Error().Err(err).Msg("http server stopped")
		}
	}()
	return nil
}

// URL is the base URL the server listens on, valid after Open.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Shutdown stops accepting requests and waits for running ones until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.app == nil {
		return nil
	}
	return s.app.ShutdownWithContext(ctx)
}

func (s *Server) newApp() *fiber.App {
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           60 * time.Second,
		BodyLimit:             1 << 20,
	})
	app.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	app.Get("/readyz", s.readyz)
	return app
}

// readyz answers 200 when the store answers and the optional Ready hook agrees, else 503.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if _, err := s.DB.HasPlatformToken(ctx); err != nil {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "store unavailable"})
	}
	if s.Ready != nil {
		if err := s.Ready(ctx); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": err.Error()})
		}
	}
	return c.JSON(fiber.Map{"status": "ready"})
}
