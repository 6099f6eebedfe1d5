package esl

import (
	"net"
	"time"
	_ "unsafe" // go:linkname

	"github.com/percipia/eslgo"
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
