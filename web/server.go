// Package web is callrec's HTTP surface: the REST API under /api/v1, audio streaming, the embedded
// web page, health and metrics. It is the only package that speaks HTTP.
package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/callrec/callrec/health"
	"github.com/callrec/callrec/library"
	"github.com/callrec/callrec/objstore"
	"github.com/callrec/callrec/store"
)

// Server serves callrec's HTTP surface. Set the fields, then call Open; Shutdown drains it.
// A Server is used by one owner (cmd/callrec or a test); it is not reusable after Shutdown.
type Server struct {
	Addr   string      // host:port; port 0 picks a free port (see URL)
	DB     store.Store // the store of record: *store.DB or *postgres.DB
	Logger zerolog.Logger
	// Ready, when set, is consulted by /readyz in addition to the store.
	Ready func(ctx context.Context) error
	// RemoveFiles removes a deleted recording's files, only inside the library and spool
	// directories (cmd wires library.Sweeper.RemoveFiles); nil leaves them in place.
	RemoveFiles func(ctx context.Context, rec *store.Recording) error
	// Health, when set, is consulted by /readyz: every part down is named in the 503 answer.
	Health *health.Registry
	// Metrics, when set, is served at /metrics. Without MetricsToken only the series that
	// carry no tenant label (tenantLabels) are served, to anyone; with it, /metrics requires
	// `Authorization: Bearer <MetricsToken>` and serves every series (metrics.go).
	Metrics      prometheus.Gatherer
	MetricsToken string
	// HTTPMetrics, when set, counts and times every request (NewHTTPMetrics, metrics.go).
	HTTPMetrics *HTTPMetrics
	// RateLimit is the number of API requests one token may make per RateWindow
	// (default 1200); over it the API answers 429.
	RateLimit int
	// RateWindow is the rate limiter's window (default one minute).
	RateWindow time.Duration
	// BodyLimit is the largest request body in bytes (default 1 MiB); larger ones get 413.
	BodyLimit int
	// ReadHeaderTimeout bounds reading a request's headers (default 10 s): a client that sends
	// half a request is disconnected then. ReadTimeout bounds reading the body after them
	// (default 60 s); IdleTimeout a keep-alive connection's wait for its next request (60 s).
	ReadHeaderTimeout, ReadTimeout, IdleTimeout time.Duration
	// MaxConns caps the open connections in total (default 512), MaxConnsPerIP those of one
	// client IP (default 64); negative: no cap. A connection over a cap gets 503 and is closed.
	MaxConns, MaxConnsPerIP int
	// ArchiveLimit is the most recordings one archive holds (default 500), by ids or filter.
	ArchiveLimit int
	// AuthFailLimit is how many failed authentications one client address may make per
	// AuthFailWindow (defaults 30 per minute); over it every API request from that address gets
	// 429 before its token is looked at, until the window ends.
	AuthFailLimit  int
	AuthFailWindow time.Duration
	// Calls, when set, is the call controller behind GET /calls and POST /calls/{id}/recording
	// (cmd wires the esl.Server); without it no call is live.
	Calls CallController
	// Listener, when set, is served instead of listening on Addr (Open then owns it).
	Listener net.Listener
	// SigningKey signs every archive's manifest; its public half is GET /api/v1/signing-key
	// (cmd wires the data directory's key, LoadSigningKey). Nil: Open makes a key of this
	// process only, logged as a warning (archives then verify only against it).
	SigningKey *SigningKey
	// Keys opens the MP3s sealed at rest (companies with encrypt_at_rest) and rotates their
	// data keys and the master key (cmd wires library.LoadKeys). Nil: sealed recordings are not
	// served and the rotations fail (500).
	Keys *library.Keys
	// Objects is the object store of the recordings whose MP3 is an object (library.backend
	// s3; cmd wires objstore.New). Nil: only MP3s in library_dir are served.
	Objects objstore.Store
	// PresignAudio, when not zero, answers an inline playback of a clear MP3 kept in Objects
	// with a 302 to a pre-signed URL of the object that lives this long (library.presign_ttl),
	// after the audit entry; downloads, sealed and flagged recordings are streamed as always.
	PresignAudio time.Duration
	// IntegrityMetrics, when set, counts the served files that did not match their SHA-256.
	IntegrityMetrics *IntegrityMetrics
	// WebhookAllowHTTP lets webhooks use plain http:// URLs (config webhooks.allow_http);
	// otherwise only https:// is accepted.
	WebhookAllowHTTP bool
	// WebhookAllowPrivateNetworks accepts webhook URLs whose host is a loopback, private or
	// link-local IP (config webhooks.allow_private_networks).
	WebhookAllowPrivateNetworks bool

	app   *fiber.App
	ln    net.Listener
	guard *guardedListener // ln with the accept retry and the connection caps (listener.go)

	linkKey []byte // signs audio and archive links (link.go)
	// mediaOrigin is the origin of the pre-signed audio URLs (PresignAudio), allowed as a
	// media source by the page's Content-Security-Policy; "" without them.
	mediaOrigin string

	authFail *authFailures // failed authentications per client address (authlimit.go)

	touchMu sync.Mutex
	touched map[string]time.Time // token id → last TouchToken

	verified etagSet // ETags of files hashed in full and found matching (integrity.go)
	stillBad etagSet // ETags of files of rows marked mismatch, hashed again and still bad
}

