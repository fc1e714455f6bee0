// Lamina's Node.js runtime: runs an unmodified Lambda handler over the Runtime API.
//
// Started by the platform inside an execution environment as `node bootstrap.mjs`, with
// Lambda's environment variables set (_HANDLER, AWS_LAMBDA_RUNTIME_API, LAMBDA_TASK_ROOT, ...).
// It behaves like AWS's Node.js runtime: INIT loads the handler's module (CommonJS or ES
// module), then each event is pulled with GET /next and answered with POST /response or
// POST /error. A handler wrapped in awslambda.streamifyResponse streams its response instead:
// one chunked POST in the Runtime API's streaming mode, written as the handler writes, with
// the error trailers if it fails. Node 20+, no dependencies. The Runtime API client is
// client.mjs: one connection, HTTP/1.1 written and read by hand (not node:http, whose
// per-request JavaScript dominates a no-op's CPU; not fetch, which loads undici on first
// use, ~40 ms of cold start here).

import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { format } from 'node:util';

import { RuntimeApiClient } from './client.mjs';

const BOOTSTRAP_FILE = fileURLToPath(import.meta.url);
const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HTTP_INTEGRATION = 'application/vnd.awslambda.http-integration-response';

// The request being handled, for console lines; AWS prints "undefined" during INIT. Its
// headers, for the tenant (Lambda-Runtime-Aws-Tenant-Id) JSON lines carry when there is
// one: looked up only when something logs.
let currentRequestId;
let currentHeaders;

// ------------------------------------------------------------------------------ console

const stdoutWrite = process.stdout.write.bind(process.stdout);

// Lambda's advanced logging controls, read once as AWS's runtime reads them: the format
// (JSON in any case, anything else is text) and the lowest level written. An unknown
// level writes everything, as TRACE does.
const LEVELS = { TRACE: 1, DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5, FATAL: 6 };
const jsonLogs = process.env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';
const minLevel = LEVELS[process.env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase()] ?? LEVELS.TRACE;

function logLine(level, args) {
  // One write per line, so concurrent writers never interleave inside a line.
  stdoutWrite(`${new Date().toISOString()}\t${currentRequestId}\t${level}\t${format(...args)}\n`);
}

/** errorType in a JSON line: the class's name (`Error`, `TypeError`), as AWS's runtime. */
function jsonErrorType(error) {
  if (error instanceof RuntimeError) return error.name.slice('Runtime.'.length);
  return error?.constructor?.name ?? 'UnknownError';
}

/** JSON.stringify's replacer for a logged value: an Error (at any depth) becomes
 * {errorType, errorMessage, stackTrace} and its own enumerable properties. */
function errorReplacer(_key, value) {
  if (value instanceof Error) {
    return Object.assign({
      errorType: jsonErrorType(value),
      errorMessage: value.message,
      stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
    }, value);
  }
  return value;
}

/** The JSON line AWS's Node.js runtime writes for one console call (without the newline). */
function jsonLine(level, args) {
  // Keys in AWS's order; an undefined requestId (INIT) or message is left out by stringify.
  const record = { timestamp: new Date().toISOString(), level, requestId: currentRequestId };
  const tenantId = currentHeaders?.['lambda-runtime-aws-tenant-id'];
  if (tenantId !== undefined && tenantId !== null) record.tenantId = tenantId;
  if (args.length <= 1) {
    // One value is the message as it is (an object stays an object); one JSON cannot hold
    // (a cycle, a BigInt) is formatted as text.
    record.message = args[0];
    try {
      return JSON.stringify(record, errorReplacer);
    } catch {
      record.message = format(record.message);
      return JSON.stringify(record);
    }
  }
  record.message = format(...args);
  const error = args.find((arg) => arg instanceof Error);
  if (error !== undefined) {
    record.errorType = jsonErrorType(error);
    record.errorMessage = error.message;
    record.stackTrace = typeof error.stack === 'string' ? error.stack.split('\n') : [];
  }
  return JSON.stringify(record);
}

