/*
 * clickstream.js: the browser tracker for POST /clickstream (event contract v1).
 * No dependencies, no build step. Embed it once per page:
 *
 *   <script src="/clickstream.js" data-endpoint="/clickstream"></script>
 *   <script>
 *     clickstream.track("add_to_cart", {id: "P0001", name: "...", price: 1899, quantity: 1});
 *   </script>
 *
 * What it does:
 * - client id: a UUID kept in localStorage (anonymous, per browser);
 * - session id: a new one after 30 minutes without an event;
 * - a page_view on load (data-auto-page-view="false" turns it off);
 * - track(eventName, product, order) queues an event; the queue is sent in batches (every
 *   second, or at once when 10 events wait) with fetch, and with fetch(..., {keepalive: true})
 *   (sendBeacon when fetch is missing) when the page is hidden or left;
 * - unsent events live in localStorage, so a reload or the next page sends them; a failed
 *   send is retried with exponential backoff (1 s doubling to 60 s, with jitter);
 * - the queue is bounded (500 events): past that the oldest are dropped, with a warning.
 *
 * Consent (data-consent="required" on the script tag), for sites that must ask first:
 * - until the visitor grants consent the tracker sends nothing, queues nothing (events asked
 *   for are dropped, not kept for later) and writes no client id, session or queue to storage;
 * - the site's banner calls clickstream.consent("granted") or clickstream.consent("denied");
 *   the choice is kept in localStorage ("clickstream.consent"), so later pages remember it;
 * - granting sends a consent_update event (consent_state "granted"), then the page view this
 *   page asked for before the choice, and from then on every event carries
 *   consent_state: "granted";
 * - denying drops every unsent event; withdrawing consent granted earlier sends one
 *   consent_update with consent_state "denied" (the withdrawal is on record), then forgets the
 *   client id and session, and nothing is sent after it;
 * - clickstream.consentState() says "granted", "denied" or null (not asked yet: show the
 *   banner). Without data-consent the tracker behaves as it always did: no consent_state.
 *
 * Acquisition and engagement (issue 11; every field optional in contract v1):
 * - utm_source/medium/campaign/term/content and gclid/fbclid/msclkid of the landing URL are
 *   kept in sessionStorage for the session and re-sent on every event (page.utm,
 *   page.click_ids); a new landing URL with any of them replaces them;
 * - context.browser: language, screen and viewport size;
 * - page.page_view_id: one id per page view, carried by the page_view and every later event
 *   of the page;
 * - page_ping: every data-ping-seconds (default 15; 0 turns pings off) while the page is
 *   engaged (visible, focused, and the visitor active in the last data-activity-seconds,
 *   default 30: a mouse move, key, scroll or touch), as Snowplow's activity tracking does;
 *   context.ping carries the engaged seconds since the previous ping and the deepest scroll
 *   so far (percent). A ping is sent only for an interval with engaged time.
 * Consent mode applies to all of it: nothing is read into storage or sent before consent.
 * Delivery is at least once: an event sent while the page unloads may be sent again by the
 * next page; the warehouse keeps one row per event_id.
 */
