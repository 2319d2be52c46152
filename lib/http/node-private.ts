/**
 * The one place that reads private fields of Node's HTTP objects. `test/unit/node-private.test.ts`
 * fails loudly if a Node release changes them.
 */

/** An HTTP/1 socket as Node keeps it: `_httpMessage` is the response it is currently writing. */
interface ResponseSocket {
  readonly _httpMessage?: unknown;
}

/**
 * Whether `response` is the one its socket is writing now. Only then may bytes of that response
 * go to the socket directly: a pipelined response waits behind the one ahead of it.
 */
export function socketIsWriting(socket: object, response: object): boolean {
  return (socket as ResponseSocket)._httpMessage === response;
}

/** Whether Node chunk-encodes the response's body (HTTP/1.1 without Content-Length). */
export function isChunked(response: object): boolean {
  return (response as { chunkedEncoding?: boolean }).chunkedEncoding === true;
}