function logJson(level, args) {
  stdoutWrite(`${jsonLine(level, args)}\n`);
}

function noLog() {}

function patchConsole() {
  const write = jsonLogs ? logJson : logLine;
  const method = (level) => (LEVELS[level] >= minLevel ? (...args) => write(level, args) : noLog);
  console.info = method('INFO');
  console.log = console.info;
  console.warn = method('WARN');
  console.error = method('ERROR');
  console.debug = method('DEBUG');
  console.fatal = method('FATAL');
  if (LEVELS.TRACE < minLevel) console.trace = noLog;
  else if (jsonLogs) console.trace = method('TRACE');
  else {
    console.trace = (...args) => {
      const holder = {};
      Error.captureStackTrace(holder, console.trace);
      const stack = holder.stack.split('\n').slice(1).join('\n');
      logLine('TRACE', [`Trace: ${format(...args)}\n${stack}`]);
    };
  }
}

// ------------------------------------------------------------------------------ errors

class RuntimeError extends Error {
  constructor(name, message, cause) {
    super(message);
    // Not enumerable, as a class's name is: a JSON log line lists no `name` key for it.
    Object.defineProperty(this, 'name', { value: name, writable: true, configurable: true });
    if (cause?.stack) {
      // Keep the user's frames: the first line is ours, the rest is where it went wrong.
      const frames = String(cause.stack).split('\n').filter((l) => /^\s+at /.test(l));
      this.stack = [`${name}: ${message}`, ...frames].join('\n');
    }
  }
}

function isError(value) {
  return value instanceof Error || (value !== null && typeof value === 'object' &&
    typeof value.message === 'string' && typeof value.stack === 'string');
}

