'use strict';
// wsproto-rs: the public entry point.
//
//   Connection        the sans-IO engine (bytes in, events out)
//   WebSocket         an EventEmitter WebSocket over a net/tls socket
//   WebSocketServer   upgrades from an http.Server or raw sockets
//   connect(url)      a client WebSocket over net/tls

const { Connection, selectSubprotocol } = require('./connection.js');
const { WebSocket, WebSocketServer, connect, CONNECTING, OPEN, CLOSING, CLOSED } = require('./socket.js');
const native = require('./native.js');

module.exports = {
  Connection,
  WebSocket,
  WebSocketServer,
  connect,
  selectSubprotocol,
  native,
  CONNECTING,
  OPEN,
  CLOSING,
  CLOSED,
};
