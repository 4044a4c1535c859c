// The Password Manager page. Plain JavaScript, no build step; every string comes from the
// message catalogue (/assets/messages-<lang>.json), none is written here.
//
// Security: the session lives in an HttpOnly cookie the script cannot read; the script only
// holds the session's CSRF token, in memory. A new password is read from its field, the
// fields are emptied at once, and the password is encrypted with WebCrypto (RSA-OAEP,
// SHA-256) under the server's public key before it is sent; nothing is kept in storage.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const lang = document.documentElement.lang || 'en';
  const plural = new Intl.PluralRules(lang);
  const SCREENS = ['signin', 'forgot', 'token', 'accounts', 'change', 'progress', 'helpdesk'];
  const AGENT_LEVELS = new Set(['ORG_ADMIN', 'HELPDESK']);
  const TERMINAL = new Set(['FINISHED', 'FAILED']);
  // zxcvbn's cost grows with length; it only advises, so it sees at most this much.
  const STRENGTH_INPUT_CAP = 64;
  const POLL_MS = 600;

  let messages = {};
  let csrf = null;
  let me = null;
  let current = null;
  let pollTimer = null;
  let pollRun = 0;
  // True in a session started by a reset code: the change screens show the reset's
  // instructions (reset-password:*) instead of the change's.
  let resetting = false;
  let resetId = null;
  let resetUser = null;
  let helpdeskPerson = null;
  // A change refused for want of strong authentication: its (already encrypted) body, sent
  // again once the session proved a code.
  let pendingChange = null;
  // The challenge of an emailed second-factor code, while one is expected.
  let mfaChallenge = null;

  // ---- messages -------------------------------------------------------------------------
  function t(key, params) {
    const p = params || {};
    let text;
    if (typeof p.n === 'number') {
      text = messages[`${key}.${plural.select(p.n)}`] ?? messages[`${key}.other`];
    }
    text = text ?? messages[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (m, k) => (k in p ? String(p[k]) : m));
  }

  function formatTime(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }).format(d);
  }

  function formatList(items) {
    try {
      return new Intl.ListFormat(lang, { style: 'long', type: 'conjunction' }).format(items);
    } catch (_) {
      return items.join(', ');
    }
  }

  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'className') e.className = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children || []) if (c) e.appendChild(c);
    return e;
  }

  // ---- custom instructions (sanitised as ISC does: basic HTML, links, only _blank) --------
  const ALLOWED = new Set(['P', 'BR', 'B', 'STRONG', 'I', 'EM', 'U', 'UL', 'OL', 'LI', 'A', 'SPAN', 'DIV', 'SMALL', 'CODE']);
  const DROPPED = new Set(['SCRIPT', 'STYLE', 'TEMPLATE', 'IFRAME', 'OBJECT', 'EMBED', 'NOSCRIPT', 'TITLE', 'HEAD', 'SVG', 'MATH', 'FORM', 'INPUT', 'BUTTON', 'TEXTAREA', 'SELECT', 'IMG', 'VIDEO', 'AUDIO', 'LINK', 'META']);

  function copySafe(from, to) {
    for (const node of Array.from(from.childNodes)) {
      if (node.nodeType === Node.TEXT_NODE) {
        to.appendChild(document.createTextNode(node.textContent));
      } else if (node.nodeType === Node.ELEMENT_NODE) {
        const tag = node.tagName.toUpperCase();
        if (ALLOWED.has(tag)) {
          const clean = document.createElement(tag.toLowerCase());
          if (tag === 'A') {
            const href = (node.getAttribute('href') || '').trim();
            if (/^(https?:|mailto:)/i.test(href)) clean.setAttribute('href', href);
            if ((node.getAttribute('target') || '').toLowerCase() === '_blank') clean.setAttribute('target', '_blank');
            clean.setAttribute('rel', 'noopener noreferrer');
          }
          copySafe(node, clean);
          to.appendChild(clean);
        } else if (!DROPPED.has(tag)) {
          copySafe(node, to);
        }
      }
    }
  }

  function showInstructions(id, html) {
    const box = $(id);
    box.replaceChildren();
    if (!html) {
      box.hidden = true;
      return;
    }
    // A parsed document has no browsing context: nothing in it runs or loads.
    const doc = new DOMParser().parseFromString(String(html), 'text/html');
    copySafe(doc.body, box);
    box.hidden = box.textContent.trim() === '';
  }

  // ---- HTTP -------------------------------------------------------------------------------
  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (csrf && method !== 'GET') headers['X-CSRF-Token'] = csrf;
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
        cache: 'no-store',
        redirect: 'error',
      });
    } catch (_) {
      return { status: 0, data: null, retryAfter: 0 };
    }
    let data = null;
    if (res.status !== 204) {
      try {
        data = await res.json();
      } catch (_) {
        data = null;
      }
    }
    return { status: res.status, data, retryAfter: Number(res.headers.get('Retry-After')) || 0 };
  }

  function problem(r) {
    if (r.status === 0) return t('error.network');
    if (r.status === 429) return t('error.busy', { n: Math.max(1, r.retryAfter) });
    const causes = (r.data && Array.isArray(r.data.causes) ? r.data.causes : [])
      .map((c) => c && c.text)
      .filter(Boolean);
    if (r.status >= 400 && r.status < 500 && causes.length) return t('change.refused', { reason: causes.join(' ') });
    return t('error.server');
  }

  // ---- screens ----------------------------------------------------------------------------
  function show(name) {
    $('loading').hidden = true;
    for (const s of SCREENS) $(`screen-${s}`).hidden = s !== name;
    const heading = $(`screen-${name}`).querySelector('h1');
    if (heading) heading.focus();
  }

  function stopPolling() {
    pollRun += 1;
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = null;
  }

  function showSignIn(noticeKey) {
    stopPolling();
    csrf = null;
    resetting = false;
    helpdeskPerson = null;
    // Nothing of the help desk's outlives the session (an issued code least of all).
    $('helpdesk-token').textContent = '';
    $('helpdesk-token-box').hidden = true;
    $('helpdesk-person').hidden = true;
    $('helpdesk-results').replaceChildren();
    $('helpdesk-results-section').hidden = true;
    $('helpdesk-q').value = '';
    pendingChange = null;
    mfaChallenge = null;
    clearMfaEnrolment();
    me = null;
    current = null;
    clearPasswordFields();
    $('signin-error').textContent = '';
    $('signin-status').textContent = noticeKey ? t(noticeKey) : '';
    $('password').value = '';
    show('signin');
    $('username').focus();
  }

  // A 401 anywhere means the session is over (expired, signed out elsewhere, user disabled).
  function sessionEnded() {
    showSignIn('signin.expired');
  }

  // ---- sign-in / sign-out -------------------------------------------------------------------
  async function signIn(ev) {
    ev.preventDefault();
    const user = $('username').value.trim();
    const password = $('password').value;
    $('signin-status').textContent = '';
    $('signin-error').textContent = '';
    if (!user || !password) {
      $('signin-error').textContent = t('signin.missing');
      (user ? $('password') : $('username')).focus();
      return;
    }
    $('signin-submit').disabled = true;
    const r = await api('POST', '/passbroker/v1/session', { userName: user, password });
    $('password').value = '';
    $('signin-submit').disabled = false;
    if (r.status === 200 && r.data) {
      csrf = r.data.csrfToken;
      resetting = false;
      await loadAccounts();
      return;
    }
    if (r.status === 401) $('signin-error').textContent = t('signin.wrong');
    else if (r.status === 429) $('signin-error').textContent = t('signin.locked', { n: Math.max(1, r.retryAfter) });
    else $('signin-error').textContent = problem(r);
    $('password').focus();
  }

  async function signOut() {
    stopPolling();
    const r = await api('DELETE', '/passbroker/v1/me/session');
    if (r.status === 204 || r.status === 401) showSignIn('signin.signedOut');
    else $('accounts-error').textContent = problem(r);
  }

  // ---- accounts ------------------------------------------------------------------------------
  async function loadAccounts() {
    const r = await api('GET', `/passbroker/v1/me?locale=${encodeURIComponent(lang)}`);
    if (r.status === 401) {
      sessionEnded();
      return;
    }
    if (r.status !== 200 || !r.data) {
      show('accounts');
      $('accounts-error').textContent = problem(r);
      return;
    }
    me = r.data;
    if (me.csrfToken) csrf = me.csrfToken;
    renderAccounts();
    show('accounts');
  }

  // ---- authenticator app (TOTP) ----------------------------------------------------------------
  async function loadMfa() {
    const r = await api('GET', '/passbroker/v1/me/strong-authn');
    if (r.status !== 200 || !r.data) {
      $('mfa-section').hidden = true;
      return;
    }
    $('mfa-section').hidden = false;
    const active = r.data.totp === 'ACTIVE';
    $('mfa-state').textContent = t(active ? 'mfa.on' : 'mfa.off');
    $('mfa-setup').textContent = t(active ? 'mfa.replace' : 'mfa.setup');
  }

  async function setupMfa() {
    $('mfa-error').textContent = '';
    const r = await api('POST', '/passbroker/v1/me/totp', {});
    if (r.status === 401) {
      sessionEnded();
      return;
    }
    if (r.status === 403) {
      $('accounts-error').textContent = t('mfa.required');
      return;
    }
    if (r.status !== 201 || !r.data) {
      $('accounts-error').textContent = problem(r);
      return;
    }
    $('mfa-qr').src = `${r.data.qrCode}?t=${Date.now()}`;
    $('mfa-secret').textContent = r.data.secret;
    const list = $('mfa-recovery');
    list.replaceChildren();
    for (const c of r.data.recoveryCodes) list.appendChild(el('li', { text: c }));
    $('mfa-enrol').hidden = false;
    $('mfa-confirm-code').focus();
  }

  function clearMfaEnrolment() {
    $('mfa-enrol').hidden = true;
    $('mfa-secret').textContent = '';
    $('mfa-recovery').replaceChildren();
    $('mfa-qr').removeAttribute('src');
    $('mfa-confirm-code').value = '';
  }

  async function confirmMfa(ev) {
    ev.preventDefault();
    const code = $('mfa-confirm-code').value.trim();
    $('mfa-confirm-code').value = '';
    const r = await api('POST', '/passbroker/v1/me/totp/confirm', { code });
    if (r.status === 200) {
      clearMfaEnrolment();
      await loadMfa();
      $('accounts-status').textContent = t('mfa.done');
      return;
    }
    $('mfa-error').textContent = r.status === 429 ? t('forgot.locked', { n: Math.max(1, r.retryAfter) }) : t('mfa.wrong');
    $('mfa-confirm-code').focus();
  }

  async function proveStrong(ev) {
    ev.preventDefault();
    const code = $('strong-code').value.trim();
    $('strong-code').value = '';
    $('change-error').textContent = '';
    const r = await api('POST', '/passbroker/v1/me/strong-authn', mfaChallenge ? { code, challengeId: mfaChallenge } : { code });
    if (r.status === 401) {
      sessionEnded();
      return;
    }
    if (r.status !== 200) {
      const cause = causeText(r);
      if (r.status === 429) $('change-error').textContent = t('forgot.locked', { n: Math.max(1, r.retryAfter) });
      else if (cause.includes('set one up')) $('change-error').textContent = t('mfa.needSetup');
      else $('change-error').textContent = t('mfa.wrong');
      $('strong-code').focus();
      return;
    }
    $('strong-form').hidden = true;
    mfaChallenge = null;
    $('strong-status').textContent = '';
    const body = pendingChange;
    pendingChange = null;
    if (body) await sendChange(body);
  }

  async function emailStrongCode() {
    $('change-error').textContent = '';
    const r = await api('POST', '/passbroker/v1/me/strong-authn/email', {});
    if (r.status === 401) {
      sessionEnded();
      return;
    }
    if (r.status !== 202 || !r.data) {
      $('change-error').textContent = problem(r);
      return;
    }
    mfaChallenge = r.data.challengeId;
    $('strong-status').textContent = t('mfa.emailSent');
    $('strong-code').focus();
  }

  // ---- forgot password (emailed code) and "I have a reset code" (help desk) ------------------
  function causeText(r) {
    const causes = r.data && Array.isArray(r.data.causes) ? r.data.causes : [];
    return causes.length && causes[0] && causes[0].text ? causes[0].text : '';
  }

  function openForgot() {
    resetId = null;
    resetUser = null;
    $('forgot-status').textContent = '';
    $('forgot-error').textContent = '';
    $('forgot-username').value = $('username').value.trim();
    $('forgot-code').value = '';
    $('forgot-code-form').hidden = true;
    $('forgot-form').hidden = false;
    show('forgot');
    $('forgot-username').focus();
  }

  async function sendCode(ev) {
    ev.preventDefault();
    const user = $('forgot-username').value.trim();
    $('forgot-error').textContent = '';
    $('forgot-status').textContent = '';
    if (!user) {
      $('forgot-error').textContent = t('forgot.missing');
      $('forgot-username').focus();
      return;
    }
    $('forgot-send').disabled = true;
    const r = await api('POST', '/passbroker/v1/recovery/start', { userName: user, locale: lang });
    $('forgot-send').disabled = false;
    if (r.status === 202 && r.data && r.data.resetId) {
      resetId = r.data.resetId;
      resetUser = user;
      const minutes = Math.max(1, Math.round((new Date(r.data.expiresAt).getTime() - Date.now()) / 60000));
      $('forgot-status').textContent = t('forgot.sent', { n: minutes });
      $('forgot-form').hidden = true;
      $('forgot-code-form').hidden = false;
      $('forgot-code').focus();
      return;
    }
    $('forgot-error').textContent = r.status === 429 ? t('error.busy', { n: Math.max(1, r.retryAfter) }) : problem(r);
  }

  async function startResetSession(data) {
    csrf = data.csrfToken;
    resetting = true;
    await loadAccounts();
    $('accounts-status').textContent = t('forgot.chooseAccount');
  }

  async function verifyCode(ev) {
    ev.preventDefault();
    const code = $('forgot-code').value.trim();
    $('forgot-error').textContent = '';
    if (!code) {
      $('forgot-error').textContent = t('forgot.missingCode');
      $('forgot-code').focus();
      return;
    }
    $('forgot-verify').disabled = true;
    const r = await api('POST', '/passbroker/v1/recovery/verify', { resetId, userName: resetUser, code });
    $('forgot-verify').disabled = false;
    $('forgot-code').value = '';
    if (r.status === 200 && r.data) {
      await startResetSession(r.data);
      return;
    }
    const cause = causeText(r);
    if (r.status === 429) $('forgot-error').textContent = t('forgot.locked', { n: Math.max(1, r.retryAfter) });
    else if (r.status === 400 && cause.includes('no longer be used')) {
      $('forgot-error').textContent = t('forgot.dead');
      $('forgot-code-form').hidden = true;
      $('forgot-form').hidden = false;
      $('forgot-status').textContent = '';
    } else if (r.status === 400 && cause) $('forgot-error').textContent = `${t('forgot.wrong')} (${cause})`;
    else $('forgot-error').textContent = problem(r);
    (($('forgot-code-form').hidden) ? $('forgot-username') : $('forgot-code')).focus();
  }

  function openToken() {
    $('token-error').textContent = '';
    $('token-username').value = $('username').value.trim();
    $('token-code').value = '';
    show('token');
    $('token-username').focus();
  }

  async function redeemToken(ev) {
    ev.preventDefault();
    const user = $('token-username').value.trim();
    const code = $('token-code').value.trim();
    $('token-error').textContent = '';
    if (!user || !code) {
      $('token-error').textContent = t('signin.missing');
      (user ? $('token-code') : $('token-username')).focus();
      return;
    }
    $('token-submit').disabled = true;
    const r = await api('POST', '/passbroker/v1/recovery/digit-token', { userName: user, digitToken: code });
    $('token-submit').disabled = false;
    $('token-code').value = '';
    if (r.status === 200 && r.data) {
      await startResetSession(r.data);
      return;
    }
    if (r.status === 429) $('token-error').textContent = t('forgot.locked', { n: Math.max(1, r.retryAfter) });
    else if (r.status === 400) $('token-error').textContent = t('token.wrong');
    else $('token-error').textContent = problem(r);
    $('token-code').focus();
  }

  // ---- help desk (ORG_ADMIN and HELPDESK) --------------------------------------------------------
  function openHelpdesk() {
    $('helpdesk-error').textContent = '';
    show('helpdesk');
    $('helpdesk-q').focus();
  }

  async function searchPeople(ev) {
    ev.preventDefault();
    const q = $('helpdesk-q').value.trim();
    $('helpdesk-error').textContent = '';
    if (!q) {
      $('helpdesk-q').focus();
      return;
    }
    const r = await api('GET', `/passbroker/v1/helpdesk/people?q=${encodeURIComponent(q)}`);
    if (r.status === 401) {
      sessionEnded();
      return;
    }
    if (r.status !== 200 || !r.data) {
      $('helpdesk-error').textContent = problem(r);
      return;
    }
    const list = $('helpdesk-results');
    list.replaceChildren();
    for (const p of r.data.people) {
      const name = p.displayName || p.userName;
      const button = el('button', { type: 'button', className: 'secondary', text: t('helpdesk.select', { name: p.userName }) });
      button.addEventListener('click', () => showPerson(p.identityId, true));
      list.appendChild(el('li', {}, [el('span', { text: `${name} (${p.userName}${p.email ? `, ${p.email}` : ''})` }), button]));
    }
    if (!r.data.people.length) list.appendChild(el('li', { text: t('helpdesk.none') }));
    $('helpdesk-results-section').hidden = false;
  }

  async function showPerson(id, fresh) {
    const r = await api('GET', `/passbroker/v1/helpdesk/people/${encodeURIComponent(id)}`);
    if (r.status === 401) {
      sessionEnded();
      return;
    }
    if (r.status !== 200 || !r.data) {
      $('helpdesk-error').textContent = problem(r);
      return;
    }
    helpdeskPerson = r.data;
    if (fresh) {
      $('helpdesk-token').textContent = '';
      $('helpdesk-token-box').hidden = true;
    }
    $('helpdesk-person-h').textContent = helpdeskPerson.displayName || helpdeskPerson.userName;
    $('helpdesk-person-meta').textContent = [helpdeskPerson.userName, helpdeskPerson.email, helpdeskPerson.userLevel].filter(Boolean).join(' · ');
    const tokens = $('helpdesk-tokens');
    tokens.replaceChildren();
    for (const tk of helpdeskPerson.digitTokens) {
      tokens.appendChild(el('tr', { 'data-token-state': tk.state }, [
        el('td', { text: formatTime(tk.created) }),
        el('td', { text: tk.createdBy }),
        el('td', { text: t(`helpdesk.state.${tk.state}`) + (tk.used ? ` · ${formatTime(tk.used)}` : '') }),
      ]));
    }
    if (!helpdeskPerson.digitTokens.length) tokens.appendChild(el('tr', {}, [el('td', { colspan: 3, text: t('helpdesk.noTokens') })]));
    const accounts = $('helpdesk-accounts');
    accounts.replaceChildren();
    for (const a of helpdeskPerson.accounts) {
      accounts.appendChild(el('tr', { 'data-source': a.sourceName || '' }, [
        el('th', { scope: 'row', text: a.sourceName || '' }),
        el('td', { text: a.accountName || '' }),
        lastChangeCell(a),
      ]));
    }
    $('helpdesk-person').hidden = false;
  }

  async function issueToken() {
    if (!helpdeskPerson) return;
    $('helpdesk-error').textContent = '';
    $('helpdesk-issue').disabled = true;
    const r = await api('POST', `/passbroker/v1/helpdesk/people/${encodeURIComponent(helpdeskPerson.identityId)}/digit-token`, {});
    $('helpdesk-issue').disabled = false;
    if (r.status === 401) {
      sessionEnded();
      return;
    }
    if (r.status !== 200 || !r.data) {
      $('helpdesk-error').textContent = problem(r);
      return;
    }
    $('helpdesk-token').textContent = r.data.digitToken;
    $('helpdesk-token-expires').textContent = t('helpdesk.tokenExpires', { time: formatTime(r.data.expires) });
    $('helpdesk-token-box').hidden = false;
    await showPerson(helpdeskPerson.identityId, false);
  }

  function lastChangeCell(entry) {
    const last = entry.lastChange;
    if (!last) return el('td', { text: t('accounts.never') });
    const cell = el('td', {}, [el('span', { className: `badge ${last.status}`, text: t(`status.${last.status}`) })]);
    cell.appendChild(el('span', { className: 'when', text: formatTime(last.finished || last.requested) }));
    if (last.reason) cell.appendChild(el('span', { className: 'when', text: last.reason }));
    return cell;
  }

  function accountTable(entries) {
    const head = el('thead', {}, [
      el('tr', {}, [
        el('th', { scope: 'col', text: t('accounts.colSource') }),
        el('th', { scope: 'col', text: t('accounts.colAccount') }),
        el('th', { scope: 'col', text: t('accounts.colChangeable') }),
        el('th', { scope: 'col', text: t('accounts.colLast') }),
      ]),
    ]);
    const body = el('tbody');
    for (const e of entries) {
      body.appendChild(el('tr', {}, [
        el('th', { scope: 'row', text: e.sourceName }),
        el('td', { text: e.accountName || e.accountId }),
        el('td', { text: e.passwordChangeable ? t('accounts.yes') : t('accounts.no') }),
        lastChangeCell(e),
      ]));
    }
    return el('table', { className: 'grid' }, [head, body]);
  }

  function card(id, title, meta, entries, item) {
    const headingId = `card-${id}`;
    const section = el('section', { className: 'card', 'aria-labelledby': headingId, 'data-card': title });
    section.appendChild(el('h3', { id: headingId, text: title }));
    if (meta) section.appendChild(el('p', { className: 'meta', text: meta }));
    section.appendChild(accountTable(entries));
    if (item.target) {
      const button = el('button', { type: 'button', 'aria-describedby': headingId, text: t('accounts.change') });
      button.addEventListener('click', () => openChange(item));
      section.appendChild(el('div', { className: 'actions' }, [button]));
    } else {
      section.appendChild(el('p', { className: 'note', text: t('accounts.notChangeable') }));
    }
    return section;
  }

  function renderAccounts() {
    $('greeting').textContent = t('accounts.greeting', { name: me.displayName || me.userName });
    $('accounts-error').textContent = '';
    $('accounts-status').textContent = '';
    $('open-helpdesk').hidden = !AGENT_LEVELS.has(me.userLevel);
    loadMfa();
    const groups = $('groups');
    const sources = $('sources');
    groups.replaceChildren();
    sources.replaceChildren();
    me.groups.forEach((g, i) => {
      const changeable = g.sources.find((s) => s.passwordChangeable);
      const item = {
        name: g.name,
        policy: g.policy,
        sources: g.sources,
        target: changeable ? { sourceId: changeable.sourceId, accountId: changeable.accountId } : null,
      };
      groups.appendChild(card(`g${i}`, g.name, t('accounts.groupSources', { n: g.sources.length }), g.sources, item));
    });
    me.sources.forEach((s, i) => {
      const item = {
        name: s.sourceName,
        policy: s.policy,
        sources: [s],
        target: s.passwordChangeable ? { sourceId: s.sourceId, accountId: s.accountId } : null,
      };
      sources.appendChild(card(`s${i}`, s.sourceName, s.description, [s], item));
    });
    $('groups-section').hidden = me.groups.length === 0;
    $('sources-section').hidden = me.sources.length === 0;
    $('no-accounts').hidden = me.groups.length + me.sources.length > 0;
  }

  // ---- the policy checklist ------------------------------------------------------------------
  const BROWSER_RULES = new Set(['minLength', 'maxLength', 'minAlpha', 'minLower', 'minUpper', 'minNumeric', 'minSpecial', 'minCharacterTypes', 'maxRepeatedChars']);

  // Counts exactly as the server does (passbroker-core policy::eval): per code point, letters
  // are Alphabetic, digits are any Number, special is neither.
  function analyse(pw) {
    const c = { chars: 0, alpha: 0, lower: 0, upper: 0, numeric: 0, special: 0, longestRun: 0 };
    let run = 0;
    let prev = null;
    for (const ch of pw) {
      const alpha = /\p{Alphabetic}/u.test(ch);
      const numeric = /\p{N}/u.test(ch);
      c.chars += 1;
      c.alpha += alpha ? 1 : 0;
      c.lower += /\p{Lowercase}/u.test(ch) ? 1 : 0;
      c.upper += /\p{Uppercase}/u.test(ch) ? 1 : 0;
      c.numeric += numeric ? 1 : 0;
      c.special += !alpha && !numeric ? 1 : 0;
      run = ch === prev ? run + 1 : 1;
      c.longestRun = Math.max(c.longestRun, run);
      prev = ch;
    }
    return c;
  }

  function ruleMet(rule, c) {
    const v = Number(rule.value);
    switch (rule.rule) {
      case 'minLength': return c.chars >= v;
      case 'maxLength': return c.chars <= v;
      case 'minAlpha': return c.alpha >= v;
      case 'minLower': return c.lower >= v;
      case 'minUpper': return c.upper >= v;
      case 'minNumeric': return c.numeric >= v;
      case 'minSpecial': return c.special >= v;
      case 'minCharacterTypes': return [c.lower, c.upper, c.numeric, c.special].filter((k) => k > 0).length >= v;
      case 'maxRepeatedChars': return c.longestRun <= v;
      default: return true;
    }
  }

  function ruleText(rule) {
    return typeof rule.value === 'number' ? t(`rule.${rule.rule}`, { n: rule.value }) : t(`rule.${rule.rule}`);
  }

  function ruleItem(key, text) {
    const li = el('li', { 'data-rule': key, className: 'unmet' });
    li.appendChild(el('span', { text }));
    li.appendChild(el('span', { className: 'visually-hidden state' }));
    return li;
  }

  function renderRules() {
    const list = $('rules');
    const server = $('server-rules');
    list.replaceChildren();
    server.replaceChildren();
    for (const rule of current.policy) {
      if (rule.check === 'browser' && BROWSER_RULES.has(rule.rule)) list.appendChild(ruleItem(rule.rule, ruleText(rule)));
      else server.appendChild(el('li', { 'data-rule': rule.rule, text: ruleText(rule) }));
    }
    list.appendChild(ruleItem('match', t('rule.match')));
    $('server-rules-block').hidden = server.children.length === 0;
  }

  // Returns the rules not met yet.
  function updateChecklist() {
    const pw = $('new-password').value;
    const confirm = $('confirm-password').value;
    const c = analyse(pw);
    const unmet = [];
    for (const li of $('rules').children) {
      const key = li.dataset.rule;
      const met = key === 'match'
        ? pw.length > 0 && pw === confirm
        : ruleMet(current.policy.find((r) => r.rule === key), c);
      li.className = met ? 'met' : 'unmet';
      li.querySelector('.state').textContent = ` (${t(met ? 'change.ruleMet' : 'change.ruleUnmet')})`;
      if (!met) unmet.push(key);
    }
    updateStrength(pw);
    return unmet;
  }

  function updateStrength(pw) {
    const meter = $('strength');
    if (!pw || typeof window.zxcvbn !== 'function') {
      meter.value = 0;
      $('strength-text').textContent = '';
      return;
    }
    const hints = me ? [me.userName, me.displayName].filter(Boolean) : [];
    const score = window.zxcvbn(pw.slice(0, STRENGTH_INPUT_CAP), hints).score;
    meter.value = score;
    $('strength-text').textContent = t(`change.strength.${score}`);
  }

  function clearPasswordFields() {
    for (const id of ['new-password', 'confirm-password']) {
      $(id).value = '';
      $(id).type = 'password';
    }
    $('toggle-show').setAttribute('aria-pressed', 'false');
    $('toggle-show').textContent = t('change.show');
  }

  // ---- changing a password -----------------------------------------------------------------
  function openChange(item) {
    current = item;
    $('change-h').textContent = t('change.heading', { name: item.name });
    $('change-targets').textContent = t('change.targets', { list: formatList(item.sources.map((s) => s.sourceName)) });
    $('change-error').textContent = '';
    $('strong-form').hidden = true;
    pendingChange = null;
    mfaChallenge = null;
    $('strong-status').textContent = '';
    // For password managers: whose new password this is.
    $('change-username').value = me.userName;
    showInstructions('instr-enter', me.instructions[resetting ? 'reset-password:enter-password' : 'change-password:enter-password']);
    clearPasswordFields();
    renderRules();
    updateChecklist();
    $('change-submit').disabled = false;
    show('change');
    $('new-password').focus();
  }

  function toggleShow() {
    const showing = $('toggle-show').getAttribute('aria-pressed') !== 'true';
    for (const id of ['new-password', 'confirm-password']) $(id).type = showing ? 'text' : 'password';
    $('toggle-show').setAttribute('aria-pressed', showing ? 'true' : 'false');
    $('toggle-show').textContent = t(showing ? 'change.hide' : 'change.show');
  }

  function base64ToBytes(b64) {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i += 1) out[i] = bin.charCodeAt(i);
    return out;
  }

  function bytesToBase64(bytes) {
    let bin = '';
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  }

  async function submitChange(ev) {
    ev.preventDefault();
    $('change-error').textContent = '';
    const unmet = updateChecklist();
    if (unmet.length) {
      $('change-error').textContent = t('change.unmet');
      $('new-password').focus();
      return;
    }
    // The plaintext leaves the fields now, before anything else happens.
    const plain = new TextEncoder().encode($('new-password').value);
    clearPasswordFields();
    updateChecklist();
    $('change-submit').disabled = true;
    try {
      const keyResponse = await api('GET', '/passbroker/v1/public-key');
      if (keyResponse.status !== 200 || !keyResponse.data) {
        $('change-error').textContent = problem(keyResponse);
        return;
      }
      const key = await crypto.subtle.importKey(
        'spki',
        base64ToBytes(keyResponse.data.publicKey),
        { name: 'RSA-OAEP', hash: 'SHA-256' },
        false,
        ['encrypt'],
      );
      // RSA-OAEP with SHA-256 carries at most k - 66 bytes.
      if (plain.length > key.algorithm.modulusLength / 8 - 66) {
        $('change-error').textContent = t('change.tooLong');
        return;
      }
      const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, key, plain));
      await sendChange({
        identityId: me.identityId,
        encryptedPassword: bytesToBase64(sealed),
        publicKeyId: keyResponse.data.publicKeyId,
        accountId: current.target.accountId,
        sourceId: current.target.sourceId,
        encryption: 'RSA-OAEP-256',
      });
    } catch (_) {
      $('change-error').textContent = t('error.server');
    } finally {
      plain.fill(0);
      $('change-submit').disabled = false;
    }
  }

  // Sends an encrypted change; a refusal for want of strong authentication asks for a code
  // and keeps the (encrypted) body to send again.
  async function sendChange(body) {
    const r = await api('POST', '/v3/set-password', body);
    if (r.status === 401) {
      sessionEnded();
      return;
    }
    if (r.status === 403 && causeText(r).startsWith('strong authentication required')) {
      pendingChange = body;
      showInstructions('instr-mfa', me && me.instructions['mfa:enter-code']);
      $('strong-form').hidden = false;
      $('strong-code').focus();
      return;
    }
    if (r.status !== 202 || !r.data || !r.data.requestId) {
      $('change-error').textContent = problem(r);
      $('new-password').focus();
      return;
    }
    startProgress(r.data.requestId);
  }

  // ---- progress, target by target --------------------------------------------------------------
  function renderTargets(targets) {
    const rows = $('progress-rows');
    rows.replaceChildren();
    for (const target of targets) {
      rows.appendChild(el('tr', { 'data-source': target.sourceName }, [
        el('th', { scope: 'row', text: target.sourceName }),
        el('td', {}, [el('span', { className: `badge ${target.status}`, text: t(`status.${target.status}`) })]),
        el('td', { text: target.reason || '' }),
      ]));
    }
  }

  function startProgress(requestId) {
    stopPolling();
    const run = pollRun;
    renderTargets(current.sources.map((s) => ({ sourceName: s.sourceName, status: 'IN_PROGRESS', reason: '' })));
    $('progress-summary').textContent = t('progress.working');
    $('progress-policy').hidden = true;
    $('progress-policy-list').replaceChildren();
    showInstructions('instr-finish', null);
    $('progress-back').disabled = false;
    show('progress');
    const id = encodeURIComponent(requestId);
    const poll = async () => {
      const [status, detail] = await Promise.all([
        api('GET', `/v3/password-change-status/${id}`),
        api('GET', `/passbroker/v1/me/password-changes/${id}`),
      ]);
      if (run !== pollRun) return;
      if (status.status === 401 || detail.status === 401) {
        sessionEnded();
        return;
      }
      if (detail.status === 200 && detail.data) renderTargets(detail.data.targets);
      const state = status.status === 200 && status.data ? status.data.state : null;
      if (state && TERMINAL.has(state)) {
        finishProgress(state, detail.data ? detail.data.errors : []);
        return;
      }
      pollTimer = setTimeout(poll, POLL_MS);
    };
    poll();
  }

  function finishProgress(state, errors) {
    $('progress-summary').textContent = t(state === 'FINISHED' ? 'progress.done' : 'progress.failed');
    if (errors && errors.length) {
      const list = $('progress-policy-list');
      for (const e of errors) list.appendChild(el('li', { text: e }));
      $('progress-policy').hidden = false;
    }
    showInstructions('instr-finish', me && me.instructions[resetting ? 'reset-password:finish' : 'change-password:finish']);
  }

  // ---- start ---------------------------------------------------------------------------------
  async function boot() {
    try {
      const res = await fetch(`/assets/messages-${encodeURIComponent(lang)}.json`, { credentials: 'same-origin' });
      messages = await res.json();
    } catch (_) {
      messages = {};
    }
    // The language links are plain links (`/?lang=de`): the server remembers the choice.
    for (const a of document.querySelectorAll('.lang a')) {
      if (a.dataset.lang === lang) a.setAttribute('aria-current', 'true');
    }
    $('signin-form').addEventListener('submit', signIn);
    $('signout').addEventListener('click', signOut);
    $('change-form').addEventListener('submit', submitChange);
    $('change-cancel').addEventListener('click', () => {
      clearPasswordFields();
      renderAccounts();
      show('accounts');
    });
    $('toggle-show').addEventListener('click', toggleShow);
    $('open-forgot').addEventListener('click', openForgot);
    $('open-token').addEventListener('click', openToken);
    $('forgot-form').addEventListener('submit', sendCode);
    $('forgot-code-form').addEventListener('submit', verifyCode);
    $('forgot-back').addEventListener('click', () => showSignIn(null));
    $('token-form').addEventListener('submit', redeemToken);
    $('token-back').addEventListener('click', () => showSignIn(null));
    $('open-helpdesk').addEventListener('click', openHelpdesk);
    $('mfa-setup').addEventListener('click', setupMfa);
    $('mfa-confirm-form').addEventListener('submit', confirmMfa);
    $('strong-form').addEventListener('submit', proveStrong);
    $('strong-email').addEventListener('click', emailStrongCode);
    $('helpdesk-back').addEventListener('click', () => {
      renderAccounts();
      show('accounts');
    });
    $('helpdesk-form').addEventListener('submit', searchPeople);
    $('helpdesk-issue').addEventListener('click', issueToken);
    $('helpdesk-refresh').addEventListener('click', () => helpdeskPerson && showPerson(helpdeskPerson.identityId, false));
    $('new-password').addEventListener('input', updateChecklist);
    $('confirm-password').addEventListener('input', updateChecklist);
    $('progress-back').addEventListener('click', () => {
      stopPolling();
      loadAccounts();
    });
    showInstructions('instr-flow', $('instr-flow').dataset.content);
    showInstructions('instr-reset', $('instr-reset').dataset.content);
    const r = await api('GET', `/passbroker/v1/me?locale=${encodeURIComponent(lang)}`);
    if (r.status === 200 && r.data) {
      me = r.data;
      csrf = me.csrfToken;
      renderAccounts();
      show('accounts');
    } else {
      showSignIn(null);
    }
  }

  boot();
})();
