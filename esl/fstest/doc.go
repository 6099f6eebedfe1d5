// Package fstest is a FreeSWITCH 1.10 stand-in for tests and load runs: it speaks
// mod_event_socket's real wire protocol (outbound sockets dialled by the `socket` app, and
// an inbound listener) and simulates the call behaviour callrec depends on — legs, answer,
// bridge, hold, hangup order, the XML dialplan, fail-open of the socket app, uuid_record
// writing real WAV files, DTMF, SIP INFO `Record:`, blind and attended transfers.
//
// Facts come from docs/freeswitch/REFERENCE.md, FAILOPEN.md (at the repository's root) and the captures in
// traces/ (the captures win where they disagree). Every frame both ways is kept in a
// transcript (FS.Transcript, FS.DumpTranscript) and dumped when a test fails.
//
// # Driving a call
//
//	fs := fstest.Start(t, fstest.Options{
//		Profile:  fstest.Profile{Name: "internal", RecordPath: dir, RecordTemplate: "${callrec_rec_prefix}${uuid}.wav"},
//		Dialplan: fstest.MustParseDialplan(xmlBytes),
//		Phones:   map[string]fstest.Phone{"1001": {ToneHz: 700}},
//		External: fstest.External{ToneHz: 1000},
//	})
//	call, _ := fs.Inbound(ctx, fstest.CallSpec{From: "+34600111222", To: "34911234567"})
//	// the dialplan's `socket 127.0.0.1:PORT async full` dials the controller under test
//	b, _ := call.WaitLeg(ctx, "1001")   // the leg `bridge user/1001` created
//	_ = b.WaitAnswer(ctx)
//	fs.Advance(10 * time.Second)        // virtual time: a 10 s call in no time
//	b.Hangup("NORMAL_CLEARING")         // the user's BYE
//	w, _ := fs.WAV(path)                // what uuid_record wrote; w.Hears(0, 700, from, to)
//
// # The far ends
//
// Leg methods act as the phone or carrier behind a leg: Answer, Hangup(cause), Hold/Unhold,
// SendDTMF (RFC 2833, fired only while something reads the channel), SendInfoRecord
// (INFO `Record: on|off`, returns the SIP status and reason), BlindTransfer (REFER; the
// returned Refer has the 202/403 and WaitNotify for the NOTIFY sipfrag), and
// FS.AttendedTransfer(a, b). Phones (user/<ext>) and External (gateway) answer after
// AnswerAfter, or Reject with a cause, or never (NoAnswer). Inspect with Var, Vars, State,
// WaitState, WaitAnswer, WaitHangup, HeardDigits, FS.AppLog, FS.Leg(s), Call.WaitLeg.
//
// # Faults and load
//
// FS.SetFaults delays or drops command replies or closes the TCP connection on a chosen
// command; FS.InjectFrame writes raw (malformed) bytes on a leg's connection; FS.DropConn
// drops it without notice. Options.CollectStats with FS.Stats gives the controller's
// connect→first-command and event→reaction latencies (cmd/fsload prints them).
//
// # Dialplan
//
// ParseDialplan reads the standard XML format; Dialplan.Hunt returns the actions a call
// would run (fsconf can test its rendered XML with it directly). Conditions on
// destination_number, caller_id_number, ${var} and other caller-profile fields, regex
// captures $1…$9, anti-actions, break, continue="true", inline="true"; ${var} and
// ${strftime(…)} are expanded when each action runs.
//
// # Time
//
// All timestamps and all audio come from a virtual clock: wall time times
// Options.TimeScale plus every FS.Advance. A WAV's length is the virtual time between
// start and stop; audio is synthesised from the virtual timestamps of answer, bridge,
// hold and hangup: each party sends a sine of its own ToneHz while its media is up, and a
// leg hears its bridge partner while bridged and neither holds.
//
// # What is simulated, and what is not
//
// Implemented: connect reply, command replies and -ERR texts, the async/full gate,
// myevents (sticky, own uuid only), event/nixevent/noevents, filters (positive, negative
// "-", regex "/re/"), divert_events, linger/nolinger and both disconnect notices, the
// connect timeout (Options.ConnectTimeout, default 25 s), sendmsg execute/hangup (queued,
// run by the park or bridge loop), api/bgapi (BACKGROUND_JOB with body), inbound auth;
// dialplan apps set, export (incl. nolocal:), unset, answer, pre_answer, hangup, transfer,
// bridge (user/…, sofia/gateway/…, sofia/<profile>/…, {vars}), park, socket, playback
// (instant), blind_transfer_ack, intercept, bind_digit_action, record_session (a relative
// path is written under sound_prefix or Options.BaseDir, and reported so); api
// uuid_record, uuid_setvar/getvar, uuid_exists, uuid_kill, uuid_transfer, uuid_bridge,
// uuid_broadcast (app::arg too), uuid_displace (reply only), uuid_dump, reloadxml, xml_locate (the
// dialplan as its source had it, sofia.conf from the profiles), originate of mod_loopback null/
// channels (a tone_stream playback lasts its virtual length); Options.Account applies a
// FreeSWITCH account's permissions and ownership to the recordings; show channels as json,
// global_getvar; mod_event_socket reload/unload/load (FS.ReloadEventSocket, UnloadEventSocket,
// LoadEventSocket, and the api commands): every connection gets the shutdown notice and closes,
// calls keep running with socket_resume false, the listener is back after 100 ms (20 s for an
// `api reload` over ESL), and the socket application is missing meanwhile (eventsocket.go).
//
// After the linger notice the last events of a hangup (CHANNEL_UNBRIDGE, RECORD_STOP,
// CHANNEL_HANGUP_COMPLETE) reach a lingering connection 20 ms (wall time) later, and an
// `exit` sent before then loses them, as on the rig (FAILOPEN.md §2.1). A controller must
// keep reading after the notice.
//
// Checked against the real FreeSWITCH 1.10.12 captures in traces/ (replay_test.go replays
// them frame by frame: envelopes, reply texts, api bodies, event order, the order of every
// non-variable header, the URL encoding, and that no extra frame is sent): basic,
// basic-readonly, record-order, dtmf, info, info-norec, info-disabled, info-myevents-only,
// refer-1leg, refer-bridged, refer-bridged-xferev and refer-bridged-confirm-nack (both
// connections), fo-exp2a, fo-exp3, fo-exp4b, fo-exp5a, fo-exp5b, fo-exp6c, fo-exp6d, fo-exp7;
// and info-inbound-ALL: the order of the call's events on an inbound `event plain ALL`
// connection, from CHANNEL_STATE CS_NEW, CS_INIT and CHANNEL_CREATE to CHANNEL_DESTROY (still
// CS_REPORTING) and CHANNEL_STATE CS_DESTROY. refer-bridged-xferev-inbound-ALL is not matched:
// on the rig an originated leg starts with CHANNEL_OUTGOING (CS_NONE) and a transfer fires
// PRIVATE_COMMAND. Values of channel variables and of the partner's caller profile are not
// compared (the stand-in's calls have other variables).
//
// A confirmed blind transfer (confirm_blind_transfer) follows refer-bridged-confirm-nack: the
// transferor's bridge ends (CHANNEL_UNBRIDGE), its running applications complete (bridge, then
// the socket app's CHANNEL_UNPARK and EXECUTE_COMPLETE), and only then does it enter CS_PARK
// (CHANNEL_STATE, CHANNEL_PARK); an originated B-leg with no application parks the same way. On
// a refusal (blind_transfer_ack false, or the transferee's dialplan running out) the phone gets
// NOTIFY 403 and the transferor an inline transfer to intercept:<transferee>, which its own
// thread runs a random 0–40 ms of wall time later (Options.InterceptLatency): CHANNEL_UNPARK,
// CS_ROUTING, CS_EXECUTE, EXECUTE and EXECUTE_COMPLETE intercept. intercept is a
// uuid_bridge with the interceptor as originator: both legs leave what they run and pass
// CS_HIBERNATE, CS_RESET, CS_SOFT_EXECUTE and a CHANNEL_EXECUTE uuid_bridge that never
// completes; CHANNEL_BRIDGE fires on the interceptor (the transferor) only, the other leg
// enters CS_EXCHANGE_MEDIA with no dialplan left (its hangup has no EXECUTE_COMPLETE). When
// the other leg hangs up, the interceptor gets CHANNEL_UNBRIDGE and CS_EXECUTE, and hangs up
// NORMAL_CLEARING when its extension has nothing left. Only the end of the transferee's
// extension parks it (CS_PARK, park_timeout=10:blind_transfer), and only while its confirm
// flag is still set: `blind_transfer_ack false` clears the flag without parking, so if the
// extension then ends before the intercept arrives the transferee is hung up NORMAL_CLEARING,
// the intercept finds nothing and the transferor's inline extension ends too — both parties
// lost, as on a real switch (switch_ivr.c switch_ivr_blind_transfer_ack,
// switch_core_state_machine.c switch_core_standard_on_execute). With no ack the extension's end
// fails the transfer itself and parks the transferee, and the intercept always re-joins. The
// api uuid_bridge and attended transfers still join the legs directly, without this state path.
//
// The dialplan is read at each lookup: FS.SetDialplan stages new files and `api reloadxml`
// (or FS.ReloadXML, "+OK [Success]") loads them; a leg already running an extension keeps its
// actions.
//
// Not simulated (TODO): static (non-async) socket mode behaves as async; json/xml event
// formats are sent as plain; the bridge is not suspended while a sendmsg app runs on a
// bridged leg; digit timeouts of bind_digit_action; recording_follow_transfer; RECORD_*
// variables other than STEREO/READ_ONLY/WRITE_ONLY/TOGGLE_ON_REPEAT/MIN_SEC; media bypass;
// playback takes no virtual time; the connect timeout is wall time and exact (FreeSWITCH
// counts whole epoch seconds: 24–25 s); events the rig sends that no controller of callrec
// uses (CODEC, CALL_UPDATE, MEDIA_BUG_*, API, PRESENCE_IN, HEARTBEAT, RE_SCHEDULE …).
package fstest
