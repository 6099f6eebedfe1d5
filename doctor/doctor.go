// Package doctor proves a callrec install (`callrec doctor`): it asks every configured
// FreeSWITCH node, over the inbound Event Socket (package esl), whether callrec's configuration
// is loaded where calls use it, records a short self-test call into the spool and makes an MP3
// of it the way callrec's worker would, and checks that callrec's own listeners answer. Every
// check gives one Result: OK, or what is wrong and how to fix it.
//
// It never opens the store (a running callrec holds its lock), so it cannot prove that a call
// ends as a `ready` row: it proves each link of that chain instead (the hand-over entries point
// at callrec's listener, callrec answers there, FreeSWITCH writes into the spool, callrec's
// user reads and encodes what it wrote and may delete it).
//
// Who uses it: cmd/callrec. The checks run as the process's own user: run doctor as callrec's
// user, or the file checks prove nothing about that user.
package doctor

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/audio"
	"github.com/callrec/callrec/esl"
	"github.com/callrec/callrec/fsconf"
)

// Node is one FreeSWITCH's inbound Event Socket (freeswitch.nodes).
type Node struct {
	Addr, Password string
}

// Install is the configuration doctor checks the install against. Paths must be absolute.
type Install struct {
	Nodes []Node
	// Rendered is what `callrec fsconf` renders from the same configuration: the hand-over
	// entries expected first in PublicContext and in each of UserContexts.
	Rendered                       fsconf.Output
	PublicContext, TransferContext string
	UserContexts                   []string // every domain's context (freeswitch.user_contexts)
	// Profile is the sofia profile the users' phones register to.
	Profile string
	// RecordPath is freeswitch.record_path, the profile's expected record-path.
	RecordPath string
	// ESLListen and HTTPListen are callrec's listeners (esl.listen, http.listen).
	ESLListen, HTTPListen string
	SpoolDir, LibraryDir  string
	// SelfTestFor is how long the self-test call is recorded (default 2 s).
	SelfTestFor time.Duration
	// Timeout bounds each connection and command (default 5 s).
	Timeout time.Duration
	// Encoder makes the self-test MP3 (default audio.NewShineEncoder(0)).
	Encoder audio.Encoder
	Logger  zerolog.Logger
}

// Status is a Result's verdict.
type Status string

const (
	OK   Status = "OK"
	Fail Status = "FAIL"
	// Note is information that is not a failure (e.g. running as root).
	Note Status = "NOTE"
)

// Result is the outcome of one check. Problem and Fix are empty for OK.
type Result struct {
	Status  Status
	Check   string
	Problem string
	Fix     string
	// Detail is what an OK check found.
	Detail string
}

// String is the result's one line of output.
func (r Result) String() string {
	switch {
	case r.Status == OK && r.Detail != "":
		return fmt.Sprintf("%-4s  %s: %s", r.Status, r.Check, r.Detail)
	case r.Status == OK:
		return fmt.Sprintf("%-4s  %s", r.Status, r.Check)
	case r.Fix != "":
		return fmt.Sprintf("%-4s  %s: %s — %s", r.Status, r.Check, r.Problem, r.Fix)
	}
	return fmt.Sprintf("%-4s  %s: %s", r.Status, r.Check, r.Problem)
}

// Failed reports whether any result is a failure.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

func ok(check, detail string) Result { return Result{Status: OK, Check: check, Detail: detail} }
func fail(check, problem, fix string) Result {
	return Result{Status: Fail, Check: check, Problem: problem, Fix: fix}
}

// Run runs every check and returns the results in order: who runs doctor, callrec's listeners,
// then for each node its connection, contexts, sofia profile and self-test recording (a node
// that cannot be reached gets only its connection result). It never fails as a whole: each
// problem is a Result. ctx bounds the whole run.
func Run(ctx context.Context, in Install) []Result {
	if in.Timeout <= 0 {
		in.Timeout = 5 * time.Second
	}
	if in.SelfTestFor <= 0 {
		in.SelfTestFor = 2 * time.Second
	}
	if in.Encoder == nil {
		in.Encoder = audio.NewShineEncoder(0)
	}
	var rs []Result
	if os.Geteuid() == 0 {
		rs = append(rs, Result{Status: Note, Check: "user", Problem: "running as root: the file checks prove nothing about callrec's own user (run `sudo -u <callrec user> callrec doctor`)"})
	}
	rs = append(rs, checkHTTP(ctx, in), checkESLListener(ctx, in))
	if len(in.Nodes) == 0 {
		rs = append(rs, fail("freeswitch.nodes", "no FreeSWITCH node configured",
			"set freeswitch.nodes (e.g. CALLREC_FREESWITCH__NODES=127.0.0.1:8021=ClueCon) so callrec and doctor reach FreeSWITCH's event socket"))
	}
	for i, n := range in.Nodes {
		rs = append(rs, checkNode(ctx, in, i, n)...)
	}
	return rs
}

