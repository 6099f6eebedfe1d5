package esl

import (
	"context"
	"fmt"
	"net"
	"time"
	_ "unsafe" // go:linkname

	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"
)

// eslgo v1.5.2 has no entry point for a connection it did not accept itself: OutboundOptions.
// ListenAndServe calls net.Listen and runs its own accept loop (outbound.go), which ends for good
// on the first Accept error and cannot be closed (docs/freeswitch/ESLGO.md). callrec therefore
// runs the accept loop itself (listener.go) and starts eslgo's per-connection machinery on each
// guarded connection with the same three calls ListenAndServe makes (outbound.go ~55-62):
// newConnection, dummyLoop, outboundHandle. They are unexported, so they are linked by name;
// go.mod pins v1.5.2, and a version that renames them fails to link (the build breaks, it does
// not misbehave at run time). The alternative, relaying each connection into a private eslgo
// listener, costs two more descriptors per call and keeps eslgo's fragile accept loop.

//go:linkname eslgoNewConnection github.com/percipia/eslgo.newConnection
func eslgoNewConnection(c net.Conn, outbound bool, opts eslgo.Options) *eslgo.Conn

//go:linkname eslgoDummyLoop github.com/percipia/eslgo.(*Conn).dummyLoop
func eslgoDummyLoop(c *eslgo.Conn)

//go:linkname eslgoOutboundHandle github.com/percipia/eslgo.(*Conn).outboundHandle
func eslgoOutboundHandle(c *eslgo.Conn, handler eslgo.OutboundHandler, connectionDelay, connectTimeout time.Duration)

// serveOutbound runs one already-accepted (and guarded) outbound connection the way eslgo's own
// accept loop would: the disconnect watcher, then `connect`, handler, `exit` and close. It
// returns when the handler has returned and the connection is closed.
func serveOutbound(c net.Conn, opts eslgo.OutboundOptions, handler eslgo.OutboundHandler) {
	conn := eslgoNewConnection(c, true, opts.Options)
	go eslgoDummyLoop(conn)
	eslgoOutboundHandle(conn, handler, opts.ConnectionDelay, opts.ConnectTimeout)
}

//go:linkname eslgoDoAuth github.com/percipia/eslgo.(*Conn).doAuth
func eslgoDoAuth(c *eslgo.Conn, ctx context.Context, auth command.Auth) error

//go:linkname eslgoAuthLoop github.com/percipia/eslgo.(*Conn).authLoop
func eslgoAuthLoop(c *eslgo.Conn, auth command.Auth, authTimeout time.Duration)

//go:linkname eslgoDisconnectLoop github.com/percipia/eslgo.(*Conn).disconnectLoop
func eslgoDisconnectLoop(c *eslgo.Conn, onDisconnect func())

// dialInbound is eslgo's InboundOptions.Dial (inbound.go) on a guarded connection: eslgo's Dial
// calls net.Dial itself and offers no way to wrap the connection. It dials within ctx and
// opts.AuthTimeout, reads the greeting through the guard (auth/request; a disconnect notice or
// text/rude-rejection is an error, mod_event_socket.c listener_run ~2677, ~2720), hands the
// connection to eslgo, authenticates and starts eslgo's re-auth and disconnect watchers as Dial
// does. Errors: the dial, the greeting, or "failed to auth" (eslgo's doAuth wording) for a
// refused password.
func dialInbound(ctx context.Context, opts eslgo.InboundOptions, addr string, lim GuardLimits, onRefuse func(error)) (*eslgo.Conn, *guardConn, error) {
	if opts.AuthTimeout <= 0 {
		opts.AuthTimeout = 5 * time.Second
	}
	d := net.Dialer{Timeout: opts.AuthTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	g := guard(c, lim, onRefuse)
	_ = c.SetReadDeadline(time.Now().Add(opts.AuthTimeout))
	ct, err := g.greeting()
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	if ct != eslgo.TypeAuthRequest {
		c.Close()
		return nil, nil, fmt.Errorf("connection disconnected before auth request: %s", ct)
	}
	conn := eslgoNewConnection(g, false, opts.Options)
	authCtx, cancel := context.WithTimeout(ctx, opts.AuthTimeout)
	defer cancel()
	auth := command.Auth{Password: opts.Password}
	if err := eslgoDoAuth(conn, authCtx, auth); err != nil {
		conn.ExitAndClose()
		if opts.OnDisconnect != nil {
			go opts.OnDisconnect()
		}
		return nil, nil, err
	}
	go eslgoAuthLoop(conn, auth, opts.AuthTimeout)
	go eslgoDisconnectLoop(conn, opts.OnDisconnect)
	return conn, g, nil
}
