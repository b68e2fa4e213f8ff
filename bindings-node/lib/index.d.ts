// Types for the hand-written JS layer of wsproto-rs. The addon's own
// functions are typed in ../index.d.ts, which napi generates.

import type { EventEmitter } from 'node:events';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import type {
  AcceptOptions as NativeAcceptOptions,
  DeflateOptions,
  RequestInfo,
  ResponseInfo,
} from '../index';

export type { DeflateOptions, RequestInfo, ResponseInfo };

/** Bytes the API accepts; strings are sent as their UTF-8. */
export type Data = string | Uint8Array | ArrayBuffer | ArrayBufferView;

/** Headers as a flat [name, value, ...] list (like rawHeaders) or an object. */
export type Headers = string[] | Record<string, string | number | Array<string | number>>;

/** The engine's limits and automatic behaviour. */
export interface EngineOptions {
  /** Largest frame payload in bytes (default 16 MiB); larger fails with 1009. */
  maxFrameSize?: number;
  /** Largest message in bytes after decompression (default 64 MiB). */
  maxMessageSize?: number;
  /** Most frames per message (default 131072). */
  maxFragments?: number;
  /** Largest opening-handshake head (default 16 KiB). */
  maxHandshakeSize?: number;
  /** Most header lines in the opening handshake (default 100). */
  maxHeaders?: number;
  /** Answer pings automatically (default true). */
  autoPong?: boolean;
  /** Answer a close frame automatically (default true). */
  autoClose?: boolean;
  /** Deliver messages in pieces as they arrive, at least one per frame (default false). */
  partialMessages?: boolean;
  /** Deterministic mask keys: for tests only. */
  maskSeed?: number;
  /** Whole text messages from receiveData as 'string' (default) or 'buffer'. */
  textAs?: 'string' | 'buffer';
}

export interface ClientOptions extends EngineOptions {
  /** The Host header (with the port when not the default). */
  host: string;
  /** Request target, starting with '/' (default '/'). */
  path?: string;
  origin?: string;
  subprotocols?: string[];
  headers?: Headers;
  /** Offer permessage-deflate (true for the defaults). */
  deflate?: boolean | DeflateOptions;
}

/** An Error with a stable code: WSPROTO_LOCAL_* (misuse) or WSPROTO_REMOTE_* (peer). */
export interface WsprotoError extends Error {
  code: string;
  /** The close code sent to the peer, for protocol failures. */
  closeCode?: number | null;
  /** The HTTP status sent to the peer, for refused handshakes. */
  httpStatus?: number | null;
}

export type ConnectionState = 'CONNECTING' | 'OPEN' | 'LOCAL_CLOSING' | 'REMOTE_CLOSING' | 'CLOSED';

export type Event =
  | { type: 'request'; request: RequestInfo }
  | { type: 'accepted'; response: ResponseInfo }
  | { type: 'rejected'; response: ResponseInfo }
  /** A piece of a refusal's body; a chunked body arrives decoded. */
  | { type: 'rejectBody'; data: Buffer; fin: boolean }
  | { type: 'text'; data: string | Buffer }
  | { type: 'binary'; data: Buffer }
  | { type: 'textChunk'; data: Buffer; fin: boolean }
  | { type: 'binaryChunk'; data: Buffer; fin: boolean }
  | { type: 'ping'; data: Buffer }
  | { type: 'pong'; data: Buffer }
  | { type: 'close'; code: number; reason: string }
  | { type: 'error'; error: WsprotoError };

/** The methods `receiveInto` calls, one per event. */
export interface EventSink {
  onText?(data: string | Buffer): void;
  onBinary?(data: Buffer): void;
  onChunk?(isBinary: boolean, data: Buffer, fin: boolean): void;
  onPing?(data: Buffer): void;
  onPong?(data: Buffer): void;
  onClose?(code: number, reason: string): void;
  onRequest?(request: RequestInfo): void;
  onAccepted?(response: ResponseInfo): void;
  onRejected?(response: ResponseInfo): void;
  onRejectBody?(data: Buffer, fin: boolean): void;
  onError?(error: WsprotoError): void;
}

/** Anything with Node's parsed request line and raw headers (http's `req`). */
export interface ParsedRequest {
  method?: string;
  url?: string;
  httpVersion: string;
  rawHeaders: string[];
}

/** The sans-IO connection: bytes in, events out; commands in, bytes out. */
export declare class Connection {
  private constructor();
  static server(options?: EngineOptions): Connection;
  static client(options: ClientOptions): Connection;
  static open(role: 'client' | 'server', options?: EngineOptions): Connection;
  static fromUpgradeRequest(
    req: ParsedRequest,
    options?: EngineOptions,
  ): { connection: Connection; request: RequestInfo | null; error: WsprotoError | null };
  /**
   * Events completed by `data` (null = end of stream), in order. A close,
   * pong or failure the engine writes by itself is already queued when
   * they are returned.
   */
  receiveData(data: Data | null): Event[];
  /**
   * Like receiveData, calling the sink's methods instead of returning
   * objects, and in order: what a method sends in answer to an event
   * leaves before the close, pong or failure close that the engine writes
   * for a later frame of the same read, as it would event by event.
   */
  receiveInto(data: Uint8Array | null, sink: EventSink, textAsString?: boolean): void;
  accept(options?: { subprotocol?: string | null; headers?: Headers; deflate?: boolean | DeflateOptions }): void;
  reject(options?: { status?: number; headers?: Headers; body?: Data }): void;
  sendText(text: string | Uint8Array): void;
  sendBinary(data: Data): void;
  sendFragment(kind: 'text' | 'binary', data: Data, fin: boolean): void;
  ping(data?: Data): void;
  pong(data?: Data): void;
  close(code?: number, reason?: string): void;
  /** The bytes to write to the transport, or null. */
  takeOutput(): Buffer | null;
  /**
   * The bytes to write as Buffers in order, or null. Buffers over 8 KiB and
   * more that a server sends (without permessage-deflate) are kept, not
   * copied, and appear here as themselves; do not modify them until then.
   */
  takeOutputParts(): Buffer[] | null;
  readonly state: ConnectionState;
  readonly isClient: boolean;
  /** Bytes waiting in the output. */
  readonly bufferedAmount: number;
  /** Received bytes not yet turned into events. */
  readonly bufferedIn: number;
  readonly shouldCloseTransport: boolean;
  releaseMemory(): void;
  /** Frees the native connection now (otherwise at garbage collection). */
  free(): void;
}

