// Node `ws` server with the bench protocol (the same behaviour as bench-floor and
// examples/bench-server): `PXL_WS_PORT=9003 node bench/node/server.js`, socket at /ws,
// prints `pid N` once listening. Install once with `npm ci --prefix bench/node`.
'use strict';
const { WebSocketServer } = require('ws');

const port = Number(process.env.PXL_WS_PORT || 3000);
const rooms = new Map(); // room -> Set<socket>
const wss = new WebSocketServer({ port, path: '/ws', perMessageDeflate: false });

function reply(type, action, response, id) {
  const frame = { type, action };
  if (response !== undefined) frame.response = response;
  if (id !== undefined) frame.id = id;
  return JSON.stringify(frame);
}

wss.on('connection', (ws) => {
  const joined = new Set();
  ws.on('message', (raw, isBinary) => {
    let msg;
    try {
      msg = JSON.parse(raw.toString());
    } catch {
      ws.send(JSON.stringify({ type: 'error', action: 'message', data: { error: 'Failed to parse JSON', code: 'INVALID_JSON' } }));
      return;
    }
    const { type, action, data, id } = msg;
    if (type === 'bench' && action === 'echo') {
      ws.send(reply('bench', 'echo', data === undefined ? null : data, id));
    } else if (type === 'bench' && action === 'broadcast') {
      const members = rooms.get(data && data.room);
      if (members) {
        // Serialised once, sent to every member.
        const frame = JSON.stringify({ type: 'bench', action: 'message', data });
        for (const member of members) member.send(frame);
      }
      ws.send(reply('bench', 'broadcast', undefined, id));
    } else if (type === 'system' && action === 'joinRoom') {
      const room = data && data.roomName;
      if (!rooms.has(room)) rooms.set(room, new Set());
      rooms.get(room).add(ws);
      joined.add(room);
      ws.send(reply('system', 'joinRoom', { success: true, message: `Successfully joined room: ${room}` }, id));
    } else {
      ws.send(JSON.stringify({ type: 'error', action: 'message', data: { error: 'No handler', code: 'UNKNOWN_ROUTE' }, id }));
    }
  });
  ws.on('close', () => {
    for (const room of joined) {
      const members = rooms.get(room);
      if (members) {
        members.delete(ws);
        if (members.size === 0) rooms.delete(room);
      }
    }
  });
});

wss.on('listening', () => {
  console.log(`node ws server on ws://127.0.0.1:${port}/ws`);
  console.log(`pid ${process.pid}`);
});
process.on('SIGTERM', () => process.exit(0));
