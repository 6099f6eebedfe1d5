// Package web is callrec's HTTP surface: the REST API under /api/v1, audio streaming, the embedded
// web page, health and metrics. It is the only package that speaks HTTP.
package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
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
	// Metrics, when set, is served at /metrics (cmd mounts the Prometheus handler).
	Metrics http.Handler
	// RateLimit is the number of API requests one token may make per RateWindow
	// (default 1200); over it the API answers 429.
	RateLimit int
	// RateWindow is the rate limiter's window (default one minute).
	RateWindow time.Duration
	// BodyLimit is the largest request body in bytes (default 1 MiB); larger ones get 413.
	BodyLimit int

	app *fiber.App
	ln  net.Listener

	linkKey []byte // signs audio links (link.go)

	touchMu sync.Mutex
	touched map[string]time.Time // token id → last TouchToken
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
	if err := s.initLinkKey(); err != nil {
		ln.Close()
		return err
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

// newApp builds the Fiber app: recover, request id and request log around everything; under
// /api/v1 the Bearer authentication, then the per-token rate limit, then the routes.
func (s *Server) newApp() *fiber.App {
	if s.linkKey == nil {
		if err := s.initLinkKey(); err != nil {
			panic(err) // the system's random source failed: nothing can be signed safely
		}
	}
	bodyLimit := s.BodyLimit
	if bodyLimit <= 0 {
		bodyLimit = 1 << 20
	}
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           60 * time.Second,
		BodyLimit:             bodyLimit,
		ErrorHandler:          s.errorHandler,
		// Audio and archives are streamed: fasthttp must not buffer response bodies whole.
		StreamRequestBody: false,
	})
	app.Use(requestid.New())
	app.Use(s.logRequests)
	app.Use(recover.New(recover.Config{
		EnableStackTrace: true,
		StackTraceHandler: func(c *fiber.Ctx, e any) {
			s.Logger.Error().Str("request_id", requestID(c)).Interface("panic", e).
				Str("stack", string(debug.Stack())).Msg("handler panicked")
		},
	}))

	app.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	app.Get("/readyz", s.readyz)
	if s.Metrics != nil {
		app.Get("/metrics", adaptor.HTTPHandler(s.Metrics))
	}
	s.mountUI(app)

	api := app.Group("/api/v1")
	api.Get("/openapi.json", s.openAPI)
	s.mountAPI(api.Group("", s.authenticate, s.rateLimiter()))
	return app
}

// rateLimiter limits each token (authenticate runs first) to RateLimit requests per RateWindow.
func (s *Server) rateLimiter() fiber.Handler {
	max, window := s.RateLimit, s.RateWindow
	if max <= 0 {
		max = 1200
	}
	if window <= 0 {
		window = time.Minute
	}
	return limiter.New(limiter.Config{
		Max:          max,
		Expiration:   window,
		KeyGenerator: func(c *fiber.Ctx) string { return "token:" + caller(c).ID },
		LimitReached: func(c *fiber.Ctx) error { return fiber.ErrTooManyRequests },
	})
}

// mountAPI registers every authenticated route. openapi.json documents exactly these (a test
// compares both ways).
func (s *Server) mountAPI(r fiber.Router) {
	r.Get("/me", s.me)

	r.Get("/brands", s.listBrands)
	r.Post("/brands", s.createBrand)
	r.Get("/brands/:id", s.getBrand)
	r.Patch("/brands/:id", s.updateBrand)
	r.Delete("/brands/:id", s.deleteBrand)

	r.Get("/companies", s.listCompanies)
	r.Post("/companies", s.createCompany)
	r.Get("/companies/:id", s.getCompany)
	r.Patch("/companies/:id", s.updateCompany)
	r.Delete("/companies/:id", s.deleteCompany)

	r.Get("/ddis", s.listDDIs)
	r.Post("/ddis", s.createDDI)
	r.Get("/ddis/:id", s.getDDI)
	r.Patch("/ddis/:id", s.updateDDI)
	r.Delete("/ddis/:id", s.deleteDDI)

	r.Get("/users", s.listUsers)
	r.Post("/users", s.createUser)
	r.Get("/users/:id", s.getUser)
	r.Patch("/users/:id", s.updateUser)
	r.Delete("/users/:id", s.deleteUser)

	r.Get("/tokens", s.listTokens)
	r.Post("/tokens", s.createToken)
	r.Get("/tokens/:id", s.getToken)
	r.Delete("/tokens/:id", s.deleteToken)

	r.Get("/recordings", s.listRecordings)
	r.Get("/recordings/archive", s.archive)
	r.Get("/recordings/:id", s.getRecording)
	r.Delete("/recordings/:id", s.deleteRecording)
	r.Post("/recordings/:id/retry", s.retryRecording)
	r.Get("/recordings/:id/audio", s.audio)
	r.Get("/recordings/:id/link", s.audioLink)

	r.Get("/backup", s.backup)
}

// logRequests writes one zerolog line per request (never the Authorization header).
func (s *Server) logRequests(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		// Let the error handler write the reply now so the log shows the real status.
		if herr := c.App().ErrorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	status := c.Response().StatusCode()
	ev := s.Logger.Info()
	if status >= 500 {
		ev = s.Logger.Error()
	}
	ev = ev.Str("request_id", requestID(c)).Str("method", c.Method()).Str("path", c.Path()).
		Int("status", status).Dur("latency", time.Since(start)).Str("ip", c.IP())
	if p := caller(c); p != nil {
		ev = ev.Str("token_id", p.ID).Str("role", p.Role)
	}
	ev.Msg("http request")
	return nil
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
