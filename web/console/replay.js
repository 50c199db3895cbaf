// In-page replay of an asciicast v2 recording at 1x, 2x or 8x: output
// events are written to a read-only terminal at their recorded times,
// divided by the speed; "r" events resize it. It opens at the top of the
// sessions page, scrolled into view, with its first frame drawn (the
// recording up to its first visible output), not a black box.
import * as api from './api.js';
import { $, $$, openTerminal } from './dom.js';

let term = null;
let events = [];
let header = null;
let speed = 1;
let timer = null;
let run = 0;
let onError = () => {};

export function setErrorSink(f) {
  onError = f;
}

function status(s) {
  $('#replay-status').textContent = s;
}

function parse(text) {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const head = JSON.parse(lines[0]);
  const evs = [];
  for (const l of lines.slice(1)) {
    try {
      const [t, kind, data] = JSON.parse(l);
      if (typeof t === 'number' && (kind === 'o' || kind === 'r')) evs.push({ t, kind, data });
    } catch {
      /* a torn last line */
    }
  }
  return { head, evs };
}

function size(spec) {
  const m = /^(\d+)x(\d+)$/.exec(spec || '');
  return m ? [Number(m[1]), Number(m[2])] : null;
}

// Writes the recording's first frame: every event up to the first pause
// (FRAME_PAUSE s without output) after the first output that shows
// something, the screen a viewer would first have seen settle.
const FRAME_PAUSE = 0.3;
function firstFrame() {
  let shown = null;
  for (const e of events) {
    if (shown !== null && e.t - shown >= FRAME_PAUSE) break;
    if (e.kind === 'o') {
      term.write(e.data);
      if (/\S/.test(e.data.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''))) shown = e.t;
    } else {
      const s = size(e.data);
      if (s) term.resize(s[0], s[1]);
    }
  }
}

export function close() {
  stop();
  if (term) term.dispose();
  term = null;
  $('#replay-term').replaceChildren();
  $('#replay').hidden = true;
}

export function stop() {
  run += 1;
  if (timer) clearTimeout(timer);
  timer = null;
}

function play() {
  stop();
  const mine = run;
  if (!term || !header) return;
  term.reset();
  term.resize(header.width || 80, header.height || 24);
  const total = events.length ? events[events.length - 1].t : 0;
  const started = performance.now();
  let i = 0;
  status(`Playing at ${speed}x`);
  const step = () => {
    if (mine !== run) return;
    const now = ((performance.now() - started) / 1000) * speed;
    while (i < events.length && events[i].t <= now) {
      const e = events[i];
      if (e.kind === 'o') term.write(e.data);
      else {
        const s = size(e.data);
        if (s) term.resize(s[0], s[1]);
      }
      i += 1;
    }
    if (i >= events.length) {
      const wall = (performance.now() - started) / 1000;
      status(`Finished: ${total.toFixed(1)} s recording played in ${wall.toFixed(1)} s at ${speed}x`);
      $('#replay').dataset.wallSeconds = wall.toFixed(3);
      $('#replay').dataset.recordingSeconds = total.toFixed(3);
      timer = null;
      return;
    }
    status(`Playing at ${speed}x: ${now.toFixed(1)} s of ${total.toFixed(1)} s`);
    const wait = ((events[i].t - now) / speed) * 1000;
    timer = setTimeout(step, Math.max(0, Math.min(wait, 250)));
  };
  step();
}

export async function open(id) {
  stop();
  // A recording comes in pages of at most 1 MiB; follow NextToken to its end.
  let text = '';
  try {
    let next;
    do {
      const req = { SessionId: id };
      if (next) req.NextToken = next;
      const page = await api.call('ssm', 'GetSessionRecording', req);
      text += page.Asciicast || '';
      next = page.NextToken;
    } while (next);
  } catch (e) {
    onError(e);
    return;
  }
  try {
    const p = parse(text);
    header = p.head;
    events = p.evs;
  } catch {
    onError(new Error(`the recording of ${id} is not asciicast v2`));
    return;
  }
  $('#replay').hidden = false;
  $('#replay-id').textContent = id;
  delete $('#replay').dataset.wallSeconds;
  if (term) term.dispose();
  $('#replay-term').replaceChildren();
  term = new window.Terminal({ disableStdin: true, cursorBlink: false, fontSize: 13, scrollback: 10000 });
  openTerminal(term, $('#replay-term'));
  term.resize(header.width || 80, header.height || 24);
  for (const b of $$('#replay button[data-speed]')) {
    b.onclick = () => {
      speed = Number(b.dataset.speed);
      for (const o of $$('#replay button[data-speed]')) {
        o.setAttribute('aria-pressed', String(o === b));
      }
    };
  }
  $('#replay-play').onclick = play;
  $('#replay-close').onclick = close;
  firstFrame();
  status(`Ready: ${events.length} events`);
  $('#replay').scrollIntoView({ block: 'start' });
}
