import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, test } from '@jest/globals';
import { connectionsListOf, isChunked, responseOn, socketIsWriting, writtenHead } from '../../lib/http/node-private.js';

/**
 * The private fields of Node's HTTP objects that lib/http/node-private.ts reads. If a Node release
 * changes them, this fails here, by name, rather than the direct path silently writing through
 * `response.write()` (or to the wrong response).
 */
describe("Node's private HTTP fields the direct path relies on", () => {
  test('a server lists its connections, a socket names its response, a response keeps its head, a body without length is chunk-encoded', async () => {
    const seen: Record<string, boolean>[] = [];
    const server = http.createServer((request, response) => {
      const sized = request.url === '/sized';
      response.writeHead(200, sized ? { 'Content-Length': '2' } : {});
      response.write('ok');
      const listed = connectionsListOf(server)
        ?.all()
        .some((connection) => connection.socket === response.socket);
      seen.push({
        sized,
        listed: listed === true,
        on: responseOn(response.socket!) === response,
        head: /^HTTP\/1\.1 200 OK\r\n/.test(writtenHead(response) ?? ''),
        writing: socketIsWriting(response.socket!, response),
        other: socketIsWriting(response.socket!, {}),
        chunked: isChunked(response),
      });
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      for (const path of ['/chunked', '/sized']) await (await fetch(`http://127.0.0.1:${port}${path}`)).text();
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    expect(seen).toEqual([
      { sized: false, listed: true, on: true, head: true, writing: true, other: false, chunked: true },
      { sized: true, listed: true, on: true, head: true, writing: true, other: false, chunked: false },
    ]);
  });
});