/** The body Lambda's Node runtime posts: {errorType, errorMessage, trace}. */
function errorBody(error) {
  try {
    if (isError(error)) {
      return {
        errorType: error.name ?? 'Error',
        errorMessage: error.message ?? '',
        trace: typeof error.stack === 'string' ? error.stack.split('\n') : [],
      };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch {
    return {
      errorType: 'handled',
      errorMessage: 'callback called with Error argument, but there was a problem while ' +
        'retrieving one or more of its message, name, and stack',
      trace: [],
    };
  }
}

/**
 * Log an error the invoke (or INIT) ended with, as AWS's runtime does: in text, `label` and
 * the answer's body; in JSON, the error itself as an ERROR line's message (a value that is
 * not an Error is wrapped in one). Either way it is an ERROR line, filtered by the level.
 */
function logError(label, body, error) {
  if (LEVELS.ERROR < minLevel) return;
  if (jsonLogs) {
    logJson('ERROR', [error instanceof Error ? error : new Error(error)]);
    return;
  }
  const { trace, ...rest } = body;
  logLine('ERROR', [`${label} \t${JSON.stringify({ ...rest, stack: trace })}`]);
}

// ------------------------------------------------------------------------------ handler

function typeModuleFor(file) {
  // The nearest package.json decides whether a .js file is an ES module.
  let dir = path.dirname(file);
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (existsSync(candidate)) {
      try {
        return JSON.parse(readFileSync(candidate, 'utf8')).type === 'module';
      } catch {
        return false;
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return false;
    dir = parent;
  }
}

function isFile(file) {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

async function importFile(file) {
  return import(pathToFileURL(file).href);
}

/** Load `<task root>/<dir>/<module>` the way AWS does: .js, .mjs, .cjs, then node_modules. */
async function loadModule(taskRoot, moduleDir, moduleName) {
  const base = path.resolve(taskRoot, moduleDir, moduleName);
  const require = createRequire(base);
  if (isFile(base)) return require(base);
  const js = `${base}.js`;
  if (isFile(js)) return typeModuleFor(js) ? importFile(js) : require(js);
  if (isFile(`${base}.mjs`)) return importFile(`${base}.mjs`);
  if (isFile(`${base}.cjs`)) return require(`${base}.cjs`);
  // Last, a package installed under node_modules; its failure is the user's message.
  const fromRuntime = createRequire(BOOTSTRAP_FILE);
  const resolved = fromRuntime.resolve(moduleName, { paths: [path.resolve(taskRoot, moduleDir)] });
  return resolved.endsWith('.mjs') ? importFile(resolved) : fromRuntime(resolved);
}

async function loadHandler(taskRoot, handlerString) {
  const slash = handlerString.lastIndexOf('/');
  const moduleDir = slash >= 0 ? handlerString.slice(0, slash) : '';
  const moduleAndPath = handlerString.slice(slash + 1);
  const dot = moduleAndPath.indexOf('.');
  if (dot <= 0 || dot === moduleAndPath.length - 1) {
    throw new RuntimeError('Runtime.MalformedHandlerName', `Bad handler ${handlerString}`);
  }
  const moduleName = moduleAndPath.slice(0, dot);
  const handlerPath = moduleAndPath.slice(dot + 1);
  let loaded;
  try {
    loaded = await loadModule(taskRoot, moduleDir, moduleName);
  } catch (err) {
    if (err instanceof SyntaxError) {
      throw new RuntimeError('Runtime.UserCodeSyntaxError', String(err), err);
    }
    if (err?.code === 'MODULE_NOT_FOUND' || err?.code === 'ERR_MODULE_NOT_FOUND') {
      throw new RuntimeError('Runtime.ImportModuleError', String(err), err);
    }
    throw err;
  }
  let handler = loaded;
  for (const key of handlerPath.split('.')) handler = handler?.[key];
  if (handler === undefined || handler === null) {
    throw new RuntimeError('Runtime.HandlerNotFound', `${handlerString} is undefined or not exported`);
  }
  if (typeof handler !== 'function') {
    throw new RuntimeError('Runtime.HandlerNotFound', `${handlerString} is not a function`);
  }
  return handler;
}

// ------------------------------------------------------------------------------ invoke

function parseJsonHeader(value) {
  if (!value) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

// Lambda never changes these variables in an environment: read once as the invoke loop
// starts (each read of process.env is a getenv through C++), not five times per invoke.
let contextEnv = null;

function readContextEnv() {
  const env = process.env;
  return {
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
  };
}

function makeContext(headers, settle) {
  const env = contextEnv ?? readContextEnv();
  const deadline = Number(headers['lambda-runtime-deadline-ms'] || 0);
  return {
    callbackWaitsForEmptyEventLoop: true,
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    functionName: env.functionName,
    functionVersion: env.functionVersion,
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    memoryLimitInMB: env.memoryLimitInMB,
    logGroupName: env.logGroupName,
    logStreamName: env.logStreamName,
    clientContext: parseJsonHeader(headers['lambda-runtime-client-context']),
    identity: parseJsonHeader(headers['lambda-runtime-cognito-identity']),
    tenantId: headers['lambda-runtime-aws-tenant-id'],
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
    // The legacy pre-callback API, still used by old functions.
    succeed: (result) => settle(null, result),
    fail: (err) => settle(err ?? new Error('handled'), undefined),
    done: (err, result) => settle(err, result),
  };
}

// What settles the invoke under way with null when the event loop empties ('beforeExit'):
// one listener for the runtime's life, not one added and removed per invoke.
let settleOnEmpty = null;
process.on('beforeExit', () => settleOnEmpty?.(null, null));

/**
 * Run the handler and settle with its outcome: a returned promise, a callback, a legacy
 * context.succeed/fail/done, a plain returned value, or (like Lambda) null once the event
 * loop has nothing left to do.
 */
function runHandler(handler, event, headers) {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (err, result) => {
      if (settled) return;
      settled = true;
      if (settleOnEmpty === settle) settleOnEmpty = null;
      resolve(err !== null && err !== undefined ? { error: err } : { result });
    };
    settleOnEmpty = settle;
    const context = makeContext(headers, settle);
    let returned;
    try {
      returned = handler(event, context, settle);
    } catch (err) {
      settle(err ?? new Error('handled'), undefined);
      return;
    }
    if (returned !== null && typeof returned?.then === 'function') {
      returned.then(
        (result) => settle(null, result),
        (err) => settle(err ?? new Error('handled'), undefined),
      );
    } else if (returned !== undefined) {
      settle(null, returned);
    }
  });
}

// ------------------------------------------------------------------------------ streaming

/** The globals a streaming handler uses, as Lambda's Node runtime provides them. */
function installAwsLambdaGlobal() {
  class HttpResponseStream {
    /** Prefix the body with the HTTP integration's prelude: status, headers, cookies. */
    static from(responseStream, prelude) {
      responseStream.setContentType(HTTP_INTEGRATION);
      responseStream.write(JSON.stringify(prelude ?? {}));
      responseStream.write(new Uint8Array(8));
      return responseStream;
    }
  }
  globalThis.awslambda = {
    streamifyResponse(handler) {
      handler[STREAMING] = 'response';
      return handler;
    },
    HttpResponseStream,
  };
}

/** The streamed POST under way, if any: a crash ends it with the error trailers. */
let openResponse = null;

function errorTrailers(body) {
  return {
    'Lambda-Runtime-Function-Error-Type': body.errorType,
    'Lambda-Runtime-Function-Error-Body': Buffer.from(JSON.stringify(body)).toString('base64'),
  };
}

/** The responseStream a streaming handler writes to; the POST opens on the first write. */
function makeResponseStream(client, requestId) {
  let contentType = 'application/octet-stream';
  let opened = null;
  const open = () => {
    if (opened === null) {
      opened = client.openStream(requestId, contentType);
      openResponse = opened;
    }
    return opened;
  };
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      open().write(chunk, callback);
    },
    final(callback) {
      open();
      callback();
    },
  });
  stream.setContentType = (value) => {
    contentType = value;
  };
  return { stream, open };
}

