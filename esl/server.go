// Package esl is callrec's FreeSWITCH adapter: the outbound Event Socket server every call is
// handed to, one Session per call that applies the policy of package dialplan, the recording
// control, and the inbound connections to the FreeSWITCH nodes. It is the only package that
// speaks to FreeSWITCH. The FreeSWITCH behaviour it relies on is in docs/freeswitch/
// (REFERENCE.md, FAILOPEN.md, ESLGO.md, traces/), cited where used.
package esl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/percipia/eslgo"
	"github.com/rs/zerolog"

	"github.com/callrec/callrec/store"
)

// Server is the outbound Event Socket server. Set the fields, then call Open. Close stops taking
// calls and releases live ones to FreeSWITCH: after `socket_resume false` and `uuid_transfer`
// their bridges survive the close (FAILOPEN.md exp 5a), and the recordings finish through the
// inbound node connections or the start-up reconcile.
type Server struct {
	Addr   string    // host:port; port 0 picks a free port (see BoundAddr)
	DB     *store.DB // rules snapshot and recording rows
	Logger zerolog.Logger

	SpoolDir        string // directory FreeSWITCH writes automatic and DTMF/transfer recordings into (required; made absolute by Open)
	OnDemandPath    string // the sofia profile's record-path (Record key recordings land here; made absolute by Open)
	RouteContext    string // context calls are handed on to; "" = the call's own context
	TransferContext string // context of the on-demand code extensions
	DefaultCountry  string // for national numbers
	Tone            string // start/stop tone of on-demand recordings; "" = none

	// UserContext is the users' context when a call's own is not known yet (an inbound call
	// before its user leg is bridged): ordinary blind transfers continue there, through the
	// transfer context's catch-all and continueTransfer (dialplan.VarUserContext; a leg's own
	// callrec_user_context wins). Default "default", FreeSWITCH's stock user context.
	UserContext string

	CommandTimeout time.Duration // per FreeSWITCH command (default 5 s)
	PlanDeadline   time.Duration // connect → call handed on, else the socket is closed (default 2 s)
	EventWindow    time.Duration // re-ordering window for events (default 10 ms)
	HangupDrain    time.Duration // after hangup, wait this long for RECORD_STOP (default 3 s)
	Heartbeat      time.Duration // idle time before a liveness probe (default 60 s)
	// ReattachTimeout is how long a Session whose connection was lost keeps trying to follow
	// its call through the node (default 2 min; an `api reload mod_event_socket` keeps the
	// node's listener down for about 20 s).
	ReattachTimeout time.Duration

	Metrics *Metrics // optional
	// OnFinished, when set, is called after a recording was queued for the audio worker.
	OnFinished func()

	ctx      context.Context
	cancel   context.CancelFunc
	bound    string
	mu       sync.Mutex // orders Drain before sessions.Wait against sessions.Add
	draining atomic.Bool
	sessions sync.WaitGroup
	live     sync.Map // leg uuid → *Session
	liveN    atomic.Int64

	nodesMu sync.Mutex
	nodes   []*Node // the nodes that re-adopt calls for this Server (Node.Calls)
}

