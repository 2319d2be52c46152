/**
 * Canned answers for the demo page, so a stream reads like an LLM typing. Chosen by the prompt,
 * chunked into word-sized tokens.
 */
const ANSWERS = [
  `Server-Sent Events are the quiet workhorse of streaming on the web. The browser opens one long HTTP response and the server writes small text frames into it as they become ready, each with an event type, an id and its data.

What makes them resilient is the id. When the connection drops, the browser reconnects by itself and sends the last id it saw in a Last-Event-ID header. A server that keeps recent events in a replay buffer can continue exactly after that id: nothing missed, nothing repeated.

Older events can live in a database. After the buffer is persisted and cleared, a client that comes back from far behind is served from storage first, then from memory, then live, and it cannot tell the difference.`,
  `Fan-out is where streaming systems earn their keep. One producer, such as a model generating an answer, a job reporting progress or a log being tailed, feeds any number of readers, and every reader must see the same sequence in the same order.

The expensive part is rarely the producer. It is serialising each event once per client, running a pipeline per connection, and holding on to events for readers that stopped reading. A good design serialises once, keeps per-client state down to a cursor, and cuts a reader that falls too far behind instead of buffering for it forever.

A reader that was cut is not lost: it reconnects with its last id and catches up, paced by its own connection.`,
  `Resuming a stream sounds simple until you list what can go wrong. The client may drop in the middle of a frame, while the server is persisting, or right after the final event. The stream may have finished, expired, or moved to another process.

The rules that keep it honest are few. Every event gets an id that is never reused. A position that can no longer be served is answered with an explicit reset, never a silent jump. A client that has seen the final event is told to stop reconnecting with a 204. And shutting down ends every response cleanly, so the next instance can take over.`,
];

/** The canned answer for a prompt: the same prompt always gets the same answer. */
export function answerFor(prompt: string): string {
  let hash = 0;
  for (const char of prompt) hash = (hash * 31 + char.codePointAt(0)!) >>> 0;
  return ANSWERS[hash % ANSWERS.length];
}

/** Splits text into word-sized tokens (a word with the spaces after it; long words in two). */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  for (const word of text.match(/\S+\s*|\s+/g) ?? []) {
    if (word.trim().length > 9) {
      const cut = Math.ceil(word.length / 2);
      tokens.push(word.slice(0, cut), word.slice(cut));
    } else {
      tokens.push(word);
    }
  }
  return tokens;
}