async function handleStreaming(client, handler, headers, event, requestId) {
  const { stream, open } = makeResponseStream(client, requestId);
  let error = null;
  try {
    const context = makeContext(headers, () => {});
    await handler(event, stream, context);
  } catch (err) {
    error = err ?? new Error('handled');
  }
  if (!stream.writableEnded) stream.end();
  try {
    await finished(stream);
  } catch (err) {
    error ??= err;
  }
  const response = open();
  let trailers = {};
  if (error !== null) {
    const body = errorBody(error);
    logError('Invoke Error', body, error);
    trailers = errorTrailers(body);
  }
  inFlight = null;
  openResponse = null;
  response.end(trailers);
  await response.done;
  return client.next();
}

let inFlight = null; // the request id being handled, for crash reports
let initDone = false;

/** Answer with `text` (a POST the client built) and wait for the next event. */
function answer(client, text) {
  inFlight = null;
  return client.answerAndNext(text);
}

/** Handle one event; resolves to the next one (its POST and the next GET go out together). */
async function handleOne(client, handler, headers, body) {
  const requestId = headers['lambda-runtime-aws-request-id'];
  currentRequestId = requestId;
  currentHeaders = headers;
  inFlight = requestId;
  const traceId = headers['lambda-runtime-trace-id'];
  if (traceId) process.env._X_AMZN_TRACE_ID = traceId;
  else delete process.env._X_AMZN_TRACE_ID;

  if (handler[STREAMING] === 'response') {
    let event;
    try {
      event = body.length ? JSON.parse(body.toString('utf8')) : null;
    } catch (err) {
      return answer(client, client.errorText(requestId, errorBody(err)));
    }
    return handleStreaming(client, handler, headers, event, requestId);
  }
  let outcome;
  try {
    const event = body.length ? JSON.parse(body.toString('utf8')) : null;
    outcome = await runHandler(handler, event, headers);
  } catch (err) {
    outcome = { error: err };
  }
  if (!('error' in outcome)) {
    let payload;
    try {
      payload = JSON.stringify(outcome.result === undefined ? null : outcome.result);
    } catch (err) {
      outcome = {
        error: new RuntimeError('Runtime.MarshalError',
          `Unable to stringify response body as json: ${err?.message ?? err}`),
      };
    }
    if (payload !== undefined) return answer(client, client.responseText(requestId, payload));
  }
  const error = errorBody(outcome.error);
  logError('Invoke Error', error, outcome.error);
  return answer(client, client.errorText(requestId, error));
}

