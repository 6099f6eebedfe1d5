package web

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// clientFrom is newClient whose connections leave from the loopback address src.
func clientFrom(t *testing.T, s *Server, src, token string) *client {
	c := newClient(t, s, token)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c.hc.Transport = &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
	return c
}

// syncBuffer is a log sink the server's goroutines may write concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// Issue 12 item 12: failed authentications were never limited (1,300 guesses a second from one
// client, each one logged). After AuthFailLimit failures in a window a client address gets 429
// before any token is looked at, other addresses are untouched, and the log keeps a sample.
func TestAuthFailures_LimitedPerClientAddressAndSampledInTheLog(t *testing.T) {
	db := MustOpenStore(t)
	good := mustToken(t, db, store.Token{Role: store.RolePlatform})
	var logs syncBuffer
	s := MustServe(t, db, func(s *Server) {
		s.AuthFailLimit, s.AuthFailWindow = 5, time.Hour
		s.Logger = zerologTo(&logs)
	})
	guesser := clientFrom(t, s, "127.0.0.1", "guess")
	for i := range 5 {
		if resp, b := guesser.do("GET", "/api/v1/me", nil); resp.StatusCode != 401 {
			t.Fatalf("guess %d: %d %s, want 401", i+1, resp.StatusCode, b)
		}
	}
	const more = 50
	for i := range more {
		resp, b := guesser.do("GET", "/api/v1/me", nil)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("guess %d over the limit: %d %s, want 429", 6+i, resp.StatusCode, b)
		}
		if e := apiErr(t, b); e.Code != codeRateLimited {
			t.Fatalf("429 body %+v", e)
		}
	}
	if resp, b := clientFrom(t, s, "127.0.0.1", good).do("GET", "/api/v1/me", nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a blocked address with a good token: %d %s, want 429 (the limit runs before authentication)", resp.StatusCode, b)
	}
	if resp, b := clientFrom(t, s, "127.0.0.2", good).do("GET", "/api/v1/me", nil); resp.StatusCode != 200 {
		t.Errorf("another address with a good token: %d %s, want 200", resp.StatusCode, b)
	}
	if resp, b := clientFrom(t, s, "127.0.0.2", "guess").do("GET", "/api/v1/me", nil); resp.StatusCode != 401 {
		t.Errorf("another address's first bad guess: %d %s, want 401", resp.StatusCode, b)
	}
	lines := 0
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"ip":"127.0.0.1"`) && (strings.Contains(l, `"status":401`) || strings.Contains(l, `"status":429`)) {
			lines++
		}
	}
	if lines == 0 || lines > 10 {
		t.Errorf("%d log lines for 56 refused requests of one address, want a sample (1..10)", lines)
	}
	if !strings.Contains(logs.String(), `"decision":"blocked"`) {
		t.Errorf("no log line says the address was blocked:\n%s", logs.String())
	}
}
