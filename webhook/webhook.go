// Package webhook delivers the store's webhook deliveries (recording.ready, .failed,
// .discarded, .missing and ping) to the companies' HTTPS endpoints: a few workers claim due
// deliveries from the durable queue (store.ClaimDelivery), POST the stored JSON body signed with
// the webhook's secret (Callrec-Signature, see Sign), and record the outcome — delivered on 2xx,
// else retried with exponential back-off and jitter until MaxAttempts, then failed. A receiver
// can never hurt callrec: answers are read to at most a few KB within Timeout, redirects are not
// followed, and, unless AllowPrivateNetworks, no connection is made to a loopback, private,
// link-local, multicast or unspecified address (checked at connect time, after DNS).
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/store"
)

// HealthPart is the part name the dispatcher reports under in the health registry.
const HealthPart = "webhook_dispatcher"

// Header names of every delivery.
const (
	HeaderEvent     = "Callrec-Event"
	HeaderDelivery  = "Callrec-Delivery"
	HeaderSignature = "Callrec-Signature"
)

// Defaults of Dispatcher's zero fields.
const (
	DefaultWorkers     = 4
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 10
	DefaultBackoffBase = 30 * time.Second
	DefaultBackoffMax  = 6 * time.Hour
	DefaultPoll        = time.Second
	// MaxResponseRead is how much of a receiver's answer is read before the connection closes.
	MaxResponseRead = 4 << 10
	// SignatureTolerance is the replay window a receiver should allow (Verify's default).
	SignatureTolerance = 5 * time.Minute
)

// Outbox is what the dispatcher needs of the store: the durable delivery queue. *store.DB (the
// embedded store) and *postgres.DB (shared by several instances: each delivery claimed by one,
// with SKIP LOCKED) both satisfy it.
type Outbox interface {
	ClaimDelivery(ctx context.Context, lease time.Duration) (*store.Delivery, *store.Webhook, error)
	DeliveryDone(ctx context.Context, id string, o store.DeliveryOutcome) error
	PruneDeliveries(ctx context.Context, before time.Time, limit int) (int, error)
}

// leaseReleaser is a store one process owns: the delivery leases it holds at start are a dead
// process's. A shared store's leases belong to live instances too; a dead one's expire.
type leaseReleaser interface {
	ReleaseDeliveryLeases(ctx context.Context) (int, error)
}

// Dispatcher sends the webhook deliveries of DB. Set the fields, then call Run once; the zero
// values of the optional fields are the defaults above.
type Dispatcher struct {
	DB     Outbox
	Logger zerolog.Logger
	// Workers is how many deliveries are sent at once (default 4).
	Workers int
	// Timeout bounds one attempt: connect, TLS, request and reading the answer (default 10 s).
	Timeout time.Duration
	// MaxAttempts is how many attempts a delivery gets before it fails (default 10).
	MaxAttempts int
	// BackoffBase and BackoffMax shape the default back-off: base × 3^(attempt-1), at most max,
	// ±20 % jitter (30 s, 90 s, 4.5 min … 6 h: 10 attempts span about 21 hours).
	BackoffBase, BackoffMax time.Duration
	// Backoff, when set, replaces the default back-off: the wait after failed attempt n (1…).
	Backoff func(attempt int) time.Duration
	// Poll is how often an idle worker looks for due deliveries (default 1 s).
	Poll time.Duration
	// AllowPrivateNetworks lets deliveries connect to loopback, private and link-local
	// addresses (tests, receivers on the same LAN). Off, they are refused at connect time.
	AllowPrivateNetworks bool
	// Retention is how long deliveries are kept (default store.DeliveryRetention); older ones
	// are pruned hourly.
	Retention time.Duration
	// Now is the clock of signatures and back-off (default time.Now); the store has its own.
	Now func() time.Time
	// Health, when set, is told when the dispatcher itself cannot work (the store fails) and
	// when it works again (nil). A failing receiver is never reported.
	Health func(err error)
	// Client, when set, sends the requests (tests); else one is built with the SSRF guard.
	Client *http.Client
}

type runConfig struct {
	workers, maxAttempts int
	timeout, poll, lease time.Duration
	backoff              func(int) time.Duration
	now                  func() time.Time
	client               *http.Client
	retention            time.Duration
}

func (d *Dispatcher) config() (runConfig, error) {
	if d.DB == nil {
		return runConfig{}, errors.New("webhook: Dispatcher.DB is required")
	}
	c := runConfig{workers: d.Workers, maxAttempts: d.MaxAttempts, timeout: d.Timeout, poll: d.Poll,
		backoff: d.Backoff, now: d.Now, client: d.Client, retention: d.Retention}
	if c.workers <= 0 {
		c.workers = DefaultWorkers
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = DefaultMaxAttempts
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.poll <= 0 {
		c.poll = DefaultPoll
	}
	if c.retention <= 0 {
		c.retention = store.DeliveryRetention
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.backoff == nil {
		base, mx := d.BackoffBase, d.BackoffMax
		if base <= 0 {
			base = DefaultBackoffBase
		}
		if mx <= 0 {
			mx = DefaultBackoffMax
		}
		c.backoff = func(n int) time.Duration { return Jitter(ExpBackoff(base, mx, n)) }
	}
	if c.client == nil {
		c.client = NewClient(c.timeout, d.AllowPrivateNetworks)
	}
	c.lease = 2*c.timeout + 30*time.Second // an attempt never outlives its lease
	return c, nil
}

// ExpBackoff is base × 3^(attempt-1), capped at mx. Anyone may call it.
func ExpBackoff(base, mx time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < mx; i++ {
		d *= 3
	}
	return min(d, mx)
}

// Jitter spreads d by ±20 %, so receivers that were down do not get every retry at once.
func Jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// Run sends deliveries until ctx ends, and prunes those older than Retention every hour. It
// returns when every worker has stopped; the error is only for a Dispatcher that cannot start
// (no DB). Errors of the store and of receivers are logged and retried, never returned.
func (d *Dispatcher) Run(ctx context.Context) error {
	c, err := d.config()
	if err != nil {
		return err
	}
	// Attempts a killed process left under way are made again now, not when their lease ends
	// (on a store this process owns; a shared store's leases are other instances' too).
	if rl, ok := d.DB.(leaseReleaser); ok {
		if n, err := rl.ReleaseDeliveryLeases(ctx); err != nil {
			d.Logger.Error().Err(err).Msg("webhook: releasing the leases of a previous run failed; they end by themselves")
		} else if n > 0 {
			d.Logger.Info().Int("deliveries", n).Str("decision", "leases_released").Msg("webhook: attempts of a previous run will be made again")
		}
	}
	var wg sync.WaitGroup
	for range c.workers {
		wg.Go(func() { d.loop(ctx, c) })
	}
	wg.Go(func() { d.pruneLoop(ctx, c) })
	wg.Wait()
	return nil
}

// loop claims and sends deliveries until ctx ends, sleeping Poll when none is due.
func (d *Dispatcher) loop(ctx context.Context, c runConfig) {
	timer := time.NewTimer(c.poll)
	defer timer.Stop()
	for ctx.Err() == nil {
		did, err := d.step(ctx, c)
		if err != nil && ctx.Err() == nil {
			d.Logger.Error().Err(err).Str("decision", "claim_failed").Msg("webhook: claiming a delivery failed")
			if d.Health != nil {
				d.Health(fmt.Errorf("webhook deliveries: %w", err))
			}
		} else if err == nil && d.Health != nil {
			d.Health(nil)
		}
		if did && err == nil {
			continue
		}
		timer.Reset(c.poll)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// step claims one delivery and sends it, reporting whether one was claimed; the error is the
// store's (a receiver's failure is an outcome, not an error).
func (d *Dispatcher) step(ctx context.Context, c runConfig) (bool, error) {
	dl, hook, err := d.DB.ClaimDelivery(ctx, c.lease)
	if store.ErrorCode(err) == store.ENOTFOUND {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	status, sendErr := Send(ctx, c.client, c.timeout, hook, dl, c.now())
	out := store.DeliveryOutcome{Delivered: sendErr == nil, Status: status}
	decision := "delivered"
	if sendErr != nil {
		out.Error = sendErr.Error()
		decision = "failed"
		if dl.Attempts < c.maxAttempts {
			out.RetryAt = c.now().Add(c.backoff(dl.Attempts))
			decision = "retry"
		}
	}
	if ctx.Err() != nil && sendErr != nil {
		return true, nil // shutting down mid-attempt: the lease ends and the attempt is made again
	}
	ev := d.Logger.Info()
	if decision != "delivered" {
		ev = d.Logger.Warn().Str("error", out.Error)
	}
	ev.Str("delivery", dl.ID).Str("webhook", hook.ID).Str("company", dl.CompanyID).Str("event", dl.Event).
		Str("call_id", dl.CallID).Int("attempt", dl.Attempts).Int("status", status).Str("decision", decision).
		Msg("webhook delivery")
	if err := d.DB.DeliveryDone(context.WithoutCancel(ctx), dl.ID, out); err != nil && store.ErrorCode(err) != store.ENOTFOUND {
		return true, err
	}
	return true, nil
}

// pruneLoop removes deliveries older than the retention, at start and hourly.
func (d *Dispatcher) pruneLoop(ctx context.Context, c runConfig) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		for ctx.Err() == nil {
			n, err := d.DB.PruneDeliveries(ctx, c.now().Add(-c.retention), 1000)
			if err != nil {
				if ctx.Err() == nil {
					d.Logger.Error().Err(err).Msg("webhook: pruning old deliveries failed")
				}
				break
			}
			if n > 0 {
				d.Logger.Info().Int("deliveries", n).Str("decision", "pruned").Msg("webhook: old deliveries removed")
			}
			if n < 1000 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Send makes one attempt at delivery dl to hook: POST of the stored body with the event,
// delivery and signature headers (signed at now), within timeout. It returns the HTTP status
// (0 when there was no answer) and nil for a 2xx answer, else why not (short: no body). At most
// MaxResponseRead bytes of the answer are read. Anyone may call it.
func Send(ctx context.Context, client *http.Client, timeout time.Duration, hook *store.Webhook, dl *store.Delivery, now time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, strings.NewReader(string(dl.Payload)))
	if err != nil {
		return 0, fmt.Errorf("bad url: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "callrec-webhook/1")
	req.Header.Set(HeaderEvent, dl.Event)
	req.Header.Set(HeaderDelivery, dl.ID)
	req.Header.Set(HeaderSignature, Sign(hook.Secret, now, dl.Payload))
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // drop "Post <url>:": the URL is the tenant's own and may be long
			err = ue.Err
		}
		if ctx.Err() == context.DeadlineExceeded {
			return 0, fmt.Errorf("timeout after %s", timeout)
		}
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponseRead)) // a little, for keep-alive; never a dump
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// Sign returns the Callrec-Signature value of body signed with secret at t:
// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. Anyone may call it.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors of Verify.
var (
	ErrBadSignature = errors.New("webhook: signature does not match")
	ErrStale        = errors.New("webhook: signature timestamp outside the tolerance")
)

// Verify checks a Callrec-Signature header value against body as a receiver does: some v1
// equals HMAC-SHA256(secret, "<t>.<body>") (compared in constant time), and t lies within
// tolerance of now (0: SignatureTolerance), so a captured request cannot be replayed later.
// Errors: ErrBadSignature (malformed or wrong), ErrStale.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = SignatureTolerance
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrBadSignature
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		ok = ok || hmac.Equal(s, want)
	}
	if !ok {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}

// NewClient returns the HTTP client deliveries use: timeout for the whole attempt, no proxy
// from the environment, no redirects followed (a 3xx is a failed attempt), and, unless
// allowPrivate, a dialer that refuses non-public addresses at connect time.
func NewClient(timeout time.Duration, allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		// Control runs after DNS, on the address actually dialled, so a name that resolves to
		// a private address (DNS rebinding included) is refused like a literal one.
		dialer.Control = refusePrivate
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			MaxIdleConns:          16,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
			DisableCompression:    true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// ErrRefusedAddress is returned (wrapped) for a connection to a non-public address.
var ErrRefusedAddress = errors.New("address not allowed")

// refusePrivate is the dialer's Control: address is the IP:port about to be connected.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrRefusedAddress, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrRefusedAddress, host)
	}
	if why := NonPublic(ip); why != "" {
		return fmt.Errorf("%w: %s is %s (webhooks.allow_private_networks is off)", ErrRefusedAddress, ip, why)
	}
	return nil
}

// cgnat is the shared address space of RFC 6598, not reachable from the internet either.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// NonPublic says why ip is no public unicast address ("" when it is one): loopback, private
// (RFC 1918, fc00::/7), shared (100.64/10), link-local (169.254/16 with the cloud metadata
// address, fe80::/10), multicast or unspecified. IPv4-mapped IPv6 addresses are judged as IPv4.
func NonPublic(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "invalid"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate(), cgnat.Contains(ip):
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	case ip.Is4() && ip.As4()[0] == 0: // 0.0.0.0/8 reaches this host on Linux
		return "unspecified"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	return ""
}