// Open listens on Addr and starts serving in the background. It returns the listen error
// synchronously (an address in use is reported here, not later).
func (s *Server) Open() error {
	if s.DB == nil {
		return errors.New("web: Server.DB is required")
	}
	ln := s.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.Addr); err != nil {
			return fmt.Errorf("web: listen %s: %w", s.Addr, err)
		}
	}
	if err := s.initLinkKey(); err != nil {
		ln.Close()
		return err
	}
	if err := s.initMediaOrigin(); err != nil {
		ln.Close()
		return err
	}
	s.ln = ln
	s.app = s.newApp()
	s.guard = newGuardedListener(ln, orDefault(s.MaxConns, 512), orDefault(s.MaxConnsPerIP, 64), s.Logger)
	go func() {
		if err := s.app.Listener(s.guard); err != nil {
			s.Logger.Error().Err(err).Msg("http server stopped")
			if s.Health != nil { // fasthttp retries temporary accept errors itself; this one is final
				s.Health.Fatal(health.HTTP, err)
			}
		}
	}()
	return nil
}

// AcceptErr is the error the HTTP accept loop is failing with right now (EMFILE…; it retries
// with back-off), nil while it accepts. For the health registry: the HTTP side is degraded, not
// gone. Safe for concurrent use after Open.
func (s *Server) AcceptErr() error {
	if s.guard == nil {
		return nil
	}
	return s.guard.acceptErr()
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
	if s.SigningKey == nil {
		k, err := NewSigningKey()
		if err != nil {
			panic(err) // as for the link key
		}
		s.SigningKey = k
		s.Logger.Warn().Str("key_id", k.ID()).Msg("web: no signing key configured: archives are signed with a key of this process only")
	}
	bodyLimit := s.BodyLimit
	if bodyLimit <= 0 {
		bodyLimit = 1 << 20
	}
	readBody := orDefault(s.ReadTimeout, 60*time.Second)
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		// fasthttp's ReadTimeout runs from the start of a request; HeaderReceived below gives
		// the body its own deadline once the headers are in (fasthttp v1.51.0 server.go
		// serveConn: reqConf.ReadTimeout resets the read deadline after Header.Read).
		ReadTimeout:  orDefault(s.ReadHeaderTimeout, 10*time.Second),
		IdleTimeout:  orDefault(s.IdleTimeout, 60*time.Second),
		BodyLimit:    bodyLimit,
		ErrorHandler: s.errorHandler,
		// Audio and archives are streamed: fasthttp must not buffer response bodies whole.
		StreamRequestBody: false,
	})
	app.Server().HeaderReceived = func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
		return fasthttp.RequestConfig{ReadTimeout: readBody}
	}
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
		app.Get("/metrics", s.metricsHandler())
	}
	s.mountUI(app)

	api := app.Group("/api/v1")
	api.Get("/openapi.json", s.openAPI)
	api.Get("/signing-key", s.signingKey) // public, like openapi.json: the archive signing key's public half
	s.authFail = newAuthFailures(orDefault(s.AuthFailLimit, 30), orDefault(s.AuthFailWindow, time.Minute))
	s.mountAPI(api.Group("", s.limitAuthFailures, s.authenticate, s.rateLimiter()))
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
	r.Get("/companies/:id/keys", s.listDataKeys)
	r.Post("/companies/:id/keys/rotate", s.rotateDataKey)
	r.Post("/encryption/master/rotate", s.rotateMasterKey)
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
	r.Post("/recordings/archive", s.archiveByBody)
	r.Post("/recordings/archive/link", s.archiveLink)
	r.Get("/recordings/archive/:id", s.archiveByLink)
	r.Post("/recordings/delete", s.deleteRecordings)
	r.Get("/recordings/:id", s.getRecording)
	r.Delete("/recordings/:id", s.deleteRecording)
	r.Post("/recordings/:id/retry", s.retryRecording)
	r.Get("/recordings/:id/audio", s.audio)
	r.Get("/recordings/:id/link", s.audioLink)

	r.Get("/subjects/recordings", s.subjectList)
	r.Post("/subjects/archive/link", s.subjectArchiveLink)
	r.Post("/subjects/erase", s.subjectErase)

	r.Get("/audit", s.listAudit)
	r.Get("/audit/verify", s.verifyAudit)

	r.Get("/holds", s.listHolds)
	r.Post("/holds", s.placeHold)
	r.Get("/holds/:id", s.getHold)
	r.Post("/holds/:id/release", s.releaseHold)

	r.Get("/calls", s.listCalls)
	r.Post("/calls/:id/recording", s.controlCall)
	r.Get("/webhooks", s.listWebhooks)
	r.Post("/webhooks", s.createWebhook)
	r.Get("/webhooks/:id", s.getWebhook)
	r.Patch("/webhooks/:id", s.updateWebhook)
	r.Delete("/webhooks/:id", s.deleteWebhook)
	r.Get("/webhooks/:id/deliveries", s.webhookDeliveries)
	r.Post("/webhooks/:id/test", s.testWebhook)

	r.Get("/backup", s.backup)
}

