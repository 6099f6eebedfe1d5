package esl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"
	"github.com/rs/zerolog"

	"github.com/callrec/callrec/store"
)

// Node keeps callrec's inbound Event Socket connection to one FreeSWITCH: it reconnects with
// back-off and finishes any recording whose RECORD_STOP its Session did not see (the call
// outlived a callrec restart, or the Session's connection was lost). FinishRecording is
// idempotent, so a RECORD_STOP both the Session and the Node see is booked once.
type Node struct {
	Addr, Password string
	DB             store.Store
	Logger         zerolog.Logger
	SpoolDir       string
	OnDemandPath   string        // the sofia record-path: Record key recordings, found by their WAV path
	CommandTimeout time.Duration // default 5 s
	StoreTimeout   time.Duration // each store read or write of an event (default 10 s), as Server.StoreTimeout
	MaxBackoff     time.Duration // default 30 s
	// Calls, when set, is the Server whose calls this node keeps under control: on every
	// (re)connect the node re-adopts the calls callrec controlled that no Session follows
	// (callrec restarted), and a Session that lost its connection re-attaches through the node
	// (adopt.go).
	Calls *Server
	// Health, when set, is told whether the connection is up (part "node <Addr>").
	Health HealthReporter

	mu       sync.Mutex  // serialises commands: eslgo does not correlate replies
	cmd      *commander  // nil while disconnected
	coreUUID string      // the FreeSWITCH's Core-UUID, learnt on connect
	up       atomic.Bool // connected and subscribed
	// goneSince: instance id → when this node first found it gone (mayAdopt).
	goneSince sync.Map
}

// connected reports whether the node's connection is up.
func (n *Node) connected() bool { return n.up.Load() }

// api runs one api command on the node's connection (ErrConnDead while it is down). Safe for
// concurrent use.
func (n *Node) api(ctx context.Context, cmd string, args ...string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return "", ErrConnDead
	}
	return n.cmd.api(ctx, cmd, args...)
}

// core is the Core-UUID of the node's FreeSWITCH ("" before the first connect).
func (n *Node) core() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.coreUUID
}

func (n *Node) setConn(cmd *commander, core string) {
	n.mu.Lock()
	n.cmd = cmd
	if core != "" {
		n.coreUUID = core
	}
	n.mu.Unlock()
	n.up.Store(cmd != nil)
	if n.Health != nil && cmd != nil {
		n.Health.Up(fmt.Sprintf(partNodeFmt, n.Addr))
	}
}

// Run connects and reconnects until ctx ends. It returns ctx's error, or at once an error when
// SpoolDir is empty or SpoolDir / OnDemandPath cannot be made absolute (they are compared with
// the absolute paths FreeSWITCH reports).
func (n *Node) Run(ctx context.Context) error {
	var err error
	if n.SpoolDir, err = absPath("Node.SpoolDir", n.SpoolDir, true); err != nil {
		return err
	}
	if n.OnDemandPath, err = absPath("Node.OnDemandPath", n.OnDemandPath, false); err != nil {
		return err
	}
	if n.CommandTimeout <= 0 {
		n.CommandTimeout = 5 * time.Second
	}
	if n.MaxBackoff <= 0 {
		n.MaxBackoff = 30 * time.Second
	}
	log := n.Logger.With().Str("node", n.Addr).Logger()
	if n.Calls != nil {
		n.Calls.addNode(n)
		defer n.Calls.removeNode(n)
	}
	backoff := 100 * time.Millisecond
	failures := 0 // consecutive failed attempts: only the first of a streak is a warning
	for {
		start := time.Now()
		err := n.session(ctx, log)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(start) > time.Minute {
			backoff = 100 * time.Millisecond
		}
		var de *dialError
		if !errors.As(err, &de) {
			failures = 0 // it was connected: this is a new outage
		}
		if n.Health != nil {
			n.Health.Down(fmt.Sprintf(partNodeFmt, n.Addr), err)
		}
		failures++
		// /readyz names the node while it is down; the log says so once per outage (a callrec
		// without its FreeSWITCH would otherwise warn every 30 s for ever).
		ev := log.Debug()
		if failures == 1 {
			ev = log.Warn()
		}
		ev.Err(err).Int("attempt", failures).Dur("retry_in", backoff).Msg("inbound event socket down")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, n.MaxBackoff)
	}
}

