package fstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// mod_event_socket as a loadable module: `reload mod_event_socket` (operators, upgrade scripts)
// and unload/load. What FreeSWITCH does (mod_event_socket.c, switch_loadable_module.c,
// mod_commands.c):
//
//   - unload runs mod_event_socket_shutdown (MES ~577): prefs.done = 1, kill_all_listeners()
//     sends every listener — outbound ones attached to channels and inbound ones alike — a
//     disconnect notice "The system is being shut down.\n" (send_disconnect MES ~631: with
//     Controlled-Session-UUID and Content-Disposition: disconnect for a session's listener, bare
//     for an inbound one) and shuts the socket (kill_listener MES ~661); the listen socket closes.
//   - each listener thread then ends (listener_run `done:` MES ~2797): CF_CONTROLLED is cleared
//     and the channel is set to CS_RESET only if socket_resume is true. With socket_resume false
//     nothing happens to the call: its bridge and its media bugs keep running.
//   - the shutdown waits while listener threads are counted (`while (prefs.threads)`, 100 ms
//     steps, at most 200: MES ~589). A `reload` issued over an ESL connection — `api` (run by
//     api_exec inside the listener thread, MES ~2329) or `bgapi` (api_exec on a thread of its
//     own, MES ~2383) — runs in a thread api_exec itself counts (prefs.threads++, MES ~1538), so
//     the module stays unloaded for the full 20 s; fs_cli is an ESL client, so `fs_cli -x` does
//     the same. Only FreeSWITCH's own console (FS.ReloadEventSocket) is back after one 100 ms step.
//   - while unloaded the `socket` application does not exist: a call reaching it is hung up
//     DESTINATION_OUT_OF_ORDER ("Invalid Application", switch_core_session.c ~2771).
//   - load binds the listen socket again at once (SO_REUSEADDR, mod_event_socket_runtime).
//   - a non-forced unload is refused with "Module in use." while the socket application runs on
//     some channel (do_shutdown's trywrlock on the module interface, switch_loadable_module.c
//     ~2526); `reload` then also fails to load ("Module already loaded").
//   - `reload` and `load` first reload the XML (mod_commands reload_function, load_function):
//     "+OK Reloading XML", and a dialplan staged with FS.SetDialplan takes effect.

// ErrModuleInUse is returned by UnloadEventSocket and ReloadEventSocket without force while a
// channel runs the socket application.
var ErrModuleInUse = errors.New("fstest: mod_event_socket: Module in use.")

// shutdownMessage is what kill_all_listeners tells every connection.
const shutdownMessage = "The system is being shut down.\n"

// reloadStep is one switch_yield(100000) of mod_event_socket_shutdown's wait for its threads.
const reloadStep = 100 * time.Millisecond

// reloadSanity is how long that wait lasts when the calling thread is itself a listener (200
// steps).
const reloadSanity = 200 * reloadStep

// ReloadEventSocket is `reload mod_event_socket` from FreeSWITCH's own console: every ESL
// connection is closed after a shutdown notice, calls keep running (with socket_resume false),
// and the inbound listener accepts again about 100 ms later. ErrModuleInUse (nothing changes)
// while some channel runs the socket application.
func (fs *FS) ReloadEventSocket() error {
	fs.ReloadXML() // reload_function reloads the XML first (mod_commands.c ~2833)
	if err := fs.UnloadEventSocket(false); err != nil {
		return err
	}
	time.Sleep(reloadStep)
	return fs.LoadEventSocket()
}

// UnloadEventSocket is `unload [-f] mod_event_socket`: every outbound and inbound connection gets
// the shutdown notice and is closed, the inbound listener stops accepting and the socket
// application is gone until LoadEventSocket. Without force it returns ErrModuleInUse while some
// channel runs the socket application. Unloading twice is a no-op.
func (fs *FS) UnloadEventSocket(force bool) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.unloadEventSocketLocked(force)
}

// LoadEventSocket is `load mod_event_socket`: the inbound listener accepts again on the same
// address. A no-op while loaded; it fails only if the address cannot be bound again.
func (fs *FS) LoadEventSocket() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.loadEventSocketLocked()
}

// EventSocketLoaded reports whether mod_event_socket is loaded.
func (fs *FS) EventSocketLoaded() bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return !fs.esUnloaded
}

func (fs *FS) socketAppRunningLocked() bool {
	for _, l := range fs.legOrder {
		if l.inSocket > 0 && !l.hungup {
			return true
		}
	}
	return false
}

func (fs *FS) unloadEventSocketLocked(force bool) error {
	if fs.esUnloaded || fs.closed {
		return nil
	}
	if !force && fs.socketAppRunningLocked() {
		return ErrModuleInUse
	}
	fs.esUnloaded = true
	for _, c := range fs.connList {
		c.killLocked(shutdownMessage)
	}
	if fs.inboundLn != nil {
		fs.inboundLn.Close()
		fs.inboundLn = nil
	}
	return nil
}

func (fs *FS) loadEventSocketLocked() error {
	if !fs.esUnloaded || fs.closed {
		return nil
	}
	if fs.inboundAddr != "" {
		ln, err := net.Listen("tcp", fs.inboundAddr)
		if err != nil {
			return fmt.Errorf("fstest: load mod_event_socket: %w", err)
		}
		fs.inboundLn = ln
		fs.wg.Add(1)
		go fs.acceptInbound(ln)
	}
	fs.esUnloaded = false
	return nil
}

// killLocked is kill_listener: the notice, then the socket is shut at once.
func (c *conn) killLocked(message string) {
	if c.shut {
		return
	}
	c.shut = true
	uuid := ""
	if c.leg != nil {
		uuid = c.leg.uuid
	}
	c.holdTail, c.tail = false, nil
	c.enqueue(noticeFrame(uuid, message), nil, true)
}