// Open starts listening. eslgo owns the listener and cannot report its port (ESLGO.md), so a
// port-0 address is resolved first; Open returns once the listener accepts connections.
// SpoolDir and OnDemandPath are made absolute and clean first (FreeSWITCH would put its own
// prefix before a relative path); errors: no DB or SpoolDir, a path that cannot be made
// absolute, or the listener.
func (s *Server) Open() error {
	if s.DB == nil {
		return errors.New("esl: Server.DB is required")
	}
	var err error
	if s.SpoolDir, err = absPath("Server.SpoolDir", s.SpoolDir, true); err != nil {
		return err
	}
	if s.OnDemandPath, err = absPath("Server.OnDemandPath", s.OnDemandPath, false); err != nil {
		return err
	}
	s.setDefaults()
	addr := s.Addr
	if host, port, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("esl: listen address %q: %w", addr, err)
	} else if port == "0" {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return fmt.Errorf("esl: listen %s: %w", addr, err)
		}
		addr = ln.Addr().String()
		ln.Close()
	}
	s.bound = addr
	s.ctx, s.cancel = context.WithCancel(context.Background())
	opts := eslgo.OutboundOptions{
		Options:         eslgo.Options{Context: s.ctx, Logger: eslLogger{s.Logger}, ExitTimeout: s.CommandTimeout},
		Network:         "tcp",
		ConnectTimeout:  s.CommandTimeout,
		ConnectionDelay: 25 * time.Millisecond,
	}
	errc := make(chan error, 1)
	go func() { errc <- opts.ListenAndServe(addr, s.handle) }()
	deadline := time.Now().Add(2 * time.Second)
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("esl: listen %s: %w", addr, err)
		default:
		}
		if err := probeListener(addr); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("esl: listener on %s did not come up", addr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// probeHeader marks the connect reply of probeListener, so handle ignores that connection.
const probeHeader = "X-Callrec-Probe"

// probeListener checks that the eslgo listener accepts by playing a whole (fake) FreeSWITCH
// handshake. eslgo v1.5.2's disconnect watcher (dummyLoop) reads Conn.responseChannels without the
// mutex close() holds while deleting from it; only a disconnect notice received before the close
// orders the two (the race detector reports every other close). So the probe answers `connect`,
// sends a disconnect notice, and lets eslgo close.
func probeListener(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(c)
	if err := readPacket(r); err != nil { // connect
		return err
	}
	if _, err := c.Write([]byte("Content-Type: command/reply\nReply-Text: +OK\n" + probeHeader + ": true\n\n")); err != nil {
		return err
	}
	if _, err := c.Write([]byte("Content-Type: text/disconnect-notice\nContent-Disposition: disconnect\nContent-Length: 0\n\n")); err != nil {
		return err
	}
	// eslgo now closes the connection (on the notice, or after `exit`); wait for that, so the
	// close is always eslgo's own.
	_, _ = io.Copy(io.Discard, r)
	return nil
}

// readPacket reads one command packet (up to a blank line).
func readPacket(r *bufio.Reader) error {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.TrimRight(line, "\r\n") == "" {
			return nil
		}
	}
}

func (s *Server) setDefaults() {
	if s.CommandTimeout <= 0 {
		s.CommandTimeout = 5 * time.Second
	}
	if s.PlanDeadline <= 0 {
		s.PlanDeadline = 2 * time.Second
	}
	if s.EventWindow <= 0 {
		s.EventWindow = 10 * time.Millisecond
	}
	if s.HangupDrain <= 0 {
		s.HangupDrain = 3 * time.Second
	}
	if s.Heartbeat <= 0 {
		s.Heartbeat = 60 * time.Second
	}
	if s.UserContext == "" {
		s.UserContext = "default" // FreeSWITCH's stock user context, freeswitch.user_context's default
	}
	if s.ReattachTimeout <= 0 {
		s.ReattachTimeout = 2 * time.Minute
	}
}

// lifetime is the Server's context: it ends with Close. Sessions follow their calls within it.
func (s *Server) lifetime() context.Context { return s.ctx }

// addNode and removeNode keep the nodes a Session can re-attach through (Node.Run).
func (s *Server) addNode(n *Node) {
	s.nodesMu.Lock()
	s.nodes = append(s.nodes, n)
	s.nodesMu.Unlock()
}

func (s *Server) removeNode(n *Node) {
	s.nodesMu.Lock()
	defer s.nodesMu.Unlock()
	for i, x := range s.nodes {
		if x == n {
			s.nodes = append(s.nodes[:i], s.nodes[i+1:]...)
			return
		}
	}
}

func (s *Server) nodeList() []*Node {
	s.nodesMu.Lock()
	defer s.nodesMu.Unlock()
	return append([]*Node(nil), s.nodes...)
}

// canReattach reports whether a Session that loses its connection can follow its call again.
func (s *Server) canReattach() bool { return len(s.nodeList()) > 0 }

