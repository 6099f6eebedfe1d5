package fsconf

import (
	"errors"
	"fmt"
	"net"
	"path"
	"strings"

	"github.com/callrec/callrec/dialplan"
)

// Defaults for the zero fields of Options; they match callrec's configuration defaults.
const (
	DefaultESLListen     = "127.0.0.1:8084"
	DefaultPublicContext = "public"
	DefaultUserContext   = "default"
)

// Event socket settings rendered into event_socket.conf.xml: callrec's inbound connection comes
// from the same host, so FreeSWITCH listens on loopback only.
const (
	EventSocketListenIP   = "127.0.0.1"
	EventSocketListenPort = 8021
	EventSocketACL        = "loopback.auto"
)

// VarSeen is the channel variable that guards every hand-over extension: the rendered entry sets
// it before `socket`, so when callrec (or the fallback) transfers the call back into the same
// context, callrec's extension no longer matches and the operator's own extensions run.
const VarSeen = "callrec_seen"

// RecordTemplate is the sofia profile's record-template: INFO "Record: on" files are named with
// the prefix the controller set on the user's leg (dialplan.VarRecPrefix, REFERENCE.md §4).
const RecordTemplate = "${" + dialplan.VarRecPrefix + "}${uuid}-${strftime(%Y%m%d%H%M%S)}.wav"

// Options is what the rendering needs from callrec's configuration. The zero value of each
// field except RecordPath and InboundPassword means the default named on the field. Field
// comments name the configuration key; errors name the same key.
type Options struct {
	// ESLListen (esl.listen) is host:port of callrec's outbound ESL listener that the socket
	// application connects to. Default DefaultESLListen. Use a loopback address: an unreachable
	// host blocks the call for the kernel's TCP timeout (~127 s, REFERENCE.md §1.9).
	ESLListen string
	// Instances (esl.instances) are host:port of the outbound ESL listener of every callrec
	// instance, in the order FreeSWITCH tries them: each hand-over entry connects to the first,
	// and to the next when one refuses the connection or stays silent for 25 s, before the
	// fail-open fallback. Default [ESLListen] (one instance).
	Instances []string
	// TransferContext (esl.transfer_context) is the context of the on-demand code extensions.
	// Default dialplan.DefaultTransferContext.
	TransferContext string
	// PublicContext (freeswitch.public_context) is where inbound DDI calls arrive. Default "public".
	PublicContext string
	// UserContexts (freeswitch.user_contexts) are the contexts the calls users place arrive in:
	// one per domain on a multi-tenant switch. Each gets the same hand-over file; the first is
	// where the transfer context's catch-all continues a blind transfer whose users' context
	// callrec did not set. Default [DefaultUserContext].
	UserContexts []string
	// RecordPath (freeswitch.record_path) is the absolute directory where mod_sofia writes INFO
	// "Record: on" recordings; callrec must be able to read it. Required.
	RecordPath string
	// InboundPassword (freeswitch.inbound_password) is event_socket.conf's password. Required.
	InboundPassword string
}

// OptionError is a refused option value. Key is the configuration key (e.g. "esl.listen").
type OptionError struct {
	Key, Value, Reason string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("fsconf: %s: %q %s", e.Key, e.Value, e.Reason)
}

// withDefaults returns o with the zero fields filled.
func (o Options) withDefaults() Options {
	if o.ESLListen == "" {
		o.ESLListen = DefaultESLListen
	}
	if len(o.Instances) == 0 {
		o.Instances = []string{o.ESLListen}
	} else {
		o.Instances = append([]string(nil), o.Instances...)
	}
	if o.TransferContext == "" {
		o.TransferContext = dialplan.DefaultTransferContext
	}
	if o.PublicContext == "" {
		o.PublicContext = DefaultPublicContext
	}
	if len(o.UserContexts) == 0 {
		o.UserContexts = []string{DefaultUserContext}
	} else {
		o.UserContexts = append([]string(nil), o.UserContexts...)
	}
	return o
}

// Validate fills the defaults and checks every option. It returns nil or one *OptionError per
// refused value, joined (errors.As finds the first). Anyone may call it.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	bad := func(key, value, reason string) {
		errs = append(errs, &OptionError{Key: key, Value: value, Reason: reason})
	}
	if err := validAddr(o.ESLListen); err != "" {
		bad("esl.listen", o.ESLListen, err)
	}
	seen := map[string]bool{}
	for _, a := range o.Instances {
		switch err := validAddr(a); {
		case err != "":
			bad("esl.instances", a, err)
		case seen[a]:
			bad("esl.instances", a, "is listed twice")
		}
		seen[a] = true
	}
	contexts := []struct{ key, v string }{{"freeswitch.public_context", o.PublicContext}}
	for _, u := range o.UserContexts {
		contexts = append(contexts, struct{ key, v string }{"freeswitch.user_contexts", u})
	}
	contexts = append(contexts, struct{ key, v string }{"esl.transfer_context", o.TransferContext})
	for i, c := range contexts {
		if !validContext(c.v) {
			bad(c.key, c.v, "must be 1-64 characters of [A-Za-z0-9_.-], not starting with '.'")
			continue
		}
		for _, d := range contexts[:i] {
			if d.v == c.v {
				bad(c.key, c.v, "must differ from "+d.key+" (each context once)")
				break
			}
		}
	}
	switch {
	case o.RecordPath == "":
		bad("freeswitch.record_path", o.RecordPath, "is required")
	case !printable(o.RecordPath) || strings.ContainsAny(o.RecordPath, "${}"):
		bad("freeswitch.record_path", o.RecordPath, "must be printable ASCII without '$', '{' or '}'")
	case !path.IsAbs(o.RecordPath):
		bad("freeswitch.record_path", o.RecordPath, "must be an absolute path (FreeSWITCH runs elsewhere than callrec's working directory)")
	}
	switch {
	case o.InboundPassword == "":
		bad("freeswitch.inbound_password", "", "is required")
	case !printable(o.InboundPassword) || strings.Contains(o.InboundPassword, "$${"):
		// The value is not echoed back: it is a secret.
		bad("freeswitch.inbound_password", "(hidden)", "must be printable ASCII without $${")
	}
	return errors.Join(errs...)
}

// validAddr returns "" when addr is host:port with an IPv4 address or DNS name and a numeric
// port, else the reason. IPv6 literals are refused: the rendered "host:port" would need brackets
// that the socket application does not parse.
func validAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "is not host:port"
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip.To4() == nil {
			return "must use an IPv4 address or a host name (127.0.0.1 recommended)"
		}
	} else if !validHostName(host) {
		return "has an invalid host"
	}
	if port == "" || len(port) > 5 {
		return "has an invalid port"
	}
	n := 0
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return "has an invalid port"
		}
		n = n*10 + int(port[i]-'0')
	}
	if n < 1 || n > 65535 {
		return "has an invalid port"
	}
	return ""
}

func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(isAlnum(c) || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// validContext is dialplan's rule for context names, plus no leading '.', since context names
// also name rendered directories (dialplan/<context>/).
func validContext(s string) bool {
	return dialplan.ValidContext(s) && s[0] != '.'
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// printable reports whether s is non-empty printable ASCII (space included): no control
// characters, so no value can break a line of the line-based FreeSWITCH pre-processor.
func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