export declare function selectSubprotocol(offered: string[], supported: string[]): string | null;

export declare const CONNECTING: 0;
export declare const OPEN: 1;
export declare const CLOSING: 2;
export declare const CLOSED: 3;

export interface WebSocketEvents {
  open: [response: ResponseInfo];
  message: [data: Buffer, isBinary: boolean];
  ping: [data: Buffer];
  pong: [data: Buffer];
  /**
   * The peer's close code and reason (1006 and '' when none arrived); after
   * a protocol failure, the close code we sent and the error's message.
   */
  close: [code: number, reason: string];
  /** With autoClose off: the peer closed; answer with close(). */
  closing: [code: number, reason: string];
  error: [error: WsprotoError];
  drain: [];
  'unexpected-response': [response: ResponseInfo, body: Buffer];
}

/** An EventEmitter WebSocket over a net/tls socket. */
export declare class WebSocket extends EventEmitter {
  private constructor();
  static fromSocket(socket: Duplex, options?: EngineOptions & { role?: 'client' | 'server'; closeTimeout?: number }): WebSocket;
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSING: 2;
  static readonly CLOSED: 3;
  readonly readyState: 0 | 1 | 2 | 3;
  /** Bytes queued in the socket and the engine, not yet handed to the kernel. */
  readonly bufferedAmount: number;
  readonly connection: Connection;
  protocol: string;
  extensions: string[];
  upgradeRequest: RequestInfo | null;
  url: string | null;
  send(data: Data, options?: { binary?: boolean }, cb?: (err?: Error) => void): void;
  send(data: Data, cb?: (err?: Error) => void): void;
  sendFragment(data: Data, options?: { binary?: boolean; fin?: boolean }, cb?: (err?: Error) => void): void;
  ping(data?: Data, cb?: (err?: Error) => void): void;
  pong(data?: Data, cb?: (err?: Error) => void): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  on<K extends keyof WebSocketEvents>(event: K, listener: (...args: WebSocketEvents[K]) => void): this;
  once<K extends keyof WebSocketEvents>(event: K, listener: (...args: WebSocketEvents[K]) => void): this;
}

export type Verdict = true | false | { status?: number; headers?: Headers; body?: Data };

export interface ServerOptions extends EngineOptions {
  /** Attach to this server's 'upgrade' event. */
  server?: HttpServer;
  /** Only upgrade requests for this path (others get 404). */
  path?: string;
  /** Subprotocols in preference order. */
  protocols?: string[];
  handleProtocols?(offered: string[], request: RequestInfo): string | false | null | undefined;
  verifyClient?(request: RequestInfo, req: IncomingMessage | null): Verdict;
  /** Extra headers on every 101 response. */
  headers?: Headers;
  deflate?: boolean | DeflateOptions;
  closeTimeout?: number;
  /**
   * `acceptSocket` only: ms the client has to send its opening handshake
   * before the socket is destroyed and 'handshakeError' is emitted with
   * code WSPROTO_REMOTE_HANDSHAKE_TIMEOUT (default 10000; 0 for none).
   */
  handshakeTimeout?: number;
}

export declare class WebSocketServer extends EventEmitter {
  constructor(options?: ServerOptions, onConnection?: (ws: WebSocket, request: RequestInfo, req: IncomingMessage | null) => void);
  readonly clients: Set<WebSocket>;
  handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    cb?: (ws: WebSocket, request: RequestInfo, req: IncomingMessage) => void,
  ): WebSocket | null;
  acceptSocket(socket: Socket): void;
  close(cb?: () => void): void;
  on(event: 'connection', listener: (ws: WebSocket, request: RequestInfo, req: IncomingMessage | null) => void): this;
  on(event: 'handshakeError', listener: (error: WsprotoError, req: IncomingMessage | null) => void): this;
}

export interface ConnectOptions extends EngineOptions {
  protocols?: string[];
  headers?: Headers;
  origin?: string;
  deflate?: boolean | DeflateOptions;
  closeTimeout?: number;
  /**
   * ms the server has to answer the opening handshake; then 'error' with
   * code WSPROTO_REMOTE_HANDSHAKE_TIMEOUT and 'close' with 1006 (default
   * 10000; 0 for none).
   */
  handshakeTimeout?: number;
  /** Passed to tls.connect for wss:// URLs. */
  tls?: TlsConnectionOptions;
}

export declare function connect(url: string | URL, options?: ConnectOptions): WebSocket;

/** The addon's own functions (see ../index.d.ts). */
export declare const native: typeof import('../index');
