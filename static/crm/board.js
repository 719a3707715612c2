// The deals board: drag a card to another column to move the deal (HTML5 drag and drop, no
// library). The server answers with the card re-rendered; on failure the board reloads.
(function () {
  "use strict";

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function recount() {
    document.querySelectorAll(".crm-column").forEach(function (column) {
      column.querySelector(".crm-count").textContent = column.querySelectorAll(".crm-card").length;
    });
  }

  function move(card, column) {
    var origin = card.closest(".crm-column");
    var body = new FormData();
    body.append("stage", column.dataset.stageId);
    column.querySelector(".crm-cards").prepend(card);
    recount();
    fetch(card.dataset.moveUrl, {
      method: "POST",
      body: body,
      headers: { "X-CSRFToken": csrfToken() },
      credentials: "same-origin",
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.text();
    }).then(function (html) {
      card.outerHTML = html;
    }).catch(function () {
      var board = document.getElementById("crm-board");
      document.getElementById("flash").textContent = board.dataset.msgMoveFailed;
      if (origin) origin.querySelector(".crm-cards").prepend(card);
      window.setTimeout(function () { window.location.reload(); }, 1500);
    });
  }

  document.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".crm-card");
    if (!card) return;
    card.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.id);
  });

  document.addEventListener("dragend", function (event) {
    var card = event.target.closest && event.target.closest(".crm-card");
    if (card) card.classList.remove("dragging");
    document.querySelectorAll(".crm-column.drop-target").forEach(function (column) {
      column.classList.remove("drop-target");
    });
  });

  document.addEventListener("dragover", function (event) {
    var column = event.target.closest && event.target.closest(".crm-column");
    if (!column) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    column.classList.add("drop-target");
  });

  document.addEventListener("dragleave", function (event) {
    var column = event.target.closest && event.target.closest(".crm-column");
    if (column && !column.contains(event.relatedTarget)) column.classList.remove("drop-target");
  });

  document.addEventListener("drop", function (event) {
    var column = event.target.closest && event.target.closest(".crm-column");
    if (!column) return;
    event.preventDefault();
    column.classList.remove("drop-target");
    var card = document.getElementById(event.dataTransfer.getData("text/plain"));
    if (!card || card.closest(".crm-column") === column) return;
    move(card, column);
  });

  // Live: a deal created, moved or closed elsewhere (another agent, the API, the admin) redraws the
  // board, a moment later and never in the middle of a drag or while a title is being typed.
  function liveUpdates() {
    var board = document.getElementById("crm-board");
    if (!board || !window.WebSocket) return;
    var timer = null;
    var attempts = 0;

    function busy() {
      var active = document.activeElement;
      return document.querySelector(".crm-card.dragging") ||
        (active && board.contains(active) && active.value);
    }

    function refresh() {
      if (busy()) { schedule(); return; }
      fetch(window.location.href, { credentials: "same-origin" }).then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      }).then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("crm-board");
        if (!fresh || busy()) return;
        board.innerHTML = fresh.innerHTML;
        if (window.htmx) window.htmx.process(board);
      }).catch(function () { /* the next event tries again */ });
    }

    function schedule() {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 500);
    }

    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + window.location.host + board.dataset.wsPath);
      socket.addEventListener("open", function () { attempts = 0; });
      socket.addEventListener("message", function (message) {
        var event = JSON.parse(message.data);
        if (event.type && event.type.indexOf("deal.") === 0) schedule();
      });
      socket.addEventListener("close", function (close) {
        if (close.code === 4401 || close.code === 4403) return; // signed out or no access
        attempts += 1;
        window.setTimeout(connect, Math.min(30000, 1000 * Math.pow(2, attempts)));
      });
    }

    connect();
  }

  window.crmBoard = { recount: recount };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", liveUpdates);
  } else {
    liveUpdates();
  }
})();
