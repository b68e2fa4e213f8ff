// Compiled (never run) by `tsc -p test/types` in `make test-node`: code a
// TypeScript user would write against lib/index.d.ts must type-check, and
// each `@ts-expect-error` line is misuse the types must reject (tsc fails
// if such a line compiles).

import * as http from 'node:http';
import * as net from 'node:net';
import { Connection, WebSocket, WebSocketServer, connect, selectSubprotocol, OPEN } from '../../lib/index';
import type { Event, WsprotoError, RequestInfo, ResponseInfo, ConnectionState } from '../../lib/index';

export function sansIo(bytes: Buffer): Buffer | null {
  const server = Connection.server({ maxMessageSize: 1 << 20, autoPong: false });
  for (const ev of server.receiveData(bytes)) {
    describe(ev);
    if (ev.type === 'request') {
      const req: RequestInfo = ev.request;
      server.accept({ subprotocol: selectSubprotocol(req.subprotocols, ['chat']), deflate: true });
    }
  }
  server.sendText('hello');
  server.sendBinary(new Uint8Array([1, 2, 3]));
  server.sendFragment('binary', Buffer.from('a'), false);
  server.sendFragment('binary', Buffer.from('b'), true);
  server.ping('p');
  server.close(1000, 'bye');
  const state: ConnectionState = server.state;
  void state;
  const parts: Buffer[] | null = server.takeOutputParts();
  void parts;
  server.receiveInto(bytes, {
    onText(data) {
      void (typeof data === 'string' ? data.length : data.byteLength);
    },
    onClose(code, reason) {
      void [code.toFixed(), reason.toUpperCase()];
    },
  });
  // @ts-expect-error a fragment's kind is 'text' or 'binary'
  server.sendFragment('ping', 'x', true);
  // @ts-expect-error close codes are numbers
  server.close('1000');
  const client = Connection.client({ host: 'example.com', path: '/chat', subprotocols: ['chat'], maskSeed: 1 });
  // @ts-expect-error a client needs a host
  Connection.client({ path: '/' });
  return client.takeOutput();
}

function describe(ev: Event): string {
  switch (ev.type) {
    case 'text':
      return typeof ev.data === 'string' ? ev.data : ev.data.toString('utf8');
    case 'binary':
    case 'ping':
    case 'pong':
      return ev.data.toString('hex');
    case 'textChunk':
    case 'binaryChunk':
    case 'rejectBody':
      return `${ev.data.length} ${ev.fin}`;
    case 'close':
      return `${ev.code} ${ev.reason}`;
    case 'error': {
      const e: WsprotoError = ev.error;
      return `${e.code} ${e.closeCode ?? ''}`;
    }
    case 'request':
      return ev.request.path;
    case 'accepted':
    case 'rejected': {
      const r: ResponseInfo = ev.response;
      return String(r.status);
    }
  }
}

export function sockets(): void {
  const server = http.createServer();
  const wss = new WebSocketServer({
    server,
    path: '/chat',
    protocols: ['chat'],
    verifyClient: (request) => (request.origin === 'https://example.com' ? true : { status: 403, body: 'no' }),
    closeTimeout: 1000,
    handshakeTimeout: 5000,
    maxMessageSize: 1 << 20,
  });
  wss.on('connection', (ws, request) => {
    void request.subprotocols;
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('close', (code, reason) => void [code + 1, reason.length]);
    // @ts-expect-error 'message' listeners get a Buffer, not a string
    ws.on('message', (data: string) => void data);
  });
  wss.on('handshakeError', (err) => void err.code);
  net.createServer((sock) => wss.acceptSocket(sock));

  const ws: WebSocket = connect('ws://127.0.0.1:8080/chat', { protocols: ['chat'], handshakeTimeout: 2000, deflate: true });
  ws.on('open', (response) => {
    if (ws.readyState === OPEN) ws.send(`hello ${response.subprotocol ?? ''}`);
  });
  ws.on('error', (err) => void err.code);
  ws.on('unexpected-response', (response, body) => void [response.status, body.length]);
  ws.close(1000, 'done');
  // @ts-expect-error there is no such event
  ws.on('messages', () => {});
  // @ts-expect-error handshakeTimeout is a number of milliseconds
  connect('ws://127.0.0.1/', { handshakeTimeout: '10s' });
}
