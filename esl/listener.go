package esl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/percipia/eslgo"
	"github.com/rs/zerolog"
)

// HealthReporter receives the state of a part of callrec (health.Registry implements it).
type HealthReporter interface {
	Up(part string)
	Down(part string, err error)
}

// Part names this package reports (the same strings as package health's).
const (
	partListener = "esl_listener"
	partNodeFmt  = "node %s"
)

// Accept back-off, net/http's (server.go Serve): 5 ms, doubling, at most 1 s.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// listen opens callrec's own outbound listener on s.Addr. Holding the socket is the proof that
// the address is callrec's: another program already listening there (another ESL controller, a
// second callrec) makes it fail with EADDRINUSE instead of being "probed" successfully.
func (s *Server) listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.Addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("esl: listen %s (esl.listen): another program already listens there (a second callrec or another Event Socket server?): %w", s.Addr, err)
	}
	if err != nil {
		return nil, fmt.Errorf("esl: listen %s (esl.listen): %w", s.Addr, err)
	}
	if s.wrapListener != nil {
		ln = s.wrapListener(ln)
	}
	return ln, nil
}

// acceptLoop accepts FreeSWITCH's outbound connections until ln is closed. A temporary error
// (EMFILE, ENFILE, ECONNABORTED...) is retried with back-off while the listener is reported
// down; any other error ends the loop and is delivered on failed. Over MaxConns live connections
// a new one is closed at once, before `connect`: FreeSWITCH's outbound listener ends, the
// channel goes CS_EXECUTE -> CS_RESET (mod_event_socket.c listener_run, ~2812) and with
// socket_resume=true the dialplan's fallback runs (FAILOPEN.md exp 2a/3).
func (s *Server) acceptLoop(ln net.Listener, opts eslgo.OutboundOptions) {
	defer close(s.acceptDone)
	var delay time.Duration
	capLog := s.Logger.Sample(&zerolog.BurstSampler{Burst: 1, Period: time.Second})
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
				return
			}
			if !isTemporary(err) {
				err = fmt.Errorf("esl: accept on %s: %w", s.bound, err)
				s.reportDown(partListener, err)
				s.failed <- err
				return
			}
			delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
			s.reportDown(partListener, fmt.Errorf("accept: %w", err))
			s.Logger.Warn().Err(err).Dur("retry_in", delay).Str("decision", "accept_retry").Msg("esl: accept failed, retrying")
			if !sleepCtx(s.ctx, delay) {
				return
			}
			continue
		}
		if delay > 0 {
			delay = 0
			s.reportUp(partListener)
			s.Logger.Info().Str("decision", "accept_recovered").Msg("esl: accepting connections again")
		}
		if n := s.conns.Add(1); n > int64(s.MaxConns) {
			s.conns.Add(-1)
			_ = c.Close()
			s.Metrics.refused("over_cap")
			capLog.Warn().Int("max_conns", s.MaxConns).Str("remote", c.RemoteAddr().String()).
				Str("decision", "over_cap").Msg("esl: too many connections, closed a new one (the call falls back)")
			continue
		}
		go s.serveConn(c, opts)
	}
}

// serveConn runs one accepted connection behind the guard.
func (s *Server) serveConn(c net.Conn, opts eslgo.OutboundOptions) {
	defer s.conns.Add(-1)
	remote := c.RemoteAddr().String()
	g := guard(c, s.Guard, func(err error) {
		s.Metrics.refused(refusalReason(err))
		s.Logger.Warn().Err(err).Str("remote", remote).Str("decision", "frame_refused").Msg("esl: hostile or broken frame, connection closed")
	})
	serveOutbound(g, opts, func(ctx context.Context, conn *eslgo.Conn, connect *eslgo.RawResponse) {
		s.handle(ctx, conn, g, connect)
	})
}

func (s *Server) reportUp(part string) {
	if s.Health != nil {
		s.Health.Up(part)
	}
}

func (s *Server) reportDown(part string, err error) {
	if s.Health != nil {
		s.Health.Down(part, err)
	}
}

// isTemporary reports whether an Accept error may go away by itself (net/http's test).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// sleepCtx waits d or until ctx ends; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
