// The Node runtime's Runtime API client: one keep-alive TCP connection, HTTP/1.1 by hand.
//
// Why not node:http: its request and response objects, streams and event emitters run a
// few hundred lines of JavaScript per request. A process serving 1/64 of the events at
// concurrency 64 runs them so rarely that V8 never optimises them, and the no-op's CPU per
// invoke nearly doubled from c=8 to c=64 (docs/speed.md, "Concurrency 64"). Here a request
// is one string written once, and an answer is cut out of the bytes received.
//
// Requests are pipelined (HTTP/1.1 answers come back in order): the runtime writes its
// POST of an answer and its next GET /next together, one write for both, and Lamina's
// Runtime API, seeing the GET already there, sends the POST's 202 with the next event: one
// write and one wake-up each way per invoke (docs/speed.md). The connection is
// unreferenced while nothing is outstanding, so a handler's empty event loop still ends
// the invoke ('beforeExit'), as with node:http's pooled sockets. A request written on a
// connection that had already been answered on is retried once on a new connection if
// that connection closes first (a server dropping an idle keep-alive connection, or
// answering the POST and closing before the pipelined GET).

import net from 'node:net';

export const API_PREFIX = '/2018-06-01/runtime';
const HEAD_END = Buffer.from('\r\n\r\n');
const MAX_HEAD = 64 * 1024; // an answer's head larger than this is not the Runtime API's
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

class Pending {
  constructor(text, resolve, reject) {
    this.text = text; // the whole request, written as one utf-8 string
    this.resolve = resolve;
    this.reject = reject;
    this.reused = false; // written on a connection that had answered before
    this.retried = false;
  }
}

const ignore = () => {};

/**
 * Parse an answer's head ("HTTP/1.1 200 OK", headers): names lower-cased like node:http.
 * Walked with indexOf over the one string, without an array of lines or a trimmed copy
 * of each name (HTTP/1.1 allows no space before the colon): this runs once per answer,
 * and it was the runtime's largest own cost per event (docs/speed.md).
 */
export function parseHead(text) {
  let eol = text.indexOf('\r\n');
  if (eol < 0) eol = text.length;
  const space = text.indexOf(' ');
  const status = space > 0 && space < eol && text.startsWith('HTTP/')
    ? Number(text.slice(space + 1, space + 4)) : NaN;
  if (!Number.isInteger(status) || (space + 4 < eol && text.charCodeAt(space + 4) !== 32)) {
    throw new Error(`bad status line from the Runtime API: ${text.slice(0, eol)}`);
  }
  const headers = {};
  const size = text.length;
  let pos = eol + 2;
  while (pos < size) {
    let end = text.indexOf('\r\n', pos);
    if (end < 0) end = size;
    const colon = text.indexOf(':', pos);
    if (colon > pos && colon < end) {
      const name = text.slice(pos, colon).toLowerCase();
      const value = text.slice(colon + 1, end).trim();
      const prior = headers[name];
      headers[name] = typeof prior === 'string' ? `${prior}, ${value}` : value;
    }
    pos = end + 2;
  }
  return { status, headers };
}

/**
 * A chunked body decoded from `buf` at `start`: {body, end}, or null when incomplete.
 * (The Runtime API answers with Content-Length; this is for completeness.)
 */
function decodeChunked(buf, start) {
  const parts = [];
  let pos = start;
  for (;;) {
    const eol = buf.indexOf('\r\n', pos);
    if (eol < 0) return null;
    const size = parseInt(buf.toString('latin1', pos, eol).split(';', 1)[0], 16);
    if (!Number.isInteger(size) || size < 0) throw new Error('bad chunk size from the Runtime API');
    pos = eol + 2;
    if (size === 0) {
      // Trailers (ignored), up to the empty line.
      for (;;) {
        const end = buf.indexOf('\r\n', pos);
        if (end < 0) return null;
        if (end === pos) return { body: Buffer.concat(parts), end: end + 2 };
        pos = end + 2;
      }
    }
    if (buf.length < pos + size + 2) return null;
    parts.push(buf.subarray(pos, pos + size));
    pos += size + 2;
  }
}

