// The pages' DOM helpers, and the one place the page's style nonce is used.
//
// The Content-Security-Policy admits <style> elements only with this page's
// nonce (a fresh one per response, in a <meta> the server fills in; read
// here once and the <meta> removed, so the nonce is not left in the DOM).
// The console's own styles are all in console.css; the only <style> elements
// on the page are the three xterm.js builds in Terminal.open() (theme, cell
// size, scrollbar), with parent.ownerDocument.createElement and no option to
// pass a nonce. openTerminal() stamps them as they are created: the nonce
// must be on a <style> before it is inserted, or the browser refuses it.
// Any other <style> is refused by the policy, and the browser reports it.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

const meta = $('meta[name="airlock-style-nonce"]');
const nonce = meta && !meta.content.includes('{') ? meta.content : '';
if (meta) meta.remove();

// Opens an xterm.js terminal in `parent`. For the duration of that one call,
// the document's createElement gives <style> elements this page's nonce.
export function openTerminal(term, parent) {
  const doc = parent.ownerDocument;
  if (!nonce) {
    term.open(parent);
    return;
  }
  doc.createElement = function createElement(name, options) {
    const el = Document.prototype.createElement.call(this, name, options);
    if (String(name).toLowerCase() === 'style') el.setAttribute('nonce', nonce);
    return el;
  };
  try {
    term.open(parent);
  } finally {
    delete doc.createElement;
  }
}

// Fills `el` with `text`, with a line-break opportunity after each hyphen:
// node names ("queue1-dy-c5large-12", "ip-10-0-1-17") wrap there, not
// mid-word (a browser does not break between a hyphen and a digit).
export function breakable(el, text) {
  el.replaceChildren();
  const parts = String(text ?? '').split('-');
  parts.forEach((part, i) => {
    if (i > 0) el.append('-', document.createElement('wbr'));
    if (part) el.append(part);
  });
  if (parts.length > 1) el.classList.add('node-name');
}

// Labels each body cell with its column's heading (data-label), which the
// narrow layout shows beside the value when table rows become cards.
export function labelCells(table) {
  const heads = $$('thead th', table).map((th) => th.textContent.trim());
  for (const tr of $$('tbody tr', table)) {
    [...tr.children].forEach((td, i) => {
      if (heads[i]) td.dataset.label = heads[i];
    });
  }
}