// session runs one connection until it drops.
func (n *Node) session(ctx context.Context, log zerolog.Logger) error {
	lost := make(chan struct{})
	opts := eslgo.InboundOptions{
		Options:      eslgo.Options{Context: ctx, Logger: eslLogger{log}, ExitTimeout: n.CommandTimeout},
		Network:      "tcp",
		Password:     n.Password,
		AuthTimeout:  n.CommandTimeout,
		OnDisconnect: func() { close(lost) },
	}
	conn, g, err := dialInbound(ctx, opts, n.Addr, GuardLimits{}, func(err error) {
		log.Warn().Err(err).Str("decision", "frame_refused").Msg("esl: node sent a frame out of bounds, connection closed")
	})
	if err != nil {
		return fmt.Errorf("dial: %w", &dialError{err})
	}
	defer conn.Close()
	cmd := &commander{conn: conn, timeout: n.CommandTimeout}
	events := newEventQueue(eventQueueMax) // from the guard, in wire order (event.go)
	var metrics *Metrics
	if n.Calls != nil {
		metrics = n.Calls.Metrics
	}
	events.overflow = queueOverflow(log, metrics)
	g.divert(func(ev *plainEvent) { events.push(ev) })
	defer g.divert(nil)
	if _, err := cmd.send(ctx, "event", command.Event{Format: "plain", Listen: []string{"RECORD_STOP", "CHANNEL_HANGUP_COMPLETE"}}); err != nil {
		return err
	}
	core, _ := cmd.api(ctx, "global_getvar", "core_uuid")
	n.setConn(cmd, core)
	defer n.setConn(nil, "")
	log.Info().Msg("inbound event socket connected")
	var wg sync.WaitGroup // the re-adoptions under way, waited for before the connection goes
	defer wg.Wait()
	if n.Calls != nil {
		wg.Add(1)
		go func() { defer wg.Done(); n.readopt(ctx, log) }()
	}
	probe := time.NewTicker(30 * time.Second)
	defer probe.Stop()
	var orphans <-chan time.Time // other instances' calls, looked for while this one adopts them
	if n.Calls != nil && n.Calls.Peers != nil && n.Calls.ReadoptEvery > 0 {
		t := time.NewTicker(n.Calls.ReadoptEvery)
		defer t.Stop()
		orphans = t.C
	}
	readopting := make(chan struct{}, 1) // one look at a time
	for {
		select {
		case <-orphans:
			if !n.Calls.Peers.Adopting() {
				continue
			}
			select {
			case readopting <- struct{}{}:
			default:
				continue
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer func() { <-readopting }(); n.readopt(ctx, log) }()
		case <-events.ready:
			ev := events.pop()
			if ev != nil && header(ev, "Event-Name") == "RECORD_STOP" {
				n.onRecordStop(ctx, log, ev)
			}
		case <-probe.C:
			if _, err := n.api(ctx, "status"); err != nil {
				return err
			}
		case <-lost:
			return ErrConnDead
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// onRecordStop finishes the row of a recording of callrec's that is still `recording`: one in the
// spool (named <recording id>.wav), or a Record key recording under the record-path (found among
// the rows still recording by its stored WAV path).
func (n *Node) onRecordStop(ctx context.Context, log zerolog.Logger, ev headerReader) {
	path := header(ev, "Record-File-Path")
	ctx, cancel := storeContext(ctx, n.StoreTimeout)
	defer cancel()
	rec := n.recordingAt(ctx, path)
	if rec == nil {
		return
	}
	id := rec.ID
	if discardedByFreeSWITCH(ev, path) {
		_ = n.DB.DiscardRecording(ctx, id, discardReason(ev))
		log.Info().Str("recording", id).Str("company", rec.CompanyID).Str("decision", "record_discarded").
			Msg("FreeSWITCH discarded the recording")
		return
	}
	ms, err := strconv.ParseInt(header(ev, "variable_record_ms"), 10, 64)
	if err != nil {
		ms = time.Since(rec.StartedAt).Milliseconds()
	}
	if err := n.DB.FinishRecording(ctx, id, time.Now().UTC(), ms, path); err != nil {
		log.Error().Err(err).Str("recording", id).Msg("recording not finished")
		return
	}
	log.Info().Str("recording", id).Str("company", rec.CompanyID).Int64("duration_ms", ms).
		Str("decision", "record_stopped_via_node").Msg("recording finished from the node's event stream")
}

// recordingAt returns the row still `recording` whose WAV is path, or nil. Paths are compared
// cleaned (SpoolDir and OnDemandPath are absolute and clean, see Run).
func (n *Node) recordingAt(ctx context.Context, path string) *store.Recording {
	if !plainPath(path) { // "link/.." is not what it cleans to (plainPath)
		return nil
	}
	dir := filepath.Dir(filepath.Clean(path))
	switch {
	case dir == n.SpoolDir && strings.HasSuffix(path, ".wav"):
		rec, err := n.DB.Recording(ctx, strings.TrimSuffix(filepath.Base(path), ".wav"))
		if err != nil || rec.State != store.StateRecording {
			return nil
		}
		return rec
	case n.OnDemandPath != "" && dir == n.OnDemandPath:
		recs, err := n.DB.RecordingsInState(ctx, store.StateRecording, 0)
		if err != nil {
			return nil
		}
		for _, r := range recs {
			if samePath(r.WAVPath, path) {
				return r
			}
		}
	}
	return nil
}

// discardReason is the reason a recording FreeSWITCH deleted is discarded with: its
// Record-Completion-Cause, "input-too-short" (under RECORD_MIN_SEC) or "empty-file"
// (switch_ivr_async.c record_callback ~1664–1673).
func discardReason(ev headerReader) string {
	return "discarded by FreeSWITCH: " + header(ev, "Record-Completion-Cause")
}

// discardedByFreeSWITCH reports whether FreeSWITCH deleted the recording's file as too short or
// empty. RECORD_DISCARDED is a channel variable that FreeSWITCH sets and never clears, so a later
// recording on the same leg still carries it: the file's existence decides.
func discardedByFreeSWITCH(ev headerReader, path string) bool {
	if !strings.EqualFold(header(ev, "variable_RECORD_DISCARDED"), "true") {
		return false
	}
	_, err := os.Stat(path)
	return err != nil
}

// dialError marks a Node session that never connected (Run warns once per outage).
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }
