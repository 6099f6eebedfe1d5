// Package fsconf renders the FreeSWITCH configuration that hands calls to callrec and fails
// open (SPEC.md §4.3): the dialplan entries of the public (inbound DDI) and user contexts, the
// on-demand transfer context (one extension for every `*` and 1-3 digits, decided by callrec
// from its store when a transfer arrives, and a catch-all), the sofia profile parameters
// the on-demand triggers need, event_socket.conf for callrec's inbound connection, and an
// INSTALL.md that says where each piece goes.
//
// Everything is rendered from embedded text/templates. Every value that reaches XML goes
// through XML escaping, and every value is validated first: context names and the socket
// address must be plain tokens, so the operator's configuration cannot inject dialplan actions.
// Nothing is rendered from callrec's store, so rendering never opens it.
//
// The hand-over recipe is REFERENCE.md §1.9 (and FAILOPEN.md, checked on FreeSWITCH 1.10.12):
// set socket_resume=true → set hangup_after_bridge=true → socket <addr> async full → transfer
// to the route. Refused, silent (25 s) or early-closing controllers all reach the transfer.
//
// Who uses it: cmd/callrec (`callrec fsconf --out DIR [--check]`) writes or checks the files.
package fsconf