(function (window, document) {
  "use strict";

  var VERSION = "1.0.0";
  var KEY_PREFIX = "clickstream.";
  var SESSION_TIMEOUT_MS = 30 * 60 * 1000;
  var FLUSH_INTERVAL_MS = 1000;
  var FLUSH_AT_EVENTS = 10;
  var MAX_BATCH_EVENTS = 50;
  var MAX_BATCH_BYTES = 60000; // keepalive requests may carry 64 KiB in all
  var MAX_QUEUE_EVENTS = 500;
  var MAX_TEXT = 2048; // contract: page fields and product texts
  var MAX_ID = 128; // contract: ids
  var RETRY_BASE_MS = 1000;
  var RETRY_MAX_MS = 60000;
  var EVENT_NAMES = ["page_view", "product_view", "add_to_cart", "remove_from_cart", "checkout", "purchase"];
  var CONSENT_EVENT = "consent_update";
  var CONSENT_STATES = ["granted", "denied"];
  var PING_EVENT = "page_ping";
  var MAX_ATTRIBUTION = 256; // contract: utm values and click ids
  var UTM_FIELDS = ["source", "medium", "campaign", "term", "content"];
  var CLICK_IDS = ["gclid", "fbclid", "msclkid"];
  var TICK_MS = 1000; // how often engagement is measured

  var script = document.currentScript;
  var config = {
    endpoint: (script && script.getAttribute("data-endpoint")) || "/clickstream",
    autoPageView: !script || script.getAttribute("data-auto-page-view") !== "false",
    debug: !!(script && script.getAttribute("data-debug") === "true"),
    consentRequired: !!(script && script.getAttribute("data-consent") === "required"),
    pingSeconds: numberAttribute("data-ping-seconds", 15),
    activitySeconds: numberAttribute("data-activity-seconds", 30)
  };

  function numberAttribute(name, fallback) {
    var text = script && script.getAttribute(name);
    var value = text === null || text === undefined || text === "" ? NaN : Number(text);
    return isFinite(value) && value >= 0 ? value : fallback;
  }

  // ------------------------------------------------------------------ storage

  var memoryStore = {};
  function load(name) {
    try {
      var text = window.localStorage.getItem(KEY_PREFIX + name);
      return text === null ? null : JSON.parse(text);
    } catch (error) {
      return Object.prototype.hasOwnProperty.call(memoryStore, name) ? memoryStore[name] : null;
    }
  }
  function save(name, value) {
    memoryStore[name] = value;
    try {
      window.localStorage.setItem(KEY_PREFIX + name, JSON.stringify(value));
    } catch (error) {
      // Private mode or a full quota: the in-memory copy still works for this page.
    }
  }
  function forget(name) {
    delete memoryStore[name];
    try {
      window.localStorage.removeItem(KEY_PREFIX + name);
    } catch (error) {
      // Storage unavailable: nothing was written there either.
    }
  }

  // ------------------------------------------------------------------ consent

  // "granted", "denied" or null (not asked yet); always null without data-consent="required".
  var consentState = null;
  if (config.consentRequired) {
    consentState = load("consent");
    if (CONSENT_STATES.indexOf(consentState) < 0) consentState = null;
  }

  // Whether events may be built, stored and sent now.
  function mayTrack() {
    return !config.consentRequired || consentState === "granted";
  }

  // ------------------------------------------------------------------ ids and times

  function uuid() {
    var crypto = window.crypto;
    if (crypto && typeof crypto.randomUUID === "function") {
      return crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    if (crypto && typeof crypto.getRandomValues === "function") {
      crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    var hex = [];
    for (var j = 0; j < 16; j++) hex.push((bytes[j] + 0x100).toString(16).slice(1));
    return hex.slice(0, 4).join("") + "-" + hex.slice(4, 6).join("") + "-" +
      hex.slice(6, 8).join("") + "-" + hex.slice(8, 10).join("") + "-" + hex.slice(10).join("");
  }

  function pad(number, width) {
    var text = String(Math.abs(number));
    while (text.length < width) text = "0" + text;
    return text;
  }

  // RFC 3339 in the browser's own offset, with milliseconds: 2026-03-02T18:04:05.123+01:00
  function timestamp(date) {
    var offset = -date.getTimezoneOffset();
    var sign = offset >= 0 ? "+" : "-";
    return pad(date.getFullYear(), 4) + "-" + pad(date.getMonth() + 1, 2) + "-" +
      pad(date.getDate(), 2) + "T" + pad(date.getHours(), 2) + ":" + pad(date.getMinutes(), 2) +
      ":" + pad(date.getSeconds(), 2) + "." + pad(date.getMilliseconds(), 3) + sign +
      pad(Math.floor(Math.abs(offset) / 60), 2) + ":" + pad(Math.abs(offset) % 60, 2);
  }

  function cut(value, limit) {
    if (value === undefined || value === null) return null;
    var text = String(value);
    return text.length > limit ? text.slice(0, limit) : text;
  }

  // ------------------------------------------------------------------ identity

  function clientId() {
    var id = load("client_id");
    if (!mayTrack()) return typeof id === "string" && id ? id : null; // never written before consent
    if (typeof id !== "string" || !id) {
      id = uuid();
      save("client_id", id);
    }
    return id;
  }

  // Returns the current session, starting a new one after 30 minutes of inactivity.
  function touchSession(now) {
    var session = load("session");
    if (!session || typeof session.id !== "string" || now - session.last_event_at > SESSION_TIMEOUT_MS) {
      session = { id: uuid(), started_at: now, last_event_at: now };
      if (load("first_session_id") === null) {
        save("first_session_id", session.id);
      }
    }
    session.last_event_at = now;
    save("session", session);
    return session;
  }

  var user = load("user") || { user_id: null, identity_source: null };

  // ------------------------------------------------------------------ events

  // ------------------------------------------------------------------ attribution

  function sessionLoad(name) {
    try {
      var text = window.sessionStorage.getItem(KEY_PREFIX + name);
      return text === null ? null : JSON.parse(text);
    } catch (error) {
      return null;
    }
  }
  function sessionSave(name, value) {
    try {
      window.sessionStorage.setItem(KEY_PREFIX + name, JSON.stringify(value));
    } catch (error) {
      // Storage unavailable: this page's events still carry the landing URL's values.
    }
  }

  // {utm: {...}, click_ids: {...}} of the landing URL's parameters present, or null.
  function landingAttribution() {
    var found = null;
    var params;
    try {
      params = new window.URLSearchParams(window.location.search);
    } catch (error) {
      return null;
    }
    UTM_FIELDS.forEach(function (name) {
      var value = params.get("utm_" + name);
      if (value) {
        found = found || { utm: {}, click_ids: {} };
        found.utm[name] = cut(value, MAX_ATTRIBUTION);
      }
    });
    CLICK_IDS.forEach(function (name) {
      var value = params.get(name);
      if (value) {
        found = found || { utm: {}, click_ids: {} };
        found.click_ids[name] = cut(value, MAX_ATTRIBUTION);
      }
    });
    return found;
  }

  // The session's attribution: the landing URL's, kept in sessionStorage for this session.
  function attribution(sessionId) {
    var landing = landingAttribution();
    if (landing) {
      landing.session_id = sessionId;
      sessionSave("attribution", landing);
      return landing;
    }
    var kept = sessionLoad("attribution");
    return kept && kept.session_id === sessionId ? kept : null;
  }

  function integerBetween(value, low, high) {
    var number = Math.round(Number(value));
    return isFinite(number) ? Math.min(Math.max(number, low), high) : null;
  }

  function browserContext() {
    var screen = window.screen || {};
    return {
      language: cut(window.navigator && window.navigator.language, 35),
      screen_width: integerBetween(screen.width, 0, 100000),
      screen_height: integerBetween(screen.height, 0, 100000),
      viewport_width: integerBetween(window.innerWidth, 0, 100000),
      viewport_height: integerBetween(window.innerHeight, 0, 100000)
    };
  }

  // ------------------------------------------------------------------ page views

  var pageViewId = null; // the page view in progress
  var pageViewSent = false; // whether its page_view went out (a later one starts a new id)

  function currentPageViewId() {
    if (!pageViewId) pageViewId = uuid();
    return pageViewId;
  }

  function pageContext(sessionId) {
    var page = {
      url: cut(window.location.href, MAX_TEXT),
      path: cut(window.location.pathname, MAX_TEXT),
      title: cut(document.title, MAX_TEXT),
      referrer: cut(document.referrer, MAX_TEXT),
      page_view_id: currentPageViewId()
    };
    var kept = attribution(sessionId);
    if (kept && Object.keys(kept.utm).length) page.utm = kept.utm;
    if (kept && Object.keys(kept.click_ids).length) page.click_ids = kept.click_ids;
    return page;
  }

  function productContext(product) {
    var result = {};
    for (var key in product) {
      if (Object.prototype.hasOwnProperty.call(product, key) && product[key] !== undefined) {
        result[key] = product[key];
      }
    }
    result.id = cut(product.id, MAX_ID);
    ["name", "category", "brand", "url_path"].forEach(function (key) {
      if (key in result) result[key] = cut(result[key], MAX_TEXT);
    });
    return result;
  }

  function buildEvent(eventName, product, order, state, ping) {
    var now = new Date();
    var session = touchSession(now.getTime());
    var event = {
      event_id: uuid(),
      event_timestamp: timestamp(now),
      event_name: eventName,
      session_id: session.id,
      client_id: clientId(),
      user_id: user.user_id,
      user_login_state: user.user_id ? "logged_in" : "guest",
      identity_source: user.user_id ? user.identity_source : null,
      is_first_visit: load("first_session_id") === session.id,
      page: pageContext(session.id)
    };
    if (config.consentRequired) event.consent_state = state || consentState;
    var context = { browser: browserContext() };
    if (product) context.product = productContext(product);
    if (order) context.order = { order_id: cut(order.order_id, MAX_ID), currency: order.currency || null };
    if (ping) context.ping = ping;
    event.context = context;
    return event;
  }

  // ------------------------------------------------------------------ queue

  var queue = load("queue");
  if (!Array.isArray(queue)) queue = [];
  if (!mayTrack()) {
    // Only a withdrawal record a page left unsent may still go out; nothing else was allowed.
    queue = queue.filter(function (event) { return event && event.event_name === CONSENT_EVENT; });
    if (queue.length) persist(); else forget("queue");
  }
  var inFlight = 0; // events being sent right now (still in the queue until acknowledged)
  var attempt = 0; // failed sends in a row, for the backoff
  var nextTryAt = 0;
  var timer = null;
  var batchLimit = MAX_BATCH_EVENTS;

  function log() {
    if (config.debug && window.console) window.console.log.apply(window.console, arguments);
  }
  function warn() {
    if (window.console) window.console.warn.apply(window.console, arguments);
  }

  function persist() {
    if (!queue.length && !mayTrack()) forget("queue"); // no consent: leave nothing behind
    else save("queue", queue);
  }

  function enqueue(event) {
    queue.push(event);
    if (queue.length > MAX_QUEUE_EVENTS) {
      var dropped = queue.splice(0, queue.length - MAX_QUEUE_EVENTS);
      inFlight = Math.max(0, inFlight - dropped.length);
      warn("clickstream: queue full, dropped the " + dropped.length + " oldest events");
    }
    persist();
    schedule(queue.length >= FLUSH_AT_EVENTS ? 0 : FLUSH_INTERVAL_MS);
  }

  function schedule(delay) {
    if (timer !== null) return;
    var wait = Math.max(delay, nextTryAt - Date.now(), 0);
    timer = window.setTimeout(function () {
      timer = null;
      flush();
    }, wait);
  }

  // The first events of the queue that fit one request (count and bytes).
  function nextBatch() {
    var batch = [];
    var bytes = 20;
    for (var i = 0; i < queue.length && batch.length < batchLimit; i++) {
      var size = JSON.stringify(queue[i]).length * 3 + 1; // worst case UTF-8
      if (batch.length && bytes + size > MAX_BATCH_BYTES) break;
      batch.push(queue[i]);
      bytes += size;
    }
    return batch;
  }

  function removeFromQueue(batch) {
    var sent = {};
    batch.forEach(function (event) { sent[event.event_id] = true; });
    queue = queue.filter(function (event) { return !sent[event.event_id]; });
    persist();
  }

  function retryLater(reason) {
    attempt += 1;
    var delay = Math.min(RETRY_BASE_MS * Math.pow(2, attempt - 1), RETRY_MAX_MS);
    delay = delay / 2 + Math.random() * delay / 2; // jitter: not every tab at once
    nextTryAt = Date.now() + delay;
    log("clickstream: send failed (" + reason + "), retry in " + Math.round(delay) + " ms");
    schedule(delay);
  }

  function handleAnswer(batch, status, answer) {
    if (status === 200 || status === 400) {
      // 400: every event broke the contract; sending them again cannot help.
      (answer && answer.rejected || []).forEach(function (rejection) {
        warn("clickstream: event rejected", rejection.event_id, rejection.errors);
      });
      removeFromQueue(batch);
      attempt = 0;
      nextTryAt = 0;
      batchLimit = MAX_BATCH_EVENTS;
      if (queue.length) schedule(0);
    } else if (status === 413 && batch.length > 1) {
      batchLimit = Math.max(1, Math.floor(batch.length / 2));
      schedule(0);
    } else if (status === 429 || status >= 500 || status === 0) {
      retryLater("HTTP " + status);
    } else {
      // 403, 405, 413 for one event, 415: a setup problem; retrying will not fix it.
      warn("clickstream: endpoint refused " + batch.length + " events", status, answer);
      removeFromQueue(batch);
    }
  }

  // Sends the next batch; resolves when it is answered. While the page is hidden or being
  // left, everything waiting goes out with keepalive (or a beacon) without waiting.
  function flush(unloading) {
    if (!queue.length) return Promise.resolve();
    if (unloading) {
      sendAllForUnload();
      return Promise.resolve();
    }
    if (inFlight > 0) return Promise.resolve();
    if (Date.now() < nextTryAt) {
      schedule(0);
      return Promise.resolve();
    }
    var batch = nextBatch();
    inFlight = batch.length;
    var body = JSON.stringify({ events: batch });
    if (typeof window.fetch !== "function") {
      inFlight = 0;
      var queued = sendBeacon(body);
      if (queued) removeFromQueue(batch); else retryLater("beacon refused");
      return Promise.resolve();
    }
    return window.fetch(config.endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: body,
      // keepalive only while unloading: its 64 KiB budget is shared by every such request
      credentials: "omit"
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (answer) {
        inFlight = 0;
        handleAnswer(batch, response.status, answer);
      });
    }, function (error) {
      inFlight = 0;
      retryLater(error && error.message ? error.message : "network error");
    });
  }

  function sendBeacon(body) {
    if (!window.navigator || typeof window.navigator.sendBeacon !== "function") return false;
    try {
      return window.navigator.sendBeacon(config.endpoint, new Blob([body], { type: "application/json" }));
    } catch (error) {
      return false;
    }
  }

  // The page may be gone in a moment: send every batch now. The events stay in localStorage
  // until an answer arrives, so the next page sends again what did not get through.
  function sendAllForUnload() {
    var pending = queue.slice();
    while (pending.length) {
      var batch = [];
      var bytes = 20;
      while (pending.length && batch.length < batchLimit) {
        var size = JSON.stringify(pending[0]).length * 3 + 1;
        if (batch.length && bytes + size > MAX_BATCH_BYTES) break;
        batch.push(pending.shift());
        bytes += size;
      }
      sendOneForUnload(batch);
    }
  }

  function sendOneForUnload(batch) {
    var body = JSON.stringify({ events: batch });
    if (typeof window.fetch === "function") {
      try {
        window.fetch(config.endpoint, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: body,
          keepalive: true,
          credentials: "omit"
        }).then(function (response) {
          if (response.status === 200 || response.status === 400) removeFromQueue(batch);
        }, function () { /* still in localStorage: the next page retries */ });
        return;
      } catch (error) {
        // Too many keepalive bytes in flight: fall back to a beacon.
      }
    }
    sendBeacon(body);
  }

  // ------------------------------------------------------------------ public API

  var pageViewDropped = false; // asked for on this page before consent, sent if it is granted

  function track(eventName, product, order) {
    if (EVENT_NAMES.indexOf(eventName) < 0) {
      warn("clickstream: unknown event name " + eventName + " (expected one of " + EVENT_NAMES.join(", ") + ")");
      return null;
    }
    if (!mayTrack()) {
      if (eventName === "page_view") pageViewDropped = true;
      log("clickstream: no consent, dropped", eventName);
      return null;
    }
    if (eventName === "page_view") {
      if (pageViewSent) pageViewId = uuid(); // another page view on this page (a SPA)
      pageViewSent = true;
      startEngagement();
    }
    var event = buildEvent(eventName, product || null, order || null);
    enqueue(event);
    log("clickstream: queued", event);
    return event.event_id;
  }

  // ------------------------------------------------------------------ page pings

  var engagedMs = 0; // engaged time since the previous ping of this page view
  var lastActivityAt = Date.now();
  var lastTickAt = Date.now();
  var lastPingAt = Date.now();
  var maxScrollDepth = 0;
  var engagementTimer = null;

  function scrollDepth() {
    var root = document.documentElement || {};
    var body = document.body || {};
    var height = Math.max(root.scrollHeight || 0, body.scrollHeight || 0);
    if (!height) return 0;
    var seen = (window.pageYOffset || root.scrollTop || 0) + (window.innerHeight || 0);
    return integerBetween(seen / height * 100, 0, 100);
  }

  function isEngaged(now) {
    var visible = document.visibilityState === undefined || document.visibilityState === "visible";
    var focused = typeof document.hasFocus !== "function" || document.hasFocus();
    return visible && focused && now - lastActivityAt <= config.activitySeconds * 1000;
  }

  function tick() {
    var now = Date.now();
    var elapsed = Math.min(now - lastTickAt, TICK_MS * 2); // a sleeping laptop is not engaged
    if (isEngaged(now)) engagedMs += elapsed;
    lastTickAt = now;
    maxScrollDepth = Math.max(maxScrollDepth, scrollDepth());
    if (config.pingSeconds > 0 && now - lastPingAt >= config.pingSeconds * 1000) {
      lastPingAt = now;
      sendPing();
    }
  }

  function sendPing() {
    if (engagedMs <= 0 || !pageViewSent || !mayTrack()) return;
    var ping = {
      engaged_seconds: Math.round(engagedMs / 100) / 10,
      max_scroll_depth_pct: maxScrollDepth
    };
    engagedMs = 0;
    enqueue(buildEvent(PING_EVENT, null, null, null, ping));
  }

  // A new page view: its engagement starts from nothing.
  function startEngagement() {
    var now = Date.now();
    engagedMs = 0;
    lastActivityAt = lastTickAt = lastPingAt = now;
    maxScrollDepth = scrollDepth();
    if (engagementTimer === null) engagementTimer = window.setInterval(tick, TICK_MS);
  }

  ["mousemove", "mousedown", "keydown", "scroll", "touchstart", "wheel"].forEach(function (name) {
    window.addEventListener(name, function () { lastActivityAt = Date.now(); }, { passive: true });
  });

  function setUser(userId, identitySource) {
    user = {
      user_id: userId ? cut(userId, MAX_ID) : null,
      identity_source: userId ? cut(identitySource || null, MAX_ID) : null
    };
    if (mayTrack()) save("user", user); // before consent: for this page only
  }

  // The site's consent banner calls this with the visitor's choice.
  function consent(state) {
    if (!config.consentRequired) {
      warn('clickstream: consent() needs data-consent="required" on the script tag');
      return;
    }
    if (CONSENT_STATES.indexOf(state) < 0) {
      warn("clickstream: consent state must be granted or denied (got " + state + ")");
      return;
    }
    var before = consentState;
    if (state === before) return;
    consentState = state;
    save("consent", state);
    if (state === "granted") {
      enqueue(buildEvent(CONSENT_EVENT, null, null));
      if (user.user_id) save("user", user);
      if (pageViewDropped) {
        pageViewDropped = false;
        track("page_view");
      }
      return;
    }
    // Denied: nothing unsent goes out; a withdrawal is recorded, then the ids are forgotten.
    queue = [];
    inFlight = 0;
    if (before === "granted") {
      var withdrawal = buildEvent(CONSENT_EVENT, null, null, "denied");
      ["client_id", "session", "first_session_id", "user"].forEach(forget);
      enqueue(withdrawal);
    } else {
      forget("queue");
    }
  }

  window.addEventListener("pagehide", function () { flush(true); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") flush(true);
  });

  window.clickstream = {
    version: VERSION,
    track: track,
    pageView: function () { return track("page_view"); },
    setUser: setUser,
    flush: function () { return flush(false); },
    consent: consent,
    consentState: function () { return consentState; },
    consentRequired: function () { return config.consentRequired; },
    // How many events wait to be acknowledged (for tests and the curious).
    pending: function () { return queue.length; },
    clientId: clientId,
    sessionId: function () { var s = load("session"); return s ? s.id : null; },
    configure: function (options) {
      for (var key in options) if (Object.prototype.hasOwnProperty.call(options, key)) config[key] = options[key];
    }
  };

  if (config.autoPageView) track("page_view");
  if (queue.length) schedule(0); // events left by an earlier page
})(window, document);
