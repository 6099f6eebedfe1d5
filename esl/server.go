// Package esl is callrec's FreeSWITCH adapter: the outbound Event Socket server every call is
// handed to, one Session per call that applies the policy of package dialplan, the recording
// control, and the inbound connections to the FreeSWITCH nodes. It is the only package that
// speaks to FreeSWITCH. The FreeSWITCH behaviour it relies on is in docs/freeswitch/
// (REFERENCE.md, FAILOPEN.md, ESLGO.md, traces/), cited where used.
package esl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/percipia/eslgo"
	"github.com/rs/zerolog"

	"github.com/callrec/callrec/store"
)

// Peers is what a Server needs to know of the other instances sharing its store. Any
// goroutine may call it; Alive may block on the store (it is given a deadline).
type Peers interface {
	// Alive reports whether the instance with id is running. Errors: the store's (then the
	// call is left alone).
	Alive(ctx context.Context, id string) (bool, error)
	// Adopting reports whether this instance re-adopts the calls of instances that died (one
	// instance at a time: the duty leader).
	Adopting() bool
}

// Server is the outbound Event Socket server. Set the fields, then call Open. Close stops taking
// calls and releases live ones to FreeSWITCH: after `socket_resume false` and `uuid_transfer`
// their bridges survive the close (FAILOPEN.md exp 5a), and the recordings finish through the
// inbound node connections or the start-up reconcile.
type Server struct {
	Addr   string      // host:port; port 0 picks a free port (see BoundAddr)
	DB     store.Store // rules snapshot and recording rows
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

	// MarkTaken is set when the dialplan hands each call to several callrec instances in turn
	// (fsconf Options.Instances, config esl.instances with more than one): the first command
	// of a call this instance takes then also sets dialplan.VarTaken, so an instance reached
	// after this one closed sees the hand-over taken. Whatever it is, a connection whose call
	// carries the mark is closed at once.
	MarkTaken bool
	// Instance is this process's id among instances sharing one store: the first command of a
	// call it takes sets dialplan.VarOwner to it. Empty: calls are not marked with an owner
	// (one instance on its own store).
	Instance string
	// Peers, when set (a shared store), tells the node connections whether a call marked with
	// another instance's id may be re-adopted: only by the instance Peers.Adopting names, and
	// only once the owner is not Alive. Nil: a call marked with another owner is never adopted.
	Peers Peers
	// ReadoptEvery is how often each node connection looks for calls no live instance follows
	// (while Peers.Adopting); 0: only when the node connection is (re)made.
	ReadoptEvery time.Duration

	CommandTimeout time.Duration // per FreeSWITCH command (default 5 s)
	// StoreTimeout bounds each store call made for a call's events (default 10 s,
	// storeContext): a shared store whose database stalls fails the call instead of holding
	// the call's events, and the reconcile settles the row later.
	StoreTimeout time.Duration
	PlanDeadline time.Duration // connect → call handed on, else the socket is closed (default 2 s)
	HangupDrain  time.Duration // after hangup, wait this long for RECORD_STOP (default 3 s)
	Heartbeat    time.Duration // idle time before a liveness probe (default 60 s)
	// ReattachTimeout is how long a Session whose connection was lost keeps trying to follow
	// its call through the node (default 2 min; an `api reload mod_event_socket` keeps the
	// node's listener down for about 20 s).
	ReattachTimeout time.Duration

	// MaxConns caps the live outbound connections (default 4096); over it a new connection is
	// closed at once and its call falls back (one peer cannot starve FreeSWITCH of descriptors).
	MaxConns int
	// Guard bounds the frames a peer may send (zero fields: GuardLimits' defaults).
	Guard GuardLimits
	// Health, when set, is told whether the listener accepts (part "esl_listener").
	Health HealthReporter

	Metrics *Metrics // optional
	// OnFinished, when set, is called after a recording was queued for the audio worker.
	OnFinished func()

	ctx        context.Context
	cancel     context.CancelFunc
	bound      string
	ln         net.Listener
	conns      atomic.Int64  // live outbound connections (MaxConns)
	failed     chan error    // the accept loop ended for good (Failed)
	acceptDone chan struct{} // closed when the accept loop has returned
	// wrapListener, when set (tests), wraps the listener before the accept loop uses it.
	wrapListener func(net.Listener) net.Listener
	mu           sync.Mutex // orders Drain before sessions.Wait against sessions.Add
	draining     atomic.Bool
	sessions     sync.WaitGroup
	live         sync.Map // leg uuid → *Session
	liveN        atomic.Int64

	nodesMu sync.Mutex
	nodes   []*Node // the nodes that re-adopt calls for this Server (Node.Calls)
}