// logRequests writes one zerolog line per request (never the Authorization header) and
// observes HTTPMetrics. Health probes (/healthz, /readyz) are logged at debug only: a prober
// calls them every few seconds, and a part that is down logs its own reason.
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
	elapsed := time.Since(start)
	if s.HTTPMetrics != nil {
		s.HTTPMetrics.observe(c.Method(), routePattern(c), status, elapsed)
	}
	if quiet, _ := c.Locals(localsQuiet).(bool); quiet {
		return nil // a refused authentication beyond the logged sample (authlimit.go)
	}
	probe := c.Path() == "/healthz" || c.Path() == "/readyz"
	var ev *zerolog.Event
	switch {
	case status == fiber.StatusInternalServerError || (status >= 500 && !probe):
		ev = s.Logger.Error()
	case probe:
		ev = s.Logger.Debug() // a 503 from /readyz too: the part that is down logs its reason
	default:
		ev = s.Logger.Info()
	}
	ev = ev.Str("request_id", requestID(c)).Str("method", c.Method()).Str("path", c.Path()).
		Int("status", status).Dur("latency", elapsed).Str("ip", c.IP())
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
	if s.Health != nil {
		if down := s.Health.Problems(); len(down) > 0 {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "not ready", "down": down})
		}
	}
	if s.Ready != nil {
		if err := s.Ready(ctx); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": err.Error()})
		}
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

// orDefault is v, or def when v is zero; a negative v (no limit) is 0.
func orDefault[T int | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}