// checkNode runs the checks of one FreeSWITCH.
func checkNode(ctx context.Context, in Install, i int, n Node) []Result {
	prefix := "node " + n.Addr
	p, err := esl.DialProbe(ctx, n.Addr, n.Password, in.Timeout, in.Logger)
	if err != nil {
		return []Result{connectFailure(prefix+": event socket", i, n, in.Timeout, err)}
	}
	defer p.Close()
	rs := []Result{ok(prefix+": event socket", "answers and authenticates")}
	rs = append(rs, checkHandOver(ctx, p, in, prefix, "public context", "freeswitch.public_context", in.PublicContext))
	for _, c := range in.UserContexts {
		what := "user context"
		if len(in.UserContexts) > 1 {
			what += " " + c
		}
		rs = append(rs, checkHandOver(ctx, p, in, prefix, what, "freeswitch.user_contexts", c))
	}
	rs = append(rs, checkTransferContext(ctx, p, in, prefix))
	rs = append(rs, checkProfile(ctx, p, in, prefix)...)
	rs = append(rs, checkSelfTest(ctx, p, in, prefix))
	return rs
}

// connectFailure words a DialProbe error.
func connectFailure(check string, i int, n Node, timeout time.Duration, err error) Result {
	var de *esl.DialError
	if !errors.As(err, &de) {
		return fail(check, err.Error(), "")
	}
	switch de.Failure {
	case esl.Refused:
		return fail(check, "connection refused: nothing listens on "+n.Addr,
			"load mod_event_socket with callrec's autoload_configs/event_socket.conf.xml (fs_cli -x 'load mod_event_socket'), or set freeswitch.nodes to the address it listens on")
	case esl.Unreachable:
		return fail(check, fmt.Sprintf("no answer from %s within %s (%v)", n.Addr, timeout, de.Err),
			"check the host and port in freeswitch.nodes and any firewall between callrec and FreeSWITCH")
	case esl.NotEventSocket:
		return fail(check, n.Addr+" answers, but not as FreeSWITCH's event socket ("+de.Err.Error()+")",
			"set freeswitch.nodes to the event socket's listen-ip:listen-port (event_socket.conf.xml)")
	case esl.Denied:
		return fail(check, "FreeSWITCH's event socket refuses callrec's address (its apply-inbound-acl)",
			"use callrec's event_socket.conf.xml (apply-inbound-acl loopback.auto) with callrec on the same host, or add callrec's address to that ACL, then fs_cli -x 'reload mod_event_socket'")
	case esl.BadPassword:
		return fail(check, "wrong password: FreeSWITCH answered -ERR invalid",
			fmt.Sprintf("set freeswitch.nodes[%d].password (or freeswitch.inbound_password) to the password in event_socket.conf.xml", i))
	}
	return fail(check, err.Error(), "")
}

// checkHandOver checks that context name starts with callrec's rendered hand-over entries, as
// rendered now (so pointing at esl.listen).
func checkHandOver(ctx context.Context, p *esl.Probe, in Install, prefix, what, key, name string) Result {
	check := fmt.Sprintf("%s: %s %q", prefix, what, name)
	file := fsconf.ContextFile(name)
	include := fmt.Sprintf(`add <X-PRE-PROCESS cmd="include" data="%s/00_callrec.xml"/> as the first line inside <context name="%s"> (dialplan/%s.xml), copy %s from callrec fsconf --out DIR, then fs_cli -x reloadxml`, name, name, name, file)
	want, err := esl.ParseDialplanExtensions(in.Rendered.File(file))
	if err != nil || len(want) == 0 {
		return fail(check, fmt.Sprintf("callrec renders no hand-over entry for it (%v)", err), "this is a bug in callrec")
	}
	got, err := p.Context(ctx, name)
	switch {
	case errors.Is(err, esl.ErrNotFound):
		return fail(check, "FreeSWITCH has no such dialplan context",
			fmt.Sprintf("set %s to the context these calls arrive in, or create it with callrec's entry first: %s", key, include))
	case err != nil:
		return fail(check, "xml_locate failed: "+err.Error(), "")
	}
	at := -1
	for i, e := range got {
		if e.Name == want[0].Name {
			at = i
			break
		}
	}
	switch {
	case at < 0:
		return fail(check, "callrec's hand-over entry is missing", include)
	case at > 0:
		var before []string
		for _, e := range got[:at] {
			before = append(before, fmt.Sprintf("%q", e.Name))
		}
		return fail(check, "callrec's hand-over entry is not first: "+strings.Join(before, ", ")+" come(s) before it",
			fmt.Sprintf(`move the <X-PRE-PROCESS cmd="include" data="%s/00_callrec.xml"/> line to the first line inside <context name="%s">, then fs_cli -x reloadxml`, name, name))
	}
	render := fmt.Sprintf("render again (callrec fsconf --out DIR), install %s, then fs_cli -x reloadxml", file)
	for i, w := range want {
		if i >= len(got) || got[i].Name != w.Name {
			return fail(check, fmt.Sprintf("callrec's entry %q is missing after %q", w.Name, want[0].Name), render)
		}
		g := got[i]
		if strings.Join(g.Sockets, ",") != strings.Join(w.Sockets, ",") {
			return fail(check, fmt.Sprintf("callrec's entry %q connects to %q, but callrec listens on %q (esl.listen)", w.Name, strings.Join(g.Sockets, ","), in.ESLListen), render)
		}
		if g.Canonical != w.Canonical {
			return fail(check, fmt.Sprintf("callrec's entry %q differs from what callrec renders now (%s)", w.Name, firstDifference(g.Canonical, w.Canonical)), render)
		}
	}
	return ok(check, fmt.Sprintf("callrec's hand-over entry is first and connects to %s", in.ESLListen))
}