export class RuntimeApiClient {
  constructor(address) {
    const colon = address.lastIndexOf(':');
    this.hostname = address.slice(0, colon).replace(/^\[|\]$/g, '') || '127.0.0.1';
    this.port = Number(address.slice(colon + 1));
    const host = this.hostname.includes(':') ? `[${this.hostname}]` : this.hostname;
    this.hostLine = `Host: ${host}:${this.port}\r\n`;
    this.nextText = `GET ${API_PREFIX}/invocation/next HTTP/1.1\r\n${this.hostLine}\r\n`;
    this.socket = null;
    this.answered = false; // the current connection has delivered an answer
    this.waiting = []; // requests written on the current connection, oldest first
    this.lastError = null;
    this.resetParser();
  }

  resetParser() {
    this.chunks = [];
    this.size = 0;
    this.head = null; // {status, headers, length (-1: chunked), start}
  }

  // ------------------------------------------------------------------ requests

  /** GET /next: resolves to {status, headers, body} once an event arrives. */
  next() {
    return this.send(this.nextText);
  }

  /**
   * POST an answer (`responseText` or `errorText`) and GET the next event, in one write.
   * Resolves to the next event. The POST's own answer (the 202) carries nothing the
   * runtime uses, so it has no promise of its own: if the POST fails, the next event's
   * promise rejects with its error. One promise per event, not two.
   */
  answerAndNext(text) {
    return new Promise((resolve, reject) => {
      this.write(
        [new Pending(text, ignore, reject), new Pending(this.nextText, resolve, reject)],
        text + this.nextText,
      );
    });
  }

  responseText(requestId, body) {
    return this.postText(`/invocation/${requestId}/response`, body, '');
  }

  errorText(requestId, error) {
    return this.postText(`/invocation/${requestId}/error`, JSON.stringify(error),
      'Content-Type: application/json\r\n');
  }

  postError(requestId, error) {
    return this.send(this.errorText(requestId, error));
  }

  postInitError(error) {
    return this.send(this.postText('/init/error', JSON.stringify(error),
      'Content-Type: application/json\r\n' +
      `Lambda-Runtime-Function-Error-Type: ${headerValue(error.errorType)}\r\n`));
  }

