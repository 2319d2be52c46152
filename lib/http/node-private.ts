/**
 * The one place that reads private fields of Node's HTTP objects. `test/unit/node-private.test.ts`
 * fails loudly if a Node release changes them.
 */

/** An HTTP/1 socket as Node keeps it: `_httpMessage` is the response it is currently writing. */
interface ResponseSocket {
  readonly _httpMessage?: unknown;
}

/** The response an HTTP/1 socket is writing now (none between requests). */
export function responseOn(socket: object): unknown {
  return (socket as ResponseSocket)._httpMessage ?? undefined;
}

/**
 * Whether `response` is the one its socket is writing now. Only then may bytes of that response
 * go to the socket directly: a pipelined response waits behind the one ahead of it.
 */
export function socketIsWriting(socket: object, response: object): boolean {
  return responseOn(socket) === response;
}

/** The header block a response has written (`writeHead()` with headers not kept), if any. */
export function writtenHead(response: object): string | undefined {
  const head = (response as { _header?: unknown })._header;
  return typeof head === 'string' ? head : undefined;
}

/** The description of the symbol under which Node's HTTP servers keep their connections. */
const CONNECTIONS_LIST = 'http.server.connections';

/** Node's list of an HTTP server's connections (what `closeAllConnections()` walks). */
export interface ConnectionsList {
  all(): readonly { readonly socket?: object | null }[];
}

/** `server`'s list of connections, made when it starts listening; undefined where Node keeps none. */
export function connectionsListOf(server: object): ConnectionsList | undefined {
  for (const symbol of Object.getOwnPropertySymbols(server)) {
    if (symbol.description !== CONNECTIONS_LIST) continue;
    const list = (server as Record<symbol, unknown>)[symbol] as Partial<ConnectionsList> | undefined;
    if (typeof list?.all === 'function') return list as ConnectionsList;
  }
  return undefined;
}

/** Whether Node chunk-encodes the response's body (HTTP/1.1 without Content-Length). */
export function isChunked(response: object): boolean {
  return (response as { chunkedEncoding?: boolean }).chunkedEncoding === true;
}
