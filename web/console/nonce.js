// Stamps this page's style nonce on the <style> elements that scripts
// (xterm.js) create, so the Content-Security-Policy admits them without
// 'unsafe-inline'. Imported first by app.js, before any terminal exists.
const meta = document.querySelector('meta[name="airlock-style-nonce"]');
const nonce = meta ? meta.content : '';
if (meta) meta.remove();
if (nonce && !nonce.includes('{')) {
  const create = Document.prototype.createElement;
  Document.prototype.createElement = function (name, options) {
    const el = create.call(this, name, options);
    if (String(name).toLowerCase() === 'style') el.setAttribute('nonce', nonce);
    return el;
  };
}