// lingerFor is the `linger` a new Session asks for (see reattachLinger).
func (s *Server) lingerFor() int {
	if s.canReattach() {
		return reattachLinger
	}
	return lingerSeconds
}

// nodeFor picks the node a call lives on: home when it is still a node of this Server, else the
// node whose FreeSWITCH has the call's Core-UUID, else the only node, else the first node whose
// FreeSWITCH knows the leg (uuid_exists on its connection). nil when none does.
func (s *Server) nodeFor(ctx context.Context, home *Node, coreUUID, leg string) *Node {
	nodes := s.nodeList()
	for _, n := range nodes {
		if n == home {
			return n
		}
	}
	if coreUUID != "" {
		for _, n := range nodes {
			if n.core() == coreUUID {
				return n
			}
		}
	}
	if len(nodes) == 1 {
		return nodes[0]
	}
	for _, n := range nodes {
		if out, err := n.api(ctx, "uuid_exists", leg); err == nil && out == "true" {
			return n
		}
	}
	return nil
}

// BoundAddr is the address FreeSWITCH should connect to, valid after Open.
func (s *Server) BoundAddr() string { return s.bound }

// LiveSessions is the number of calls currently followed.
func (s *Server) LiveSessions() int { return int(s.liveN.Load()) }

// Drain stops taking new calls: a new connection is closed right after `connect`, and
// FreeSWITCH runs the dialplan's fallback about 20 ms later (FAILOPEN.md exp 3).
func (s *Server) Drain() {
	s.mu.Lock()
	s.draining.Store(true)
	s.mu.Unlock()
}

// Close drains, then closes every live connection and waits for the sessions to end, at most
// until ctx ends. Live calls keep running on FreeSWITCH.
func (s *Server) Close(ctx context.Context) error {
	s.Drain()
	if s.cancel != nil {
		s.cancel()
	}
	done := make(chan struct{})
	go func() { s.sessions.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("esl: sessions still running: %w", ctx.Err())
	}
}

// handle is eslgo's outbound handler: it runs one Session for the connection. eslgo sends `exit`
// and closes the connection when it returns.
func (s *Server) handle(ctx context.Context, conn *eslgo.Conn, connect *eslgo.RawResponse) {
	if connect.GetHeader(probeHeader) == "true" {
		return
	}
	// Add under the same lock Close takes before Wait: a WaitGroup must not grow while waited on.
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.sessions.Add(1)
	s.mu.Unlock()
	defer s.sessions.Done()
	s.liveN.Add(1)
	defer s.liveN.Add(-1)
	if s.Metrics != nil {
		s.Metrics.LiveSessions.Inc()
		defer s.Metrics.LiveSessions.Dec()
	}
	sess := newSession(s, conn, connect)
	sess.run(ctx)
}

// register makes a leg findable by other sessions (the frustrated-transfer connection looks up
// the transferor's session); unregister removes it.
func (s *Server) register(leg string, sess *Session) { s.live.Store(leg, sess) }
func (s *Server) unregister(leg string, sess *Session) {
	s.live.CompareAndDelete(leg, sess)
}

func (s *Server) sessionOf(leg string) *Session {
	v, ok := s.live.Load(leg)
	if !ok {
		return nil
	}
	return v.(*Session)
}

// eslLogger sends eslgo's own messages to zerolog at debug level (its warnings are routine:
// every hangup logs an EOF).
type eslLogger struct{ log zerolog.Logger }

func (l eslLogger) Debug(format string, args ...any) { l.log.Debug().Msgf("eslgo: "+format, args...) }
func (l eslLogger) Info(format string, args ...any)  { l.log.Debug().Msgf("eslgo: "+format, args...) }
func (l eslLogger) Warn(format string, args ...any)  { l.log.Debug().Msgf("eslgo: "+format, args...) }
func (l eslLogger) Error(format string, args ...any) { l.log.Warn().Msgf("eslgo: "+format, args...) }
