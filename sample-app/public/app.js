// The demo page: starts a stream, types its tokens as they arrive through the browser's own
// EventSource, and resumes with the last event id after a drop (its own or the browser's).

const $ = (id) => document.getElementById(id);
const answer = $('answer');
const state = { streamId: null, source: null, lastId: null, tokens: 0 };

function setStatus(status) {
  $('status').textContent = status;
  $('status').dataset.state = status;
  document.body.dataset.state = status;
  const active = status === 'live' || status === 'connecting' || status === 'reconnecting';
  $('drop').disabled = !active;
  $('send-interjection').disabled = !active;
}

function remember(event) {
  state.lastId = event.lastEventId;
  $('last-id').textContent = state.lastId || '–';
}

function append(text, asBlock = false) {
  if (asBlock) {
    const block = document.createElement('span');
    block.className = 'block';
    block.textContent = text;
    answer.append(block);
  } else {
    answer.append(text);
  }
  $('tokens').textContent = String(++state.tokens);
}

function connect(fromId) {
  const query = fromId ? `?lastEventId=${encodeURIComponent(fromId)}` : '';
  const source = new EventSource(`/streams/${state.streamId}${query}`);
  state.source = source;
  setStatus('connecting');
  source.addEventListener('open', () => setStatus('live'));
  source.addEventListener('text_delta', (event) => {
    remember(event);
    append(JSON.parse(event.data).text);
  });
  // Catch-up served from the database arrives joined: insert it whole.
  source.addEventListener('text_block', (event) => {
    remember(event);
    append(JSON.parse(event.data).text, true);
  });
  // The position cannot be continued: what follows starts over.
  source.addEventListener('reset', (event) => {
    remember(event);
    answer.textContent = '';
    state.tokens = 0;
  });
  for (const type of ['done', 'cancelled']) {
    source.addEventListener(type, (event) => {
      remember(event);
      source.close();
      setStatus('done');
    });
  }
  source.addEventListener('error', (event) => {
    if (event.data) {
      // The stream's own final error event.
      remember(event);
      source.close();
      setStatus('error');
      answer.append(`\n\n[${JSON.parse(event.data).message}]`);
    } else if (source.readyState === EventSource.CLOSED) {
      setStatus('error');
    } else {
      setStatus('reconnecting'); // the browser retries with Last-Event-ID by itself
    }
  });
}

function attach(streamId) {
  state.source?.close();
  Object.assign(state, { streamId, lastId: null, tokens: 0 });
  answer.textContent = '';
  $('tokens').textContent = '0';
  $('persist').disabled = false;
  $('share').hidden = false;
  $('share').href = `/?stream=${encodeURIComponent(streamId)}`;
  connect(null);
}

$('ask').addEventListener('submit', async (event) => {
  event.preventDefault();
  // ?interval=ms changes the typing speed (the tests use it).
  const intervalMs = Number(new URLSearchParams(location.search).get('interval') ?? 60);
  const body = { prompt: $('prompt').value, intervalMs, catchup: $('blocks').checked ? 'blocks' : 'events' };
  const response = await fetch('/streams', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    setStatus('error');
    answer.textContent = (await response.json()).message;
    return;
  }
  const { stream_id: streamId } = await response.json();
  const params = new URLSearchParams(location.search);
  params.set('stream', streamId);
  history.replaceState(null, '', `/?${params}`);
  attach(streamId);
});

// Close and reopen with the last id seen, as a page would after a network change.
$('drop').addEventListener('click', () => {
  state.source?.close();
  connect(state.lastId);
});

$('persist').addEventListener('click', () => fetch(`/streams/${state.streamId}/persist`, { method: 'POST' }));

// The producer folds the text into the answer at its next sentence end (POST .../interjections).
$('interject').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('interjection').value;
  const response = await fetch(`/streams/${state.streamId}/interjections`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text, mode: 'append' }),
  });
  if (response.ok) $('interjection').value = '';
});

const shared = new URLSearchParams(location.search).get('stream');
if (shared) attach(shared);
window.meridianDemo = state;