// noticeFrame is send_disconnect's frame (MES ~631).
func noticeFrame(uuid, message string) []byte {
	if uuid == "" {
		return []byte(fmt.Sprintf("Content-Type: text/disconnect-notice\nContent-Length: %d\n\n%s", len(message), message))
	}
	return []byte(fmt.Sprintf("Content-Type: text/disconnect-notice\nControlled-Session-UUID: %s\nContent-Disposition: disconnect\nContent-Length: %d\n\n%s", uuid, len(message), message))
}

// moduleAPILocked runs load/unload/reload of mod_event_socket. sync tells that it came as an
// `api` on an ESL connection (its listener thread waits in the shutdown: reloadSanity). ok is
// false for any other module: the command is not modelled.
func (fs *FS) moduleAPILocked(cmd, args string, sync bool) (out string, ok bool) {
	force := false
	if strings.HasPrefix(args, "-") {
		flags, rest, _ := strings.Cut(args, " ")
		force = strings.Contains(flags, "f")
		args = strings.TrimSpace(rest)
	}
	if args != "mod_event_socket" {
		return "", false
	}
	const xml = "+OK Reloading XML\n"
	if cmd != "unload" {
		fs.reloadXMLLocked() // load_function and reload_function call switch_xml_reload first
	}
	switch cmd {
	case "load":
		return xml + "-ERR [Module already loaded]\n", true // only reachable while loaded
	case "unload", "reload":
		if err := fs.unloadEventSocketLocked(force); err != nil {
			if cmd == "unload" {
				return "-ERR [Module in use.]\n", true
			}
			return xml + "-ERR unloading module [Module in use.]\n-ERR loading module [Module already loaded]\n", true
		}
	default:
		return "", false
	}
	// The caller's connection is gone with the others: the reply below is never delivered.
	if cmd == "reload" {
		wait := reloadStep
		if sync {
			wait = reloadSanity
		}
		fs.wg.Add(1)
		go func() {
			defer fs.wg.Done()
			if fs.clock.sleep(fs.ctx, wait) != nil {
				return
			}
			_ = fs.LoadEventSocket()
		}()
		return xml + "+OK module unloaded\n+OK module loaded\n", true
	}
	return "+OK\n", true
}

// globalVarLocked is global_getvar (mod_commands ~6577): the value, or "" when unset.
func (fs *FS) globalVarLocked(name string) string {
	switch name {
	case "core_uuid":
		return fs.coreUUID
	case "hostname", "switchname":
		return fs.opts.Hostname
	case "local_ip_v4":
		return "127.0.0.1"
	}
	return ""
}

// channelColumns are the columns of the core db's channels table in order
// (switch_core_sqldb.c create_channels_sql).
var channelColumns = []string{"uuid", "direction", "created", "created_epoch", "name", "state", "cid_name",
	"cid_num", "ip_addr", "dest", "application", "application_data", "dialplan", "context", "read_codec",
	"read_rate", "read_bit_rate", "write_codec", "write_rate", "write_bit_rate", "secure", "hostname",
	"presence_id", "presence_data", "accountcode", "callstate", "callee_name", "callee_num",
	"callee_direction", "call_uuid", "sent_callee_name", "sent_callee_num", "initial_cid_name",
	"initial_cid_num", "initial_ip_addr", "initial_dest", "initial_dialplan", "initial_context"}

// showChannelsJSONLocked is `show channels as json` (mod_commands show_function ~5885, ~5990):
// {"row_count":N,"rows":[{column: string value, …}]} unformatted, rows by creation time, or
// {"row_count": 0} and a newline without channels. A channel's row lives from CHANNEL_CREATE to
// CHANNEL_DESTROY, so a hung-up channel a lingering listener still holds is listed.
func (fs *FS) showChannelsJSONLocked() string {
	var rows []string
	for _, l := range fs.legOrder {
		if l.destroyed {
			continue
		}
		rows = append(rows, l.channelRowLocked())
	}
	if len(rows) == 0 {
		return "{\"row_count\": 0}\n"
	}
	return fmt.Sprintf(`{"row_count":%d,"rows":[%s]}`, len(rows), strings.Join(rows, ","))
}

func (l *Leg) channelRowLocked() string {
	initial := l.initialCP
	if initial == nil {
		initial = &l.cp
	}
	app, appData := l.curApp, l.curAppData
	vals := map[string]string{
		"uuid": l.uuid, "direction": l.direction, "created": l.createdAt.Format("2006-01-02 15:04:05"),
		"created_epoch": fmt.Sprint(l.createdAt.Unix()), "name": l.name, "state": l.state,
		"cid_name": l.cp.CIDName, "cid_num": l.cp.CIDNum, "ip_addr": l.cp.Network, "dest": l.cp.Dest,
		"application": app, "application_data": appData, "dialplan": l.cp.Dialplan, "context": l.cp.Context,
		"read_codec": "PCMA", "read_rate": "8000", "read_bit_rate": "64000",
		"write_codec": "PCMA", "write_rate": "8000", "write_bit_rate": "64000",
		"hostname": l.fs.opts.Hostname, "callstate": l.callState, "call_uuid": l.callUUID(),
		"callee_name": l.cp.CalleeName, "callee_num": l.cp.CalleeNum,
		"initial_cid_name": initial.CIDName, "initial_cid_num": initial.CIDNum, "initial_ip_addr": initial.Network,
		"initial_dest": initial.Dest, "initial_dialplan": initial.Dialplan, "initial_context": initial.Context,
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, col := range channelColumns {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(col)
		v, _ := json.Marshal(vals[col])
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String()
}