// ------------------------------------------------------------------------------ main

let client;

/** What an unhandled rejection is logged as in JSON, as AWS's runtime wraps it: the class
 * is its errorType, the reason (and the promise) its own properties. */
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
UnhandledPromiseRejection.prototype.name = 'Runtime.UnhandledPromiseRejection';

function onCrash(errorType, err, promise) {
  // An exception nobody caught: report it for the invoke in flight (or INIT), then exit,
  // as Lambda's runtime does; the platform resets the environment.
  const body = errorType === 'Runtime.UnhandledPromiseRejection'
    ? { errorType, errorMessage: String(isError(err) ? `${err.name}: ${err.message}` : err),
        trace: isError(err) && err.stack ? err.stack.split('\n') : [] }
    : errorBody(err);
  if (errorType === 'Runtime.UnhandledPromiseRejection') {
    logError('Unhandled Promise Rejection', body, new UnhandledPromiseRejection(err, promise));
  } else logError('Uncaught Exception', body, err);
  const exitCode = errorType === 'Runtime.UnhandledPromiseRejection' ? 128 : 129;
  // Between invokes there is nobody to tell: the platform sees the exit on the next one.
  let post;
  if (openResponse !== null) {
    // A streamed answer is under way on the connection: end it with the error.
    openResponse.end(errorTrailers(body));
    post = openResponse.done;
  } else if (inFlight !== null) post = client?.postError(inFlight, body);
  else if (!initDone) post = client?.postInitError(body);
  Promise.resolve(post).catch(() => {}).finally(() => process.exit(exitCode));
}

async function main() {
  patchConsole();
  const env = process.env;
  const address = env.AWS_LAMBDA_RUNTIME_API;
  if (!address) {
    process.stderr.write('AWS_LAMBDA_RUNTIME_API is not set\n');
    process.exit(1);
  }
  client = new RuntimeApiClient(address);
  process.on('uncaughtException', (err) => onCrash('Runtime.UncaughtException', err));
  process.on('unhandledRejection', (reason, promise) => onCrash('Runtime.UnhandledPromiseRejection', reason, promise));

  installAwsLambdaGlobal();
  const taskRoot = env.LAMBDA_TASK_ROOT || process.cwd();
  let handler;
  try {
    handler = await loadHandler(taskRoot, env._HANDLER || '');
  } catch (err) {
    const error = errorBody(err);
    logError('Uncaught Exception', error, err);
    try {
      await client.postInitError(error);
    } catch (postErr) {
      process.stderr.write(`could not report the init error: ${postErr}\n`);
    }
    process.exit(1);
  }
  initDone = true;
  contextEnv = readContextEnv();

  let next = await client.next();
  for (;;) {
    const { status, headers, body } = next;
    if (status !== 200) {
      process.stderr.write(`/next answered ${status}, exiting: ${body.toString().slice(0, 200)}\n`);
      process.exit(1);
    }
    next = await handleOne(client, handler, headers, body);
  }
}

main().catch((err) => {
  process.stderr.write(`Runtime API unreachable, exiting: ${err?.stack ?? err}\n`);
  process.exit(1);
});
