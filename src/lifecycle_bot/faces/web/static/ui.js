// lifecycle-bot's page behaviour: citation clicks, copy, the mobile source sheet, diagram zoom, and keeping a
// new question in view. One listener each, on the document, so Gradio re-rendering a message changes nothing.
(() => {
  if (window.__lbUi) return;
  window.__lbUi = true;
  const narrow = () => window.matchMedia('(max-width: 767px)').matches;

  // -- citations and triage section links -> the server-side viewers (by opaque reference only) -----------
  document.addEventListener('click', (ev) => {
    const t = ev.target && ev.target.closest ? ev.target : null;
    if (!t) return;
    const cite = t.closest('a[href^="#cite-"]');
    if (cite) {
      ev.preventDefault(); ev.stopPropagation();
      if (window.__lbTrigger) window.__lbTrigger('click', {ref: cite.getAttribute('href').slice(6)});
      cite.blur();  // the source is open now: its preview need not stay
      if (narrow()) openSheet();
      return;
    }
    const section = t.closest('a[href^="#section-"]');
    if (section) {
      ev.preventDefault(); ev.stopPropagation();
      if (window.__lbSectionTrigger) window.__lbSectionTrigger('click', {section: section.getAttribute('href').slice(9)});
      return;
    }
    const copy = t.closest('a[href^="#copy-"]');
    if (copy) {
      ev.preventDefault(); ev.stopPropagation();
      copyFrom(copy, copy.getAttribute('href').startsWith('#copy-slack-') ? 'pre.lb-slack' : 'pre.lb-md');
      return;
    }
    if (t.closest('.viewer-close')) { ev.preventDefault(); closeSheet(); return; }
    const zoomable = t.closest('.lb-zoomable, #viewer pre.mermaid[data-processed]');
    if (zoomable && !t.closest('#lb-zoom')) { ev.preventDefault(); openZoom(zoomable); }
  }, true);

  // -- previews: placed in the window (fixed), above the [n] when there is no room below, never clipped by the chat
  const placePreview = (ev) => {
    const wrap = ev.target && ev.target.closest ? ev.target.closest('.cite-wrap') : null;
    const pop = wrap && wrap.querySelector('.cite-pop');
    if (!pop) return;
    const r = wrap.getBoundingClientRect();
    const width = Math.min(360, window.innerWidth * 0.8);
    pop.style.position = 'fixed';
    pop.style.left = Math.max(8, Math.min(r.left, window.innerWidth - width - 8)) + 'px';
    const below = window.innerHeight - r.bottom;
    if (r.top > window.innerHeight / 2 || (below < 160 && r.top > below)) { pop.style.top = ''; pop.style.bottom = (window.innerHeight - r.top + 4) + 'px'; }
    else { pop.style.bottom = ''; pop.style.top = (r.bottom + 4) + 'px'; }
  };
  document.addEventListener('mouseover', placePreview, true);
  document.addEventListener('focusin', placePreview, true);

  // -- copy: the Markdown (or Slack mrkdwn) kept beside each answer, never the page's HTML ------------------
  function copyFrom(link, selector) {
    let box = link;
    while (box && !box.querySelector(selector)) box = box.parentElement;
    const source = box && box.querySelector(selector);
    if (!source) return;
    const text = source.textContent;
    const done = () => {
      const label = link.textContent;
      link.textContent = 'Copied';
      link.classList.add('copied');
      setTimeout(() => { link.textContent = label; link.classList.remove('copied'); }, 1500);
      window.__lbCopied = text;  // what the last copy put on the clipboard (tests read it)
    };
    const fallback = () => {  // plain http on a LAN address has no navigator.clipboard
      const area = document.createElement('textarea');
      area.value = text; area.setAttribute('readonly', ''); area.style.position = 'fixed'; area.style.opacity = '0';
      document.body.appendChild(area); area.select();
      try { document.execCommand('copy'); done(); } finally { area.remove(); }
    };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, fallback);
    else fallback();
  }

  // -- the source viewer: a side panel on a wide screen, a sheet over the chat on a phone ------------------
  // (Gradio scopes the app's CSS to its container, so the class goes on the column, not on <body>.)
  let sheetScroll = 0;
  const sheet = () => document.getElementById('viewer-col');
  const sheetOpen = () => !!(sheet() && sheet().classList.contains('lb-sheet'));
  function openSheet() {
    if (!sheet() || sheetOpen()) return;
    sheetScroll = window.scrollY;
    sheet().classList.add('lb-sheet');
    document.body.style.overflow = 'hidden';
  }
  function closeSheet() {
    if (sheet()) sheet().classList.remove('lb-sheet');
    document.body.style.overflow = '';
    window.scrollTo(0, sheetScroll);
  }
  window.addEventListener('resize', () => { if (!narrow() && sheetOpen()) closeSheet(); });
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape') return;
    if (document.getElementById('lb-zoom')) closeZoom();
    else if (sheetOpen()) closeSheet();
  });

  function scroller(el) {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const y = getComputedStyle(p).overflowY;
      if ((y === 'auto' || y === 'scroll') && p.scrollHeight > p.clientHeight + 2) return p;
    }
    return null;
  }
  // Scroll a box (never the page) so `el` sits near its top.
  function scrollWithin(el, margin) {
    const box = scroller(el);
    if (!box) return;
    const top = el.getBoundingClientRect().top - box.getBoundingClientRect().top + box.scrollTop;
    box.scrollTop = Math.max(0, top - margin);
  }

  window.lbViewerChanged = (element) => {
    const dark = document.body.classList.contains('dark');
    if (window.mermaid) {
      if (window.__lbMermaidTheme !== dark) {
        window.mermaid.initialize({startOnLoad: false, securityLevel: 'strict', theme: dark ? 'dark' : 'default'});
        window.__lbMermaidTheme = dark;
      }
      const nodes = element.querySelectorAll('pre.mermaid:not([data-processed])');
      if (nodes.length) window.mermaid.run({nodes}).catch((e) => console.warn('mermaid', e));
    }
    fixViewBoxes(element);
    const hit = element.querySelector('.cited');
    if (hit) requestAnimationFrame(() => scrollWithin(hit, 48));
  };

  // -- Excalidraw drawings: Gradio's chat sanitiser drops an SVG's viewBox; the background rect has it -----
  function fixViewBoxes(root) {
    for (const svg of root.querySelectorAll('.lb-excalidraw svg:not([viewBox])')) {
      const r = svg.querySelector('rect');
      if (!r) continue;
      svg.setAttribute('viewBox', ['x', 'y', 'width', 'height'].map((a) => r.getAttribute(a)).join(' '));
      svg.setAttribute('width', '100%');
    }
  }

  // -- zoom: any diagram opens full screen, with +, -, fit and Escape ---------------------------------------
  let zoom = 1;
  function openZoom(from) {
    const svg = from.querySelector('svg');
    if (!svg) return;
    const layer = document.createElement('div');
    layer.id = 'lb-zoom';
    layer.setAttribute('role', 'dialog');
    layer.setAttribute('aria-label', 'Diagram, enlarged');
    layer.innerHTML = '<div class="lb-zoom-bar"><button type="button" data-z="out" aria-label="Zoom out">\u2212</button>' +
      '<button type="button" data-z="fit">Fit</button><button type="button" data-z="in" aria-label="Zoom in">+</button>' +
      '<button type="button" data-z="close" aria-label="Close">\u2715 Close</button></div><div class="lb-zoom-stage"></div>';
    const stage = layer.querySelector('.lb-zoom-stage');
    const copy = svg.cloneNode(true);
    copy.removeAttribute('style');
    copy.setAttribute('width', '100%');
    copy.removeAttribute('height');
    stage.appendChild(copy);
    layer.addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-z]');
      if (!b) return;
      const z = b.dataset.z;
      if (z === 'close') return closeZoom();
      zoom = z === 'fit' ? 1 : Math.min(8, Math.max(0.5, zoom * (z === 'in' ? 1.5 : 1 / 1.5)));
      copy.style.width = (zoom * 100) + '%';
    });
    zoom = 1;
    document.body.appendChild(layer);
    layer.querySelector('button[data-z="close"]').focus();
  }
  function closeZoom() { const z = document.getElementById('lb-zoom'); if (z) z.remove(); }

  // -- a new question stays in view: scroll the chat so it is at the top, not the end of its answer -------
  let users = 0;
  const watchChat = () => {
    const chat = document.getElementById('chat');
    if (!chat) return false;
    new MutationObserver(() => {
      fixViewBoxes(chat);
      const asked = chat.querySelectorAll('.message.user, [data-testid="user"]');
      if (asked.length > users) {
        const last = asked[asked.length - 1];
        requestAnimationFrame(() => scrollWithin(last, 8));
      }
      users = asked.length;
    }).observe(chat, {childList: true, subtree: true});
    return true;
  };
  if (!watchChat()) {
    const wait = new MutationObserver(() => { if (watchChat()) wait.disconnect(); });
    wait.observe(document.documentElement, {childList: true, subtree: true});
  }
})();