// Open starts listening: it opens the listener itself (so an address another program already
// listens on is an error here, and a port-0 address is resolved, see BoundAddr) and runs the
// accept loop in the background. SpoolDir and OnDemandPath are made absolute and clean first
// (FreeSWITCH would put its own prefix before a relative path); errors: no DB or SpoolDir, a path
// that cannot be made absolute, or the listen error.
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
	ln, err := s.listen()
	if err != nil {
		return err
	}
	s.ln, s.bound = ln, ln.Addr().String()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.failed, s.acceptDone = make(chan error, 1), make(chan struct{})
	opts := eslgo.OutboundOptions{
		Options:         eslgo.Options{Context: s.ctx, Logger: eslLogger{s.Logger}, ExitTimeout: s.CommandTimeout},
		Network:         "tcp",
		ConnectTimeout:  s.CommandTimeout,
		ConnectionDelay: 25 * time.Millisecond,
	}
	s.reportUp(partListener)
	go s.acceptLoop(ln, opts)
	return nil
}

// Failed delivers the error that ended the accept loop for good (an Accept error that is not
// temporary); the caller should end the process so a supervisor restarts it. Valid after Open.
func (s *Server) Failed() <-chan error { return s.failed }

func (s *Server) setDefaults() {
	if s.CommandTimeout <= 0 {
		s.CommandTimeout = 5 * time.Second
	}
	if s.PlanDeadline <= 0 {
		s.PlanDeadline = 2 * time.Second
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
	if s.MaxConns <= 0 {
		s.MaxConns = 4096
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

// lingerFor is the `linger` a new Session asks for (see reattachLinger): the short one only while
// some node is connected now. A configured node that never came up (the default 127.0.0.1:8021
// on a host whose FreeSWITCH lacks callrec's event socket) cannot take a call back, so the Session
// keeps FreeSWITCH's full linger to follow what outlives the controlled leg.
func (s *Server) lingerFor() int {
	for _, n := range s.nodeList() {
		if n.up.Load() {
			return reattachLinger
		}
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

// Close drains, closes the listener (FreeSWITCH's next `socket` gets a refused connection and
// falls back at once, FAILOPEN.md exp 1), then closes every live connection and waits for the
// sessions to end, at most until ctx ends. Live calls keep running on FreeSWITCH.
func (s *Server) Close(ctx context.Context) error {
	s.Drain()
	if s.ln != nil {
		_ = s.ln.Close()
	}
	if s.cancel != nil {
		s.cancel()
	}
	if s.acceptDone != nil {
		<-s.acceptDone
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
func (s *Server) handle(ctx context.Context, conn *eslgo.Conn, g *guardConn, connect *eslgo.RawResponse) {
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
	sess := newSession(s, conn, g, connect)
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

// defaultStoreTimeout is Server.StoreTimeout and Node.StoreTimeout when they are zero.
const defaultStoreTimeout = 10 * time.Second

// storeContext is the context of one store call made for a call's events: not cancelled with
// ctx (a recording's end must be written even as its call or connection goes), but bounded by d
// (defaultStoreTimeout when zero). The embedded store answers in microseconds; a shared one
// whose database is partitioned or stalled would otherwise hold the caller, and with it every
// later event of the call (or, on a node connection, of the node), until TCP gives up.
func storeContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		d = defaultStoreTimeout
	}
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}