// firstDifference names the first line where installed and rendered differ.
func firstDifference(installed, rendered string) string {
	a, b := strings.Split(installed, "\n"), strings.Split(rendered, "\n")
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("installed %q, rendered %q", strings.TrimSpace(x), strings.TrimSpace(y))
		}
	}
	return "same"
}

// checkTransferContext checks that the on-demand transfer context exists.
func checkTransferContext(ctx context.Context, p *esl.Probe, in Install, prefix string) Result {
	check := fmt.Sprintf("%s: transfer context %q", prefix, in.TransferContext)
	got, err := p.Context(ctx, in.TransferContext)
	switch {
	case errors.Is(err, esl.ErrNotFound):
		return fail(check, "FreeSWITCH has no such dialplan context (blind transfers to an on-demand code cannot reach callrec)",
			fmt.Sprintf("copy %s from callrec fsconf --out DIR into FreeSWITCH's dialplan directory, then fs_cli -x reloadxml", fsconf.TransferFile))
	case err != nil:
		return fail(check, "xml_locate failed: "+err.Error(), "")
	case len(got) == 0:
		return fail(check, "the context has no extension",
			fmt.Sprintf("install %s as rendered by callrec fsconf --out DIR, then fs_cli -x reloadxml", fsconf.TransferFile))
	}
	return ok(check, fmt.Sprintf("present (%d extensions)", len(got)))
}

// checkProfile checks the sofia profile's params callrec's on-demand triggers need.
func checkProfile(ctx context.Context, p *esl.Probe, in Install, prefix string) []Result {
	check := fmt.Sprintf("%s: sofia profile %q", prefix, in.Profile)
	include := fmt.Sprintf(`add <X-PRE-PROCESS cmd="include" data="../%s"/> as the last line inside <settings> of sip_profiles/%s.xml, then fs_cli -x reloadxml and fs_cli -x 'sofia profile %s rescan'`, fsconf.SofiaFile, in.Profile, in.Profile)
	params, profiles, err := p.SofiaProfileParams(ctx, in.Profile)
	switch {
	case errors.Is(err, esl.ErrNotFound):
		return []Result{fail(check, fmt.Sprintf("sofia.conf has no such profile (profiles: %s)", strings.Join(profiles, ", ")),
			"run doctor with --profile set to the profile your users' phones register to")}
	case err != nil:
		return []Result{fail(check, "xml_locate failed: "+err.Error(), "")}
	}
	var rs []Result
	param := func(name, want string, same func(got string) bool) {
		c := check + ": " + name
		got, set := params[name]
		switch {
		case !set:
			rs = append(rs, fail(c, fmt.Sprintf("not set (callrec needs %q)", want), include))
		case !same(got):
			rs = append(rs, fail(c, fmt.Sprintf("is %q, callrec needs %q", got, want), include))
		default:
			rs = append(rs, ok(c, want))
		}
	}
	param("record-template", fsconf.RecordTemplate, func(got string) bool { return got == fsconf.RecordTemplate })
	param("record-path", in.RecordPath, func(got string) bool { return filepath.Clean(got) == filepath.Clean(in.RecordPath) })
	param("fire-transfer-events", "true", isTrue)
	return rs
}

// isTrue is switch_true.
func isTrue(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "1", "enabled", "active", "allow":
		return true
	}
	return false
}

// checkESLListener checks that callrec answers on esl.listen the way FreeSWITCH's socket
// application expects: it accepts and sends `connect`. doctor then says goodbye as FreeSWITCH
// does (text/disconnect-notice, mod_event_socket.c) rather than dropping the connection.
func checkESLListener(ctx context.Context, in Install) Result {
	check := "callrec event socket listener (esl.listen " + in.ESLListen + ")"
	d := net.Dialer{Timeout: in.Timeout}
	nc, err := d.DialContext(ctx, "tcp", dialable(in.ESLListen))
	if err != nil {
		return fail(check, "callrec is not running: nothing accepts connections on "+in.ESLListen+" ("+err.Error()+")",
			"start callrec (callrec serve) with this configuration; until then every call proceeds unrecorded")
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(in.Timeout))
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "connect" {
		return fail(check, fmt.Sprintf("%s accepts connections but does not answer as callrec (%q, %v)", in.ESLListen, line, err),
			"set esl.listen to callrec's address; another program holds this port")
	}
	const bye = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
	_, _ = fmt.Fprintf(nc, "Content-Type: text/disconnect-notice\nContent-Length: %d\n\n%s", len(bye), bye)
	return ok(check, "accepts connections and answers")
}

// dialable turns a listen address into one to dial: an unspecified host is this host.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
