/* The visual flow editor of the admin, on drawflow (static/vendor/drawflow).
 *
 * Drawflow keeps the canvas (numbered nodes, output_1…output_N → input_1 connections); this file
 * converts it to and from the graph of docs/FLOWS.md: each drawflow node carries
 * {node_id, settings} as its data, and output_k is the k-th output of the node's type (a menu's
 * options then "fallback", a randomizer's branches, fixed ones otherwise). Saving, publishing and
 * the test console POST JSON to FlowAdmin.editor_command; validation errors come back by node id
 * and are shown on the nodes.
 */
(function () {
  "use strict";

  const root = document.getElementById("flow-editor");
  const config = JSON.parse(document.getElementById("flow-editor-config").textContent);
  const t = config.i18n;
  const canManage = root.dataset.canManage === "1";
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;

  const editor = new Drawflow(document.getElementById("drawflow"));
  editor.reroute = true;
  editor.start();

  let selected = null; // drawflow id of the selected node
  let lastErrors = {};

  // --- outputs and labels -----------------------------------------------------------------

  function outputsOf(type, settings) {
    if (type === "menu") return (settings.options || []).map((o) => String(o.id)).concat(["fallback"]);
    if (type === "randomizer") return (settings.branches || []).map((b) => String(b.id));
    return config.outputs[type] || [];
  }

  function escapeHtml(text) {
    const div = document.createElement("div");
    div.textContent = text == null ? "" : String(text);
    return div.innerHTML;
  }

  function summary(type, s) {
    if (s.text) return s.text;
    if (type === "http_request") return (s.method || "GET") + " " + (s.url || "");
    if (type === "wait") return s.seconds + " s";
    if (type === "tag") return (s.action || "add") + " " + s.tag;
    if (type === "set_variable") return s.name + " = " + JSON.stringify(s.value);
    if (type === "condition") return (s.rules || []).length + " rule(s), " + (s.match || "all");
    if (type === "go_to_flow") return "flow " + s.flow_id;
    return "";
  }

  function nodeHtml(nodeId, type, settings, errors) {
    const outs = outputsOf(type, settings);
    let html =
      '<div class="fe-title">' + escapeHtml(nodeId) + " · " + escapeHtml(type) + "</div>" +
      '<div class="fe-summary">' + escapeHtml(summary(type, settings)) + "</div>";
    if (outs.length) html += '<div class="fe-outputs">→ ' + outs.map(escapeHtml).join(" · ") + "</div>";
    if (errors && errors.length) {
      html += '<ul class="fe-node-errors">' + errors.map((e) => "<li>" + escapeHtml(e) + "</li>").join("") + "</ul>";
    }
    return html;
  }

  function render(id) {
    const node = editor.getNodeFromId(id);
    const errors = lastErrors[node.data.node_id] || [];
    const element = document.getElementById("node-" + id);
    element.querySelector(".drawflow_content_node").innerHTML = nodeHtml(node.data.node_id, node.name, node.data.settings, errors);
    element.classList.toggle("fe-invalid", errors.length > 0);
  }

  function syncOutputs(id) {
    const node = editor.getNodeFromId(id);
    const wanted = outputsOf(node.name, node.data.settings).length;
    let current = Object.keys(node.outputs).length;
    while (current < wanted) { editor.addNodeOutput(id); current += 1; }
    while (current > wanted) { editor.removeNodeOutput(id, "output_" + current); current -= 1; }
  }

  // --- graph ⇄ drawflow -------------------------------------------------------------------

  function load(graph) {
    editor.clear();
    const ids = {};
    (graph.nodes || []).forEach((n, index) => {
      const pos = n.position || { x: 40 + (index % 4) * 260, y: 40 + Math.floor(index / 4) * 160 };
      const settings = n.data || {};
      const inputs = n.type === "start" ? 0 : 1;
      ids[n.id] = editor.addNode(n.type, inputs, outputsOf(n.type, settings).length, pos.x, pos.y, "fe-" + n.type,
        { node_id: n.id, settings: settings }, nodeHtml(n.id, n.type, settings, []));
    });
    (graph.edges || []).forEach((e) => {
      const source = (graph.nodes || []).find((n) => n.id === e.source);
      if (!source || !(e.source in ids) || !(e.target in ids)) return;
      const k = outputsOf(source.type, source.data || {}).indexOf(e.source_handle || "next");
      if (k >= 0) editor.addConnection(ids[e.source], ids[e.target], "output_" + (k + 1), "input_1");
    });
  }

  function currentGraph() {
    const data = editor.export().drawflow.Home.data;
    const nodes = [];
    const edges = [];
    Object.values(data).forEach((n) => {
      nodes.push({ id: n.data.node_id, type: n.name, data: n.data.settings, position: { x: Math.round(n.pos_x), y: Math.round(n.pos_y) } });
      const outs = outputsOf(n.name, n.data.settings);
      Object.entries(n.outputs).forEach(([outputClass, output]) => {
        const handle = outs[parseInt(outputClass.replace("output_", ""), 10) - 1];
        output.connections.forEach((c) => {
          edges.push({ source: n.data.node_id, source_handle: handle, target: data[c.node].data.node_id });
        });
      });
    });
    return { nodes: nodes, edges: edges };
  }

  // --- the side panel ---------------------------------------------------------------------

  const form = document.getElementById("fe-node-form");
  const empty = document.getElementById("fe-node-empty");

  function showNode(id) {
    selected = id;
    const node = editor.getNodeFromId(id);
    empty.hidden = true;
    form.hidden = false;
    document.getElementById("fe-node-type").textContent = node.name;
    document.getElementById("fe-node-id").value = node.data.node_id;
    document.getElementById("fe-node-data").value = JSON.stringify(node.data.settings, null, 2);
    const list = document.getElementById("fe-node-errors");
    list.innerHTML = (lastErrors[node.data.node_id] || []).map((e) => "<li>" + escapeHtml(e) + "</li>").join("");
  }

  editor.on("nodeSelected", (id) => showNode(id));
  editor.on("nodeUnselected", () => { selected = null; form.hidden = true; empty.hidden = false; });
  editor.on("nodeRemoved", () => { selected = null; form.hidden = true; empty.hidden = false; });

  document.getElementById("fe-node-apply").addEventListener("click", () => {
    if (selected === null) return;
    let settings;
    try {
      settings = JSON.parse(document.getElementById("fe-node-data").value || "{}");
    } catch (error) {
      document.getElementById("fe-node-errors").innerHTML = "<li>" + escapeHtml(t.invalid_json) + "</li>";
      return;
    }
    const node = editor.getNodeFromId(selected);
    const nodeId = document.getElementById("fe-node-id").value.trim() || node.data.node_id;
    editor.updateNodeDataFromId(selected, { node_id: nodeId, settings: settings });
    syncOutputs(selected);
    render(selected);
    editor.updateConnectionNodes("node-" + selected);
  });

  document.getElementById("fe-node-delete").addEventListener("click", () => {
    if (selected !== null) editor.removeNodeId("node-" + selected);
  });

  document.getElementById("fe-add").addEventListener("change", (event) => {
    const type = event.target.value;
    event.target.value = "";
    if (!type) return;
    const taken = new Set(currentGraph().nodes.map((n) => n.id));
    let n = 1;
    while (taken.has(type + "_" + n)) n += 1;
    const settings = JSON.parse(JSON.stringify(config.examples[type] || {}));
    const id = editor.addNode(type, type === "start" ? 0 : 1, outputsOf(type, settings).length, 80, 80, "fe-" + type,
      { node_id: type + "_" + n, settings: settings }, nodeHtml(type + "_" + n, type, settings, []));
    showNode(id);
  });

  // --- server commands --------------------------------------------------------------------

  async function post(command, body) {
    const response = await fetch(config.urls[command], {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      credentials: "same-origin",
      body: JSON.stringify(body),
    });
    return { ok: response.ok, data: await response.json() };
  }

  function showErrors(errors) {
    lastErrors = errors || {};
    Object.keys(editor.export().drawflow.Home.data).forEach((id) => render(id));
    const general = lastErrors.graph || [];
    document.getElementById("fe-graph-errors").innerHTML = general.map((e) => "<li>" + escapeHtml(e) + "</li>").join("");
    if (selected !== null) showNode(selected);
  }

  async function save(command) {
    const result = await post(command, { graph: currentGraph() });
    const status = document.getElementById("fe-status");
    if (!result.ok) { status.textContent = result.data.detail || "Error"; return; }
    showErrors(result.data.errors);
    const hasErrors = Object.keys(result.data.errors || {}).length > 0;
    status.textContent = result.data.published
      ? t.published + " " + result.data.published
      : t.saved + " " + result.data.version + (hasErrors ? " — " + t.errors : "");
  }

  if (canManage) {
    document.getElementById("fe-save").addEventListener("click", () => save("save"));
    document.getElementById("fe-publish").addEventListener("click", () => save("publish"));
  }

  // --- import / export --------------------------------------------------------------------

  const dialog = document.getElementById("fe-json-dialog");
  const jsonArea = document.getElementById("fe-json");
  document.getElementById("fe-export").addEventListener("click", () => {
    jsonArea.value = JSON.stringify(currentGraph(), null, 2);
    dialog.showModal();
  });
  document.getElementById("fe-import").addEventListener("click", () => { jsonArea.value = ""; dialog.showModal(); });
  document.getElementById("fe-json-close").addEventListener("click", () => dialog.close());
  document.getElementById("fe-json-load").addEventListener("click", () => {
    try {
      load(JSON.parse(jsonArea.value));
      dialog.close();
    } catch (error) {
      jsonArea.setCustomValidity(t.invalid_json);
      jsonArea.reportValidity();
    }
  });

  // --- the test console -------------------------------------------------------------------

  const chat = document.getElementById("fe-chat");
  let state = null;

  function bubble(kind, text) {
    const div = document.createElement("div");
    div.className = "fe-msg fe-" + kind;
    div.textContent = text;
    chat.appendChild(div);
    chat.scrollTop = chat.scrollHeight;
  }

  async function turn(body) {
    const result = await post("test", Object.assign({ state: state }, body));
    if (!result.ok) { bubble("note", result.data.detail || "Error"); return; }
    result.data.replies.forEach((reply) => {
      if (reply.type === "message") bubble("bot", reply.text || (reply.template ? "[" + reply.template.name + "]" : reply.media_url));
      else bubble("note", reply.type + " " + JSON.stringify(Object.assign({}, reply, { type: undefined })));
    });
    state = result.data.state;
    if (["finished", "handed_over", "failed"].includes(result.data.status)) {
      bubble("note", t.ended + ": " + result.data.status);
      state = null;
    }
  }

  if (canManage) {
    document.getElementById("fe-say").addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = document.getElementById("fe-say-text");
      const text = input.value;
      input.value = "";
      bubble("you", text);
      await turn({ text: text });
    });
    document.getElementById("fe-timer").addEventListener("click", () => turn({ fire_timer: true }));
    document.getElementById("fe-restart").addEventListener("click", () => { state = null; chat.innerHTML = ""; });
  }

  load(config.graph);
})();
