// The Node modesl 1.2.1 peer of issue 13: the same job as bench/bare (and as callrec's Session
// for an inbound recorded DDI call), written the way modesl's outbound server is meant to be
// used. On connect: `socket_resume false`, a filter on the call's own leg, the events it needs
// (modesl adds its required BACKGROUND_JOB and CHANNEL_EXECUTE_COMPLETE), `linger`, then hand
// the call back with `uuid_transfer <dest> XML <context>`; `uuid_record start` on CHANNEL_ANSWER;
// after CHANNEL_HANGUP_COMPLETE `exit` and close.
//
//   node peer.js --listen 127.0.0.1:8084 --spool /tmp/spool --debug 127.0.0.1:6062
//
// --debug serves GET /debug/vars on a loopback address: {"heap_used": …, "rss": …} after a
// full GC (run node with --expose-gc), for the driver (bench/driver) to read from outside.
'use strict';
const esl = require('modesl');
const http = require('http');
const path = require('path');

function arg(name, def) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

function splitAddr(a) {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
}

const listen = splitAddr(arg('listen', '127.0.0.1:8084'));
const spool = arg('spool', '/tmp');
const debug = arg('debug', '');

if (debug) {
  const d = splitAddr(debug);
  if (d.host !== '127.0.0.1' && d.host !== 'localhost' && d.host !== '::1') {
    console.error('peer: --debug must be a loopback address');
    process.exit(1);
  }
  http.createServer((req, res) => {
    if (global.gc) global.gc();
    const m = process.memoryUsage();
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ heap_used: m.heapUsed, rss: m.rss, external: m.external }));
  }).listen(d.port, d.host);
}

const server = new esl.Server({ host: listen.host, port: listen.port, myevents: false }, () => {
  console.error('peer: listening on ' + listen.host + ':' + listen.port);
});

// A connection that fails (the driver's readiness probe, a peer that closes early) must not
// take the process down: modesl re-emits socket errors on the Connection.
server.on('connection::open', (conn) => {
  conn.on('error', () => {});
});

server.on('connection::ready', (conn) => {
  const data = conn.getInfo();
  const uuid = data.getHeader('Unique-ID');
  const dest = data.getHeader('Caller-Destination-Number');
  const route = data.getHeader('Caller-Context');
  if (!uuid || !dest || !route) {
    conn.disconnect();
    return;
  }
  let recording = false;
  let done = false;
  const record = () => {
    if (recording) return;
    recording = true;
    conn.api('uuid_record', [uuid, 'start', path.join(spool, uuid + '.wav')], () => {});
  };
  conn.on('esl::event::CHANNEL_ANSWER::' + uuid, record);
  conn.on('esl::event::CHANNEL_HANGUP_COMPLETE::' + uuid, () => {
    if (done) return;
    done = true;
    conn.disconnect();
  });
  // socket_resume false first: a close mid-bridge would otherwise hang up the user; the filter
  // before `event`, or every channel's events flow in meanwhile.
  conn.api('uuid_setvar', [uuid, 'socket_resume', 'false'], () => {
    conn.filter('Unique-ID', uuid, () => {
      conn.events('plain', ['CHANNEL_ANSWER', 'CHANNEL_HANGUP_COMPLETE'], () => {
        conn.sendRecv('linger 30', () => {
          if (data.getHeader('Answer-State') === 'answered') record();
          conn.api('uuid_transfer', [uuid, dest, 'XML', route], () => {});
        });
      });
    });
  });
});
