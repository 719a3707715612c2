/* Prosa inbox: the WebSocket, live updates through server-rendered partials, the composer's
 * helpers and keyboard shortcuts. Plain JavaScript on top of htmx; no build step. */
(() => {
  "use strict";

  const app = document.getElementById("app");
  if (!app || !window.htmx) return;

  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
  const urlFor = (template, id) => template.replace("/0/", `/${id}/`);
  const store = {
    get(key, fallback) {
      try { return localStorage.getItem(key) ?? fallback; } catch (_) { return fallback; }
    },
    set(key, value) {
      try { localStorage.setItem(key, value); } catch (_) { /* private mode: keep it for this page only */ }
    },
  };
  const baseTitle = document.title;
  const drafts = new Map();

  const openTicketId = () => $("#conversation-body")?.dataset.ticketId || null;
  const messageList = () => $("#message-list");
  const scroller = () => $("#messages");

  // --- errors in words ---------------------------------------------------------------------

  let flashTimer = null;
  function flash(text) {
    const area = $("#flash");
    area.innerHTML = '<div class="flash" role="alert"><p></p><button type="button" class="icon" data-action="dismiss" aria-label="✕">✕</button></div>';
    area.querySelector("p").textContent = text;
    armFlash();
  }
  function armFlash() {
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { $("#flash").innerHTML = ""; }, 9000);
  }

  // Domain errors come back as 4xx with HX-Retarget: #flash — swap those; anything else is said here.
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const xhr = event.detail.xhr;
    if (xhr.responseURL && new URL(xhr.responseURL).pathname === app.dataset.loginUrl) {
      event.detail.shouldSwap = false;
      window.location.href = `${app.dataset.loginUrl}?next=${encodeURIComponent(location.pathname)}`;
      return;
    }
    if (xhr.status >= 400 && xhr.getResponseHeader("HX-Retarget")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    } else if (xhr.status >= 400) {
      event.detail.shouldSwap = false;
      flash(app.dataset.msgError);
    }
    if (event.detail.target?.classList?.contains("load-older")) {
      const box = scroller();
      if (box) box.dataset.heightBefore = String(box.scrollHeight);
    }
  });
  document.body.addEventListener("htmx:sendError", () => flash(app.dataset.msgOffline));

  // --- the conversation pane ----------------------------------------------------------------

  function nearBottom() {
    const box = scroller();
    return !box || box.scrollHeight - box.scrollTop - box.clientHeight < 160;
  }
  function scrollToBottom() {
    const box = scroller();
    if (box) box.scrollTop = box.scrollHeight;
    stickToBottom = true;
  }
  // Images and videos load after the scroll: keep the newest message in view while the agent
  // has not scrolled up to read older ones.
  let stickToBottom = true;
  document.addEventListener("scroll", (event) => {
    if (event.target.id === "messages") stickToBottom = nearBottom();
  }, true);
  document.addEventListener("load", (event) => {
    if (stickToBottom && event.target.closest?.("#messages")) {
      const box = scroller();
      box.scrollTop = box.scrollHeight;
    }
  }, true);
  function dedupeDays() {
    const seen = new Set();
    for (const sep of $$(".day-sep", messageList() || document.createElement("div"))) {
      if (seen.has(sep.dataset.day)) sep.remove();
      else seen.add(sep.dataset.day);
    }
  }
  // A reply can arrive twice: from the send request's answer and, sooner or later, from its own
  // message.created event. Keep one bubble and refetch it, so the freshest status shows.
  // A message.updated (a reply's "sent", say) can come before the reply's bubble is on the page
  // (the send request's answer or its message.created still on their way): remembered, and the
  // bubble refetched once it is there, instead of keeping the status it was rendered with.
  const updatedBeforeShown = new Set();
  function dedupeBubbles() {
    const seen = new Set();
    const twice = new Set();
    for (const bubble of $$(".msg[id]", messageList() || document.createElement("div"))) {
      if (seen.has(bubble.id)) { bubble.remove(); twice.add(bubble.dataset.messageId); }
      else seen.add(bubble.id);
      if (updatedBeforeShown.delete(bubble.dataset.messageId)) twice.add(bubble.dataset.messageId);
    }
    for (const id of twice) showMessage(id);
  }
  function markActiveRow() {
    const id = openTicketId();
    for (const row of $$(".ticket-row")) row.classList.toggle("active", row.dataset.ticketId === id);
  }

  let subscribed = null;
  function syncSubscription() {
    const id = openTicketId();
    if (subscribed === id) return;
    if (subscribed) send({ type: "ticket.unsubscribe", ticket_id: Number(subscribed) });
    subscribed = id;
    if (id) send({ type: "ticket.subscribe", ticket_id: Number(id) });
  }

  function conversationLoaded() {
    const id = openTicketId();
    document.body.classList.toggle("show-conversation", Boolean(id));
    markActiveRow();
    syncSubscription();
    hideTyping();
    const textarea = $("#composer textarea");
    if (textarea && drafts.has(id)) textarea.value = drafts.get(id);
    dedupeDays();
    scrollToBottom();
  }

  document.body.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail.target;
    if (target.id === "conversation") conversationLoaded();
    else if (target.id === "message-list") { dedupeBubbles(); dedupeDays(); scrollToBottom(); }
    else if (target.id === "flash") armFlash();
    else if (target.id === "ticket-rows") markActiveRow();
    if (event.detail.elt?.classList?.contains("load-older") || target.classList?.contains("load-older")) {
      const box = scroller();
      if (box && box.dataset.heightBefore) {
        box.scrollTop += box.scrollHeight - Number(box.dataset.heightBefore);
        delete box.dataset.heightBefore;
      }
      dedupeDays();
    }
  });
  document.body.addEventListener("htmx:historyRestore", () => { conversationLoaded(); });

  async function fetchPartial(url) {
    const response = await fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" });
    if (response.redirected && new URL(response.url).pathname === app.dataset.loginUrl) {
      window.location.href = app.dataset.loginUrl;
      return { status: 401, html: "" };
    }
    return { status: response.status, html: response.status === 200 ? await response.text() : "" };
  }
  function nodesOf(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return Array.from(template.content.children);
  }

  async function showMessage(id) {
    const list = messageList();
    if (!list) return;
    const { status, html } = await fetchPartial(urlFor(app.dataset.messageUrl, id));
    if (status !== 200) return;
    const nodes = nodesOf(html);
    const bubble = nodes.find((node) => node.classList.contains("msg"));
    if (!bubble || bubble.dataset.ticketId && bubble.dataset.ticketId !== openTicketId()) return;
    const existing = document.getElementById(bubble.id);
    if (existing) {
      existing.replaceWith(bubble);
    } else {
      const stick = nearBottom();
      for (const node of nodes) list.appendChild(node);
      dedupeBubbles();
      dedupeDays();
      if (stick) scrollToBottom();
    }
    htmx.process(bubble);
  }

  // A flow's work (its trace) joins the open conversation when the ticket or its messages change:
  // fetch the nodes run after the last one shown; a run still going at the bottom is redrawn whole.
  let botActivityTimer = null;
  function refreshBotActivitySoon(id) {
    clearTimeout(botActivityTimer);
    botActivityTimer = setTimeout(() => refreshBotActivity(id), 250);
  }
  async function refreshBotActivity(id) {
    const list = messageList();
    if (!list || id !== openTicketId() || !app.dataset.botActivityUrl) return;
    const shown = $$(".bot-activity[data-last-trace]", list).map((group) => Number(group.dataset.lastTrace) || 0);
    let after = Math.max(Number(list.dataset.traceCursor) || 0, ...shown);
    const last = Array.from(list.children).filter((node) => !node.classList.contains("day-sep")).pop();
    const tail = last?.classList.contains("bot-activity") ? last : null;
    if (tail) after = Math.min(after, (Number(tail.dataset.firstTrace) || 1) - 1);
    const { status, html } = await fetchPartial(`${urlFor(app.dataset.botActivityUrl, id)}?after=${after}`);
    if (status !== 200 || id !== openTicketId() || messageList() !== list) return;
    const nodes = nodesOf(html);
    const groups = nodes.filter((node) => node.classList.contains("bot-activity"));
    if (!groups.length) return;
    const stick = nearBottom();
    if (tail && tail.isConnected) {
      const again = groups.find((group) => group.dataset.firstTrace === tail.dataset.firstTrace);
      if (again) again.open = tail.open;
      tail.remove();
    }
    for (const node of nodes) list.appendChild(node);
    list.dataset.traceCursor = groups[groups.length - 1].dataset.lastTrace;
    dedupeDays();
    if (stick) scrollToBottom();
  }

  // --- the ticket list -----------------------------------------------------------------------

  function filterQuery() {
    const form = $("#list-filters");
    const params = new URLSearchParams();
    if (form) for (const [key, value] of new FormData(form)) if (value) params.append(key, value);
    return params.toString();
  }

  const rowTimers = new Map();
  function refreshRowSoon(id) {
    clearTimeout(rowTimers.get(id));
    rowTimers.set(id, setTimeout(() => { rowTimers.delete(id); refreshRow(id); }, 120));
  }
  async function refreshRow(id) {
    const rows = $("#ticket-rows");
    if (!rows) return;
    const { status, html } = await fetchPartial(`${urlFor(app.dataset.rowUrl, id)}?${filterQuery()}`);
    const existing = document.getElementById(`ticket-row-${id}`);
    if (status !== 200) {
      existing?.remove();
      return;
    }
    const [row] = nodesOf(html);
    if (!row) return;
    row.classList.toggle("active", String(id) === openTicketId());
    const last = Number(row.dataset.last || 0);
    if (existing && Number(existing.dataset.last || 0) === last) {
      existing.replaceWith(row);
    } else {
      existing?.remove();
      const before = $$(".ticket-row", rows).find((other) => Number(other.dataset.last || 0) <= last);
      rows.querySelector(":scope > .empty")?.remove();
      if (before) rows.insertBefore(row, before);
      else if (!rows.querySelector(".sentinel")) rows.appendChild(row);
      else rows.insertBefore(row, rows.querySelector(".sentinel"));
    }
    htmx.process(row);
  }

  document.body.addEventListener("inbox:ticket-changed", (event) => {
    if (event.detail?.id) refreshRowSoon(event.detail.id);
    refreshTabsSoon();
  });

  // The tabs' counters follow live events; one fetch for a burst of them.
  let tabsTimer = null;
  function refreshTabsSoon() {
    clearTimeout(tabsTimer);
    tabsTimer = setTimeout(refreshTabs, 300);
  }
  async function refreshTabs() {
    const tabs = $("#tabs");
    if (!tabs) return;
    const { status, html } = await fetchPartial(`${app.dataset.tabsUrl}?${filterQuery()}`);
    if (status === 200) tabs.innerHTML = html;
  }

  function refreshHeader(id) {
    const header = $("#conv-header");
    if (!header || header.dataset.ticketId !== String(id)) return;
    if (header.querySelector("dialog[open]")) return; // do not pull a form from under the agent
    htmx.ajax("GET", urlFor(app.dataset.headerUrl, id), { target: "#conv-header", swap: "outerHTML" });
  }

  // --- sound and title -----------------------------------------------------------------------

  let unseen = 0;
  let audio = null;
  const soundOn = () => store.get("prosa.sound", "on") === "on";
  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const now = audio.currentTime;
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      oscillator.type = "sine";
      oscillator.frequency.setValueAtTime(880, now);
      oscillator.frequency.setValueAtTime(1175, now + 0.09);
      gain.gain.setValueAtTime(0.0001, now);
      gain.gain.exponentialRampToValueAtTime(0.12, now + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.28);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start(now);
      oscillator.stop(now + 0.3);
    } catch (_) { /* no audio here: the title still says it */ }
  }
  function announce(ticketId) {
    if (!soundOn()) return;
    beep();
    if (document.hidden || String(ticketId) !== openTicketId()) {
      unseen += 1;
      document.title = `(${unseen}) ${baseTitle}`;
    }
  }
  function clearUnseen() {
    unseen = 0;
    document.title = baseTitle;
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) { clearUnseen(); markReadSoon(); }
  });
  window.addEventListener("focus", clearUnseen);

  function updateSoundButton() {
    const button = $("#sound-toggle");
    if (button) {
      button.setAttribute("aria-pressed", soundOn() ? "true" : "false");
      button.textContent = soundOn() ? "🔔" : "🔕";
    }
  }
  $("#sound-toggle")?.addEventListener("click", () => {
    store.set("prosa.sound", soundOn() ? "off" : "on");
    updateSoundButton();
    if (soundOn()) beep();
  });
  updateSoundButton();

  let readTimer = null;
  function markReadSoon() {
    clearTimeout(readTimer);
    readTimer = setTimeout(() => {
      const id = openTicketId();
      if (!id || document.hidden || $("#conv-header")?.dataset.mine !== "1") return;
      htmx.ajax("POST", urlFor(app.dataset.readUrl, id), { swap: "none", target: "#flash" });
    }, 600);
  }

  // --- typing between agents -------------------------------------------------------------------

  let typingTimer = null;
  function hideTyping() {
    const line = $("#typing");
    if (line) line.hidden = true;
  }
  function showTyping(data) {
    const line = $("#typing");
    if (!line || String(data.ticket_id) !== openTicketId()) return;
    clearTimeout(typingTimer);
    if (!data.typing) { hideTyping(); return; }
    line.textContent = app.dataset.msgTyping.replace("{name}", data.name || "…");
    line.hidden = false;
    typingTimer = setTimeout(hideTyping, 6000);
  }
  let typingSentAt = 0;
  function typing(active) {
    const id = openTicketId();
    if (!id) return;
    const now = Date.now();
    if (active && now - typingSentAt < 3000) return;
    typingSentAt = active ? now : 0;
    send({ type: "typing", ticket_id: Number(id), typing: active });
  }

  // --- presence ----------------------------------------------------------------------------

  const presence = () => store.get("prosa.presence", "online");
  function updatePresenceButton(status) {
    const button = $("#presence-toggle");
    if (!button) return;
    button.dataset.status = status;
    const label = button.querySelector(".presence-label");
    label.textContent = status === "away" ? label.dataset.away : label.dataset.online;
  }
  $("#presence-toggle")?.addEventListener("click", () => {
    const next = presence() === "away" ? "online" : "away";
    store.set("prosa.presence", next);
    updatePresenceButton(next);
    send({ type: "presence.set", status: next });
  });
  updatePresenceButton(presence());

  // Others' status: the team list and the transfer dialog's people, kept current by events.
  const presenceLabels = { online: app.dataset.msgOnline, away: app.dataset.msgAway, offline: app.dataset.msgOffline };
  const knownPresence = new Map();
  function showPresence(root = document) {
    for (const element of $$("[data-presence-user]", root)) {
      const status = knownPresence.get(element.dataset.presenceUser);
      if (!status) continue;
      element.dataset.status = status;
      if (element.tagName === "OPTION") element.textContent = `${element.dataset.name} · ${presenceLabels[status]}`;
      else {
        const label = element.querySelector(".presence-status");
        if (label) label.textContent = presenceLabels[status];
      }
    }
    const list = $("#team-list");
    if (list) {
      const rank = { online: 0, away: 1, offline: 2 };
      const members = $$(":scope > li", list);
      members.sort((a, b) => (rank[a.dataset.status] ?? 2) - (rank[b.dataset.status] ?? 2));
      for (const member of members) list.appendChild(member);
      const online = $("#team-online");
      if (online) online.textContent = String(members.filter((member) => member.dataset.status === "online").length);
    }
  }
  function presenceUpdated(userId, status) {
    if (!(status in presenceLabels)) return;
    knownPresence.set(String(userId), status);
    showPresence();
  }
  // After a reconnect: events missed while the socket was down are fetched from the API.
  async function refetchPresence() {
    try {
      const response = await fetch(app.dataset.presenceUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      for (const member of await response.json()) knownPresence.set(String(member.user_id), member.status);
      showPresence();
    } catch (_) { /* offline again: the next reconnect tries again */ }
  }
  document.body.addEventListener("htmx:afterSettle", (event) => showPresence(event.detail.target || document));

  // --- the socket -------------------------------------------------------------------------

  let socket = null;
  let attempts = 0;
  let everConnected = false;
  let pingTimer = null;

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }
  function banner(text) {
    const element = $("#ws-banner");
    if (!element) return;
    if (text) element.textContent = text;
    element.hidden = false;
  }
  const bannerText = $("#ws-banner")?.textContent;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${app.dataset.wsPath}`);
    socket.addEventListener("open", () => {
      $("#ws-banner").hidden = true;
      app.dataset.live = "1"; // styles and the browser tests read it
      if (everConnected) refetchEverything();
      everConnected = true;
      attempts = 0;
      subscribed = null;
      syncSubscription();
      send({ type: "presence.set", status: presence() });
      clearInterval(pingTimer);
      pingTimer = setInterval(() => send({ type: "ping" }), 30000);
    });
    socket.addEventListener("message", (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (_) { return; }
      handle(message.type, message.data || {});
    });
    socket.addEventListener("close", (event) => {
      clearInterval(pingTimer);
      app.dataset.live = "0";
      if (event.code === 4401) { window.location.href = app.dataset.loginUrl; return; }
      if (event.code === 4403) { banner(app.dataset.msgNoAccess); return; }
      banner(bannerText);
      const delay = Math.min(30000, 1000 * 2 ** attempts) * (0.6 + Math.random() * 0.4);
      attempts += 1;
      setTimeout(connect, delay);
    });
  }

  function refetchEverything() {
    refetchPresence();
    const form = $("#list-filters");
    if (form) htmx.trigger(form, "submit");
    const id = openTicketId();
    if (id) {
      const textarea = $("#composer textarea");
      if (textarea) drafts.set(id, textarea.value);
      htmx.ajax("GET", urlFor(app.dataset.conversationUrl, id), { target: "#conversation", swap: "innerHTML" });
    }
  }

  function handle(type, data) {
    switch (type) {
      case "ticket.created":
      case "ticket.updated":
        refreshRowSoon(data.id);
        refreshTabsSoon();
        if (String(data.id) === openTicketId()) {
          refreshHeader(data.id);
          refreshBotActivitySoon(String(data.id));
        }
        break;
      case "ticket.deleted":
        document.getElementById(`ticket-row-${data.id}`)?.remove();
        refreshTabsSoon();
        break;
      case "message.created":
        // A received message carries its ticket (data.ticket) instead of a ticket.updated of its own.
        if (data.ticket) handle("ticket.updated", data.ticket);
        refreshRowSoon(data.ticket_id);
        if (data.direction === "inbound") refreshTabsSoon();
        if (String(data.ticket_id) === openTicketId()) {
          showMessage(data.id);
          refreshBotActivitySoon(String(data.ticket_id));
          if (data.direction === "inbound") markReadSoon();
        }
        if (data.direction === "inbound") announce(data.ticket_id);
        break;
      case "message.updated":
        if (document.getElementById(`msg-${data.id}`)) showMessage(data.id);
        else if (String(data.ticket_id) === openTicketId()) updatedBeforeShown.add(String(data.id));
        break;
      case "typing":
        showTyping(data);
        break;
      case "presence.updated":
        presenceUpdated(data.user_id, data.status);
        break;
      case "presence.set":
        if (data.status === "online" || data.status === "away") updatePresenceButton(data.status);
        break;
      default:
        break;
    }
  }

  // --- the composer --------------------------------------------------------------------------

  const composer = () => $("#composer");
  let quickTimer = null;

  function autoGrow(textarea) {
    textarea.style.height = "auto";
    textarea.style.height = `${Math.min(textarea.scrollHeight, 160)}px`;
  }
  function closePopups() {
    for (const popup of $$(".popup")) popup.hidden = true;
  }
  async function loadQuickReplies(query) {
    const form = composer();
    const popup = $("#quick-replies");
    if (!form || !popup) return;
    const url = `${urlFor(app.dataset.quickRepliesUrl, form.dataset.ticketId)}?q=${encodeURIComponent(query)}`;
    const { status, html } = await fetchPartial(url);
    if (status !== 200) return;
    popup.innerHTML = html;
    popup.hidden = false;
  }
  function chooseQuickReply(button) {
    const form = composer();
    const textarea = form.querySelector("textarea");
    textarea.value = button.dataset.text;
    form.querySelector("[name=quick_reply]").value = button.dataset.hasMedia === "1" ? button.dataset.quickReplyId : "";
    closePopups();
    autoGrow(textarea);
    textarea.focus();
  }
  function moveQuickSelection(step) {
    const options = $$("#quick-replies .quick-reply");
    if (!options.length) return;
    const index = options.findIndex((option) => option.classList.contains("selected"));
    const next = options[(index + step + options.length) % options.length];
    options.forEach((option) => option.classList.toggle("selected", option === next));
    next.scrollIntoView({ block: "nearest" });
  }
  function insertAtCursor(textarea, text) {
    const start = textarea.selectionStart ?? textarea.value.length;
    const end = textarea.selectionEnd ?? textarea.value.length;
    textarea.value = textarea.value.slice(0, start) + text + textarea.value.slice(end);
    textarea.selectionStart = textarea.selectionEnd = start + text.length;
    textarea.focus();
  }
  function checkFile(input) {
    const form = composer();
    const file = input.files?.[0];
    const preview = $("#attachment-preview");
    if (!file) { preview.hidden = true; return; }
    const limits = JSON.parse(form.dataset.mediaLimits || "{}");
    const type = (file.type || "").toLowerCase();
    if (!(type in limits)) {
      flash(form.dataset.msgType);
      input.value = "";
      preview.hidden = true;
      return;
    }
    if (file.size > limits[type]) {
      flash(form.dataset.msgSize.replace("{mb}", String(Math.floor(limits[type] / 1048576))));
      input.value = "";
      preview.hidden = true;
      return;
    }
    preview.querySelector(".file-name").textContent = `📎 ${file.name}`;
    preview.hidden = false;
  }
  function resetComposer() {
    const form = composer();
    if (!form) return;
    form.reset();
    form.querySelector("[name=reply_to]").value = "";
    form.querySelector("[name=quick_reply]").value = "";
    $("#reply-preview").hidden = true;
    $("#attachment-preview").hidden = true;
    drafts.delete(form.dataset.ticketId);
    autoGrow(form.querySelector("textarea"));
    typing(false);
  }

  document.addEventListener("input", (event) => {
    const textarea = event.target;
    if (!(textarea instanceof HTMLTextAreaElement) || !textarea.closest("#composer")) return;
    autoGrow(textarea);
    drafts.set(composer().dataset.ticketId, textarea.value);
    typing(true);
    const value = textarea.value;
    clearTimeout(quickTimer);
    if (/^\/\S*$/.test(value)) quickTimer = setTimeout(() => loadQuickReplies(value.slice(1)), 150);
    else $("#quick-replies") && ($("#quick-replies").hidden = true);
  });

  document.addEventListener("change", (event) => {
    if (event.target.matches?.("#composer input[type=file]")) checkFile(event.target);
  });

  document.addEventListener("keydown", (event) => {
    const textarea = event.target;
    if (!(textarea instanceof HTMLTextAreaElement) || !textarea.closest("#composer")) return;
    const popup = $("#quick-replies");
    const popupOpen = popup && !popup.hidden && popup.querySelector(".quick-reply");
    if (popupOpen && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      moveQuickSelection(event.key === "ArrowDown" ? 1 : -1);
    } else if (popupOpen && (event.key === "Enter" || event.key === "Tab")) {
      event.preventDefault();
      chooseQuickReply(popup.querySelector(".quick-reply.selected") || popup.querySelector(".quick-reply"));
    } else if (event.key === "Escape") {
      closePopups();
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer().requestSubmit();
    }
  });

  // An empty message is not sent at all (nothing to say about it).
  document.body.addEventListener("htmx:confirm", (event) => {
    const form = event.target;
    if (form.id !== "composer") return;
    const text = form.querySelector("textarea").value.trim();
    const file = form.querySelector("input[type=file]").files?.length;
    if (!text && !file) event.preventDefault();
  });
  document.body.addEventListener("htmx:afterRequest", (event) => {
    const element = event.detail.elt;
    if (element?.id === "composer" && event.detail.successful) { resetComposer(); scrollToBottom(); }
    if (element?.classList?.contains("template-form") && event.detail.successful) element.reset();
    const dialog = element?.closest?.("dialog");
    if (dialog?.open) dialog.close();
  });

  // --- clicks --------------------------------------------------------------------------------

  document.addEventListener("click", (event) => {
    const target = event.target.closest("[data-action], [data-dialog], [data-lightbox], .quick-reply, .emoji");
    if (!target) {
      if (!event.target.closest(".popup")) closePopups();
      return;
    }
    if (target.matches(".quick-reply")) { chooseQuickReply(target); return; }
    if (target.matches(".emoji")) {
      insertAtCursor(composer().querySelector("textarea"), target.dataset.emoji);
      return;
    }
    if (target.matches("[data-lightbox]")) {
      const box = $("#lightbox");
      box.querySelector("img").src = target.currentSrc || target.src;
      box.hidden = false;
      return;
    }
    if (target.dataset.dialog) {
      document.getElementById(target.dataset.dialog)?.showModal();
      return;
    }
    switch (target.dataset.action) {
      case "dismiss": $("#flash").innerHTML = ""; break;
      case "emoji": {
        const menu = $("#emoji-menu");
        const wasHidden = menu.hidden;
        closePopups();
        menu.hidden = !wasHidden;
        break;
      }
      case "reply": {
        const form = composer();
        if (!form) break;
        form.querySelector("[name=reply_to]").value = target.dataset.replyTo;
        const preview = $("#reply-preview");
        preview.querySelector(".reply-text").textContent = `↩ ${target.dataset.replyText}`;
        preview.hidden = false;
        form.querySelector("textarea").focus();
        break;
      }
      case "insert-article": {
        // A knowledge base article into the composer (the button's hx-post counts the use).
        const textarea = composer()?.querySelector("textarea");
        if (!textarea) break;
        insertAtCursor(textarea, target.dataset.text);
        autoGrow(textarea);
        drafts.set(composer().dataset.ticketId, textarea.value);
        break;
      }
      case "cancel-reply":
        composer().querySelector("[name=reply_to]").value = "";
        $("#reply-preview").hidden = true;
        break;
      case "clear-file":
        composer().querySelector("input[type=file]").value = "";
        $("#attachment-preview").hidden = true;
        break;
      case "close-dialog": target.closest("dialog")?.close(); break;
      case "back": goBack(); break;
      case "jump": {
        const quoted = document.querySelector(target.getAttribute("href"));
        if (quoted) {
          event.preventDefault();
          quoted.scrollIntoView({ block: "center", behavior: "smooth" });
          quoted.classList.add("highlight");
          setTimeout(() => quoted.classList.remove("highlight"), 1500);
        }
        break;
      }
      default: break;
    }
  });
  $("#lightbox")?.addEventListener("click", (event) => { event.currentTarget.hidden = true; });

  function goBack() {
    document.body.classList.remove("show-conversation");
    if (location.pathname !== "/inbox/") history.pushState({}, "", "/inbox/");
  }

  // --- keyboard shortcuts ----------------------------------------------------------------------

  function moveTicket(step) {
    const rows = $$(".ticket-row");
    if (!rows.length) return;
    const index = rows.findIndex((row) => row.classList.contains("active"));
    const next = rows[Math.max(0, Math.min(rows.length - 1, index + step))] || rows[0];
    next.querySelector("a").click();
    next.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const field = event.target.closest?.("input, textarea, select, [contenteditable]");
    if (event.key === "Escape") {
      closePopups();
      const lightbox = $("#lightbox");
      if (!lightbox.hidden) { lightbox.hidden = true; return; }
      if (field) { field.blur(); return; }
      if (window.matchMedia("(max-width: 720px)").matches && document.body.classList.contains("show-conversation")) goBack();
      return;
    }
    if (field || document.querySelector("dialog[open]")) return;
    const click = (selector) => { const element = $(selector); if (element) { event.preventDefault(); element.click(); } };
    switch (event.key) {
      case "j": moveTicket(1); break;
      case "k": moveTicket(-1); break;
      case "/": event.preventDefault(); $("#search")?.focus(); break;
      case "r": event.preventDefault(); $("#composer textarea")?.focus(); break;
      case "a": click("[data-shortcut=accept]"); break;
      case "e": click("[data-shortcut=close]"); break;
      case "t": click("[data-shortcut=transfer]"); break;
      case "?": event.preventDefault(); $("#help-dialog")?.showModal(); break;
      case "1": case "2": case "3": case "4": {
        const radio = $$("#tabs input[name=tab]")[Number(event.key) - 1];
        if (radio) { radio.checked = true; radio.dispatchEvent(new Event("change", { bubbles: true })); }
        break;
      }
      default: break;
    }
  });
  $("#help-toggle")?.addEventListener("click", () => $("#help-dialog")?.showModal());

  // --- start -----------------------------------------------------------------------------------

  conversationLoaded();
  connect();

  // --- AI assistant (summaries and suggested replies, through /api/v1/ai/) ---------------------

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch (_) { return ""; }
  }
  function aiPanelShow(panel, title, nodes) {
    panel.replaceChildren();
    const head = document.createElement("header");
    const heading = document.createElement("strong");
    heading.textContent = title;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "icon";
    close.dataset.aiClose = "1";
    close.setAttribute("aria-label", panel.dataset.msgClose);
    close.textContent = "✕";
    head.append(heading, close);
    panel.append(head, ...nodes);
    panel.hidden = false;
  }
  async function aiTranscribe(button) {
    button.disabled = true;
    const result = document.createElement("p");
    try {
      const response = await fetch(button.dataset.aiUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
      });
      const body = await response.json().catch(() => ({}));
      result.className = response.ok ? "transcript small" : "ai-error small";
      result.textContent = response.ok ? `📝 ${body.text}` : (body.detail || app.dataset.msgError);
    } catch (_) {
      result.className = "ai-error small";
      result.textContent = app.dataset.msgOffline;
    }
    button.replaceWith(result);
  }
  async function aiAssist(button) {
    if (button.dataset.ai === "transcribe") { aiTranscribe(button); return; }
    const panel = $("#ai-panel");
    if (!panel) return;
    const paragraph = (text, className) => {
      const node = document.createElement("p");
      node.textContent = text;
      if (className) node.className = className;
      return node;
    };
    button.disabled = true;
    aiPanelShow(panel, panel.dataset.msgWorking, []);
    try {
      const response = await fetch(button.dataset.aiUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        aiPanelShow(panel, button.textContent.trim(), [paragraph(body.detail || app.dataset.msgError, "ai-error")]);
        return;
      }
      if (button.dataset.ai === "summarize") {
        aiPanelShow(panel, panel.dataset.msgSummary, [paragraph(body.summary, "ai-summary")]);
        return;
      }
      let labels = {};
      try { labels = JSON.parse(panel.dataset.labels || "{}"); } catch (_) { labels = {}; }
      if (button.dataset.ai === "classify") {
        const sentiment = labels[body.sentiment] || body.sentiment || "—";
        aiPanelShow(panel, panel.dataset.msgClassified, [paragraph(`${sentiment} · ${body.category || "—"}`, "ai-summary")]);
        return;
      }
      if (button.dataset.ai === "qualify") {
        const lines = ["budget", "authority", "need", "timeline"].map((field) => {
          const quote = body.evidence?.[field]?.quote;
          const value = body[field] === null || body[field] === "" ? "—" : body[field];
          return paragraph(`${labels[field] || field}: ${value}${quote ? ` — “${quote}”` : ""}`, "small");
        });
        aiPanelShow(panel, panel.dataset.msgQualified, lines);
        return;
      }
      const replies = body.replies.map((text) => {
        const choice = document.createElement("button");
        choice.type = "button";
        choice.className = "ai-reply";
        choice.dataset.aiReply = text;
        choice.textContent = text;
        return choice;
      });
      const nodes = [...replies];
      if (body.articles.length) {
        nodes.push(paragraph(`${panel.dataset.msgArticles} ${body.articles.map((article) => article.title).join(" · ")}`, "muted small"));
      }
      aiPanelShow(panel, panel.dataset.msgReplies, nodes);
    } catch (_) {
      aiPanelShow(panel, button.textContent.trim(), [paragraph(app.dataset.msgOffline, "ai-error")]);
    } finally {
      button.disabled = false;
    }
  }
  // The composer's "Rewrite…" menu: the draft goes to /api/v1/ai/compose and comes back rewritten.
  async function aiCompose(select) {
    const [action, target] = select.value.split(":");
    select.value = "";
    const panel = $("#ai-panel");
    const textarea = composer()?.querySelector("textarea");
    if (!action || !textarea || !panel) return;
    const say = (text) => {
      const node = document.createElement("p");
      node.className = "ai-error";
      node.textContent = text;
      aiPanelShow(panel, panel.dataset.msgRewrite, [node]);
    };
    if (!textarea.value.trim()) { say(panel.dataset.msgEmptyDraft); return; }
    select.disabled = true;
    try {
      const response = await fetch(select.dataset.aiCompose, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ text: textarea.value, action, target_language: target || null }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) { say(body.detail || app.dataset.msgError); return; }
      textarea.value = body.text;
      textarea.dispatchEvent(new Event("input", { bubbles: true }));
      textarea.focus();
    } catch (_) {
      say(app.dataset.msgOffline);
    } finally {
      select.disabled = false;
    }
  }
  document.addEventListener("change", (event) => {
    const select = event.target.closest?.("[data-ai-compose]");
    if (select) aiCompose(select);
  });
  document.addEventListener("click", (event) => {
    const trigger = event.target.closest("[data-ai-url], [data-ai-reply], [data-ai-close]");
    if (!trigger) return;
    if (trigger.dataset.aiUrl) { aiAssist(trigger); return; }
    if (trigger.dataset.aiClose) { trigger.closest(".ai-panel").hidden = true; return; }
    const textarea = composer()?.querySelector("textarea");
    if (!textarea) return;
    textarea.value = trigger.dataset.aiReply;
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    textarea.focus();
  });
})();
