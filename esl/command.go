package esl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"

	"github.com/callrec/callrec/dialplan"
)

// ErrUnsafeValue is wrapped by every error for a value refused before it could reach FreeSWITCH:
// eslgo does not escape anything, so a CR or LF would end the command and start another
// (ESLGO.md "command injection"), and a space would split an argument where FreeSWITCH splits.
var ErrUnsafeValue = errors.New("unsafe value for a FreeSWITCH command")

// ErrConnDead is wrapped by every command error after a timeout or transport failure closed the
// connection. eslgo does not correlate replies with commands, so after a timeout the next command
// would receive this command's reply (ESLGO.md "reply shift"): the connection is closed instead.
var ErrConnDead = errors.New("event socket connection closed")

// checkArg refuses a command argument that could split or end the command.
func checkArg(v string) error {
	if v == "" {
		return fmt.Errorf("%w: empty", ErrUnsafeValue)
	}
	if i := strings.IndexAny(v, " \t\r\n\x00"); i >= 0 {
		return fmt.Errorf("%w: %q contains %q", ErrUnsafeValue, v, v[i])
	}
	return nil
}

// checkText refuses a value that may contain spaces (an application argument, a variable value)
// but must stay on one line.
func checkText(v string) error {
	if i := strings.IndexAny(v, "\r\n\x00"); i >= 0 {
		return fmt.Errorf("%w: %q contains %q", ErrUnsafeValue, v, v[i])
	}
	return nil
}

// commander is the safe command layer over one eslgo connection: every command has its own
// timeout, every value is checked, and the first timeout or transport error closes the connection
// for good. It is safe for concurrent use.
type commander struct {
	conn    *eslgo.Conn
	timeout time.Duration
	observe func(name string, d time.Duration, err error) // metrics hook, may be nil
	// onDead, when set, is called once after the connection was closed for good (the attachment
	// of a Session learns that its connection is lost).
	onDead func()

	mu   sync.Mutex
	dead error
}

// send runs one command and returns FreeSWITCH's reply. A reply starting with -ERR is returned
// with an error wrapping the reply text; a timeout or transport error closes the connection.
func (c *commander) send(ctx context.Context, name string, cmd command.Command) (*eslgo.RawResponse, error) {
	c.mu.Lock()
	dead := c.dead
	c.mu.Unlock()
	if dead != nil {
		return nil, dead
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	resp, err := c.conn.SendCommand(ctx, cmd)
	if c.observe != nil {
		c.observe(name, time.Since(start), err)
	}
	if err != nil {
		c.kill(fmt.Errorf("%w: %s: %w", ErrConnDead, name, err))
		return nil, c.dead
	}
	if reply := strings.TrimSpace(resp.GetReply()); strings.HasPrefix(reply, "-") {
		return resp, fmt.Errorf("%s: freeswitch: %s", name, reply)
	}
	return resp, nil
}

// kill closes the connection once; later commands fail with err.
func (c *commander) kill(err error) {
	c.mu.Lock()
	first := c.dead == nil
	if first {
		c.dead = err
	}
	c.mu.Unlock()
	if first {
		c.conn.Close()
		if c.onDead != nil {
			c.onDead()
		}
	}
}

// isDead reports whether a command already failed for good on this connection.
func (c *commander) isDead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead != nil
}

// api runs a synchronous `api` command (never bgapi: with filters its BACKGROUND_JOB would be
// dropped, REFERENCE.md §1.4). Every argument must be free of spaces and line breaks.
func (c *commander) api(ctx context.Context, cmd string, args ...string) (string, error) {
	for _, a := range append([]string{cmd}, args...) {
		if err := checkArg(a); err != nil {
			return "", fmt.Errorf("api %s: %w", cmd, err)
		}
	}
	resp, err := c.send(ctx, cmd, command.API{Command: cmd, Arguments: strings.Join(args, " ")})
	if err != nil {
		return "", err
	}
	body := strings.TrimSpace(string(resp.Body))
	if strings.HasPrefix(body, "-") {
		return body, fmt.Errorf("api %s: freeswitch: %s", cmd, body)
	}
	return body, nil
}

// setVars sets several channel variables in one command, `uuid_setvar_multi <uuid>
// n1=v1;n2=v2` (mod_commands.c uuid_setvar_multi_function: split on ';', each at its first '=',
// +OK once any was set), or `uuid_setvar` for one. A name or value with ';', a name with '=' or
// either with a space is refused before anything is sent: every call's variables are callrec's
// own (plain contexts, ids, true).
func (c *commander) setVars(ctx context.Context, uuid string, vars []dialplan.Var) error {
	switch len(vars) {
	case 0:
		return nil
	case 1:
		return c.setVar(ctx, uuid, vars[0].Name, vars[0].Value)
	}
	pairs := make([]string, 0, len(vars))
	for _, v := range vars {
		if v.Name == "" || strings.ContainsAny(v.Name, ";=") || strings.Contains(v.Value, ";") {
			return fmt.Errorf("uuid_setvar_multi: variable %q=%q cannot be set in one command", v.Name, v.Value)
		}
		pairs = append(pairs, v.Name+"="+v.Value)
	}
	_, err := c.api(ctx, "uuid_setvar_multi", uuid, strings.Join(pairs, ";"))
	return err
}

// setVar sets a channel variable with `uuid_setvar`. The value may not contain spaces.
func (c *commander) setVar(ctx context.Context, uuid, name, value string) error {
	_, err := c.api(ctx, "uuid_setvar", uuid, name, value)
	return err
}

// execute queues a dialplan application on a channel with sendmsg (REFERENCE.md §1.5). The
// argument travels in a body, so it may contain spaces but not line breaks. appUUID, when set,
// comes back as Application-UUID on CHANNEL_EXECUTE_COMPLETE.
func (c *commander) execute(ctx context.Context, uuid, app, arg, appUUID string) error {
	if err := checkArg(app); err != nil {
		return fmt.Errorf("execute: %w", err)
	}
	if err := checkArg(uuid); err != nil {
		return fmt.Errorf("execute %s: %w", app, err)
	}
	if err := checkText(arg); err != nil {
		return fmt.Errorf("execute %s: %w", app, err)
	}
	if appUUID != "" {
		if err := checkArg(appUUID); err != nil {
			return fmt.Errorf("execute %s: %w", app, err)
		}
	}
	_, err := c.send(ctx, "execute "+app, &executeCommand{uuid: uuid, app: app, arg: arg, appUUID: appUUID})
	return err
}

// executeCommand is a sendmsg execute with event-lock and an Event-UUID, which eslgo's
// call.Execute cannot set.
type executeCommand struct{ uuid, app, arg, appUUID string }

func (e *executeCommand) BuildMessage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sendmsg %s\r\ncall-command: execute\r\nexecute-app-name: %s\r\nevent-lock: true\r\n", e.uuid, e.app)
	if e.appUUID != "" {
		fmt.Fprintf(&b, "Event-UUID: %s\r\n", e.appUUID)
	}
	if e.arg == "" {
		return strings.TrimSuffix(b.String(), "\r\n")
	}
	fmt.Fprintf(&b, "content-type: text/plain\r\ncontent-length: %d\r\n\r\n%s", len(e.arg), e.arg)
	return b.String()
}

// raw sends a command built by the caller from checked values.
type raw string

func (r raw) BuildMessage() string { return string(r) }