  postText(urlPath, body, extraHeaders) {
    return `POST ${API_PREFIX}${urlPath} HTTP/1.1\r\n${this.hostLine}${extraHeaders}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  }

  /**
   * Open a streamed POST of the answer: its head goes out now; `write` sends a chunk,
   * `end` the last chunk with the trailers given. `done` resolves to the server's answer.
   */
  openStream(requestId, contentType) {
    const socket = this.connected();
    let done;
    const head =
      `POST ${API_PREFIX}/invocation/${requestId}/response HTTP/1.1\r\n${this.hostLine}` +
      `Content-Type: ${headerValue(contentType)}\r\n` +
      'Lambda-Runtime-Function-Response-Mode: streaming\r\n' +
      'Transfer-Encoding: chunked\r\n' +
      'Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n';
    const promise = new Promise((resolve, reject) => {
      done = new Pending(head, resolve, reject);
    });
    // A stream cannot be replayed: no retry on a new connection.
    done.retried = true;
    this.waiting.push(done);
    socket.ref();
    socket.write(head);
    return {
      write(chunk, callback) {
        if (chunk.length === 0) {
          callback(); // an empty chunk would end the body
          return;
        }
        socket.cork();
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        socket.write('\r\n', callback);
        socket.uncork();
      },
      end(trailers) {
        let text = '0\r\n';
        for (const [name, value] of Object.entries(trailers)) text += `${name}: ${headerValue(value)}\r\n`;
        socket.write(`${text}\r\n`);
      },
      done: promise,
    };
  }

  send(text) {
    return new Promise((resolve, reject) => {
      const pending = new Pending(text, resolve, reject);
      this.write([pending], text);
    });
  }

  /** Write `text` (the requests of `pendings`, in order) on the connection, opened if need be. */
  write(pendings, text) {
    const socket = this.connected();
    for (const pending of pendings) {
      pending.reused = this.answered;
      this.waiting.push(pending);
    }
    socket.ref();
    socket.write(text);
  }

  connected() {
    if (this.socket !== null) return this.socket;
    // `onread`: bytes land in one reused buffer and go straight to onData, without the
    // Readable stream machinery ('data' events, a new buffer per read).
    const socket = net.connect({
      host: this.hostname,
      port: this.port,
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (n, buf) => this.onData(socket, buf, n) },
    });
    // No Nagle: a request split over two segments would wait for a delayed ACK.
    socket.setNoDelay(true);
    socket.on('error', (err) => {
      this.lastError = err; // 'close' follows
    });
    socket.on('close', () => this.onClose(socket));
    this.socket = socket;
    this.answered = false;
    this.lastError = null;
    this.resetParser();
    return socket;
  }

  // ------------------------------------------------------------------ answers

  onData(socket, buf, n) {
    if (socket !== this.socket) return;
    // A copy: the read buffer is reused by the next read.
    this.chunks.push(Buffer.from(buf.subarray(0, n)));
    this.size += n;
    try {
      while (this.size > 0 && this.takeAnswer());
    } catch (err) {
      this.lastError = err;
      socket.destroy(); // 'close' rejects what is outstanding
    }
  }

  /** Cut one whole answer out of the bytes received; false if it is not all here yet. */
  takeAnswer() {
    // A body of known length is joined once, when all of it is here (not at every read).
    if (this.head !== null && this.head.length >= 0 && this.size < this.head.start + this.head.length) {
      return false;
    }
    let buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    this.chunks = [buf];
    if (this.head === null) {
      const end = buf.indexOf(HEAD_END);
      if (end < 0) {
        if (this.size > MAX_HEAD) throw new Error('the Runtime API sent an oversized head');
        return false;
      }
      const { status, headers } = parseHead(buf.toString('latin1', 0, end));
      const coding = headers['transfer-encoding'];
      const chunked = coding !== undefined && /\bchunked\b/i.test(coding);
      const length = chunked ? -1 : Number(headers['content-length'] ?? 0);
      if (!Number.isSafeInteger(length) || length < -1) {
        throw new Error('bad Content-Length from the Runtime API');
      }
      this.head = { status, headers, length, start: end + 4 };
    }
    const { status, headers, length, start } = this.head;
    let body;
    let end;
    if (length >= 0) {
      end = start + length;
      if (buf.length < end) return false;
      body = buf.subarray(start, end);
    } else {
      const decoded = decodeChunked(buf, start);
      if (decoded === null) return false;
      ({ body, end } = decoded);
    }
    buf = buf.subarray(end);
    this.chunks = buf.length ? [buf] : [];
    this.size = buf.length;
    this.head = null;
    this.answered = true;
    const pending = this.waiting.shift();
    if (this.waiting.length === 0) this.socket.unref();
    if (pending !== undefined) pending.resolve({ status, headers, body });
    return true;
  }

  onClose(socket) {
    if (socket !== this.socket) return;
    this.socket = null;
    const outstanding = this.waiting;
    this.waiting = [];
    const error = this.lastError ?? new Error('the Runtime API closed the connection');
    for (const pending of outstanding) {
      if (pending.reused && !pending.retried) {
        pending.retried = true;
        this.write([pending], pending.text);
      } else {
        pending.reject(error);
      }
    }
  }
}

/** A header value on one line: a CR or LF would end the head early. */
function headerValue(value) {
  return String(value).replace(/[\r\n]+/g, ' ');
}
