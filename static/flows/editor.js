/* The visual flow editor of the admin, on drawflow (static/vendor/drawflow).
 *
 * Drawflow keeps the canvas (numbered nodes, output_1…output_N → input_1 connections); this file
 * converts it to and from the graph of docs/FLOWS.md: each drawflow node carries
 * {node_id, settings} as its data, and output_k is the k-th output of the node's type (a menu's
 * options then "fallback", a randomizer's branches, fixed ones otherwise).
 *
 * The selected node is edited in a form built from config.forms (flows/node_forms.py, derived
 * from the JSON Schema of each node type) with the tenant's own choices (config.choices); a "Raw
 * JSON" toggle edits the settings as text. Saving, publishing, versions and the test console POST
 * JSON to FlowAdmin.editor_command; validation errors come back by node id ("field/path: message")
 * and are shown on the nodes and next to the fields.
 */
(function () {
  "use strict";

  const root = document.getElementById("flow-editor");
  const config = JSON.parse(document.getElementById("flow-editor-config").textContent);
  const t = config.i18n;
  const forms = config.forms;
  const choices = config.choices;
  const canManage = root.dataset.canManage === "1";
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
  const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
  const FIELD_ERROR = /^([A-Za-z_][A-Za-z0-9_]*(?:\/[A-Za-z0-9_]+)*): ([\s\S]*)$/;
  const BUILTIN_VARIABLES = ["contact.name", "contact.phone", "contact.email", "ticket.protocol", "ticket.queue", "last_message"];
  const UNITS = [["days", 86400], ["hours", 3600], ["minutes", 60], ["seconds", 1]];

  const editor = new Drawflow(document.getElementById("drawflow"));
  editor.reroute = true;
  editor.start();

  let selected = null; // drawflow id of the selected node
  let lastErrors = {};
  let dirty = false;
  let loading = false;
  let rawMode = false;
  let lastVariableInput = null;
  const modes = {}; // send_message: the chosen kind per drawflow id

  function clone(value) { return value === undefined ? undefined : JSON.parse(JSON.stringify(value)); }
  function h(tag, attrs, children) {
    const element = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (value === undefined || value === null || value === false) return;
      if (key === "text") element.textContent = value;
      else if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
      else element.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach((child) => child && element.appendChild(child));
    return element;
  }
  function escapeHtml(text) {
    const div = document.createElement("div");
    div.textContent = text == null ? "" : String(text);
    return div.innerHTML;
  }
  function markDirty() {
    if (loading) return;
    dirty = true;
    document.getElementById("fe-dirty").hidden = false;
  }

  // --- outputs and labels -----------------------------------------------------------------

  function outputsOf(type, settings) {
    if (type === "menu") return (settings.options || []).map((o) => String(o.id)).concat(["fallback"]);
    if (type === "randomizer") return (settings.branches || []).map((b) => String(b.id));
    return config.outputs[type] || [];
  }

  function outputLabel(type, settings, handle) {
    if (type === "menu") {
      const index = (settings.options || []).findIndex((o) => String(o.id) === handle);
      if (index >= 0) return index + 1 + " · " + (settings.options[index].label || handle);
    }
    return config.output_labels[handle] || handle;
  }

  function choiceName(source, value) {
    const found = (choices[source] || []).find((c) => c[0] === value);
    return found ? found[1] : value == null ? "" : "#" + value;
  }

  function summary(type, s) {
    if (type === "handoff") return [choiceName("queues", s.queue_id), choiceName("agents", s.user_id)].filter(Boolean).join(" · ") || s.text || "";
    if (type === "ai_reply") return s.agent_id ? choiceName("ai_agents", s.agent_id) : "";
    if (type === "go_to_flow") return choiceName("flows", s.flow_id);
    if (s.template) return "[" + s.template.name + "]";
    if (s.text) return s.text;
    if (type === "http_request") return (s.method || "GET") + " " + (s.url || "");
    if (type === "wait") return durationText(s.seconds);
    if (type === "tag") return (s.action === "remove" ? "−" : "+") + " " + (s.tag || "");
    if (type === "set_variable") return (s.name || "") + " = " + JSON.stringify(s.value);
    if (type === "condition") return (s.rules || []).length + " × " + enumLabel(type, "match", s.match || "all");
    if (type === "randomizer") return (s.branches || []).map((b) => b.id + " " + b.weight).join(" / ");
    return "";
  }

  function enumLabel(type, name, value) {
    const field = ((forms[type] || {}).fields || []).find((f) => f.name === name);
    const found = field && (field.choices || []).find((c) => c[0] === value);
    return found ? found[1] : value;
  }

  function durationText(seconds) {
    const [unit, size] = bestUnit(seconds);
    return seconds ? seconds / size + " " + t[unit] : "";
  }

  function bestUnit(seconds) {
    return UNITS.find(([, size]) => seconds && seconds % size === 0) || UNITS[3];
  }

  function fieldOf(type, path) {
    const [name, index, sub] = path.split("/");
    const field = ((forms[type] || {}).fields || []).find((f) => f.name === name);
    if (!field) return { field: null, label: path };
    if (!/^\d+$/.test(index || "")) return { field: field, label: field.label };
    if (sub && field.item_fields) {
      const item = field.item_fields.find((f) => f.name === sub);
      return { field: field, label: field.label + " #" + (Number(index) + 1) + " › " + (item ? item.label : sub) };
    }
    return { field: field, label: field.label + (index !== undefined ? " #" + (Number(index) + 1) : "") };
  }

  // Errors of a node: the ones naming a field of its form (shown next to it) and the rest.
  function splitErrors(type, errors) {
    const byField = {};
    const general = [];
    (errors || []).forEach((message) => {
      const match = FIELD_ERROR.exec(message);
      const found = match && fieldOf(type, match[1]);
      if (found && found.field) (byField[found.field.name] = byField[found.field.name] || []).push({ label: found.label, text: match[2] });
      else general.push(message);
    });
    return { byField: byField, general: general };
  }

  function nodeHtml(nodeId, type, settings, errors) {
    const outs = outputsOf(type, settings);
    const label = forms[type] ? forms[type].label : type;
    let html =
      '<div class="fe-title">' + escapeHtml(nodeId) + " · " + escapeHtml(label) + "</div>" +
      '<div class="fe-summary">' + escapeHtml(summary(type, settings)) + "</div>";
    if (outs.length) html += '<div class="fe-outputs">→ ' + outs.map((o) => escapeHtml(outputLabel(type, settings, o))).join(" · ") + "</div>";
    if (errors && errors.length) {
      const split = splitErrors(type, errors);
      const lines = split.general.concat(...Object.values(split.byField).map((list) => list.map((e) => e.label + ": " + e.text)));
      html += '<ul class="fe-node-errors">' + lines.map((e) => "<li>" + escapeHtml(e) + "</li>").join("") + "</ul>";
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

  // The node's connections by output name (what survives reordering or renaming outputs).
  function linksOf(id) {
    const node = editor.getNodeFromId(id);
    const outs = outputsOf(node.name, node.data.settings);
    const links = [];
    Object.entries(node.outputs).forEach(([outputClass, output]) => {
      const handle = outs[parseInt(outputClass.replace("output_", ""), 10) - 1];
      output.connections.forEach((c) => links.push({ handle: handle, outputClass: outputClass, target: c.node }));
    });
    return links;
  }

  // Stores new settings on a node; its outputs follow (renames: {old output: new output}).
  function applySettings(id, settings, renames) {
    const node = editor.getNodeFromId(id);
    const before = outputsOf(node.name, node.data.settings);
    const after = outputsOf(node.name, settings);
    const links = before.join("\n") === after.join("\n") ? null : linksOf(id);
    if (links) links.forEach((l) => editor.removeSingleConnection(id, l.target, l.outputClass, "input_1"));
    editor.updateNodeDataFromId(id, { node_id: node.data.node_id, settings: settings });
    if (links) {
      let current = Object.keys(editor.getNodeFromId(id).outputs).length;
      while (current < after.length) { editor.addNodeOutput(id); current += 1; }
      while (current > after.length) { editor.removeNodeOutput(id, "output_" + current); current -= 1; }
      links.forEach((l) => {
        const k = after.indexOf((renames || {})[l.handle] || l.handle);
        if (k >= 0) editor.addConnection(id, l.target, "output_" + (k + 1), "input_1");
      });
    }
    render(id);
    editor.updateConnectionNodes("node-" + id);
    markDirty();
  }

  function connect(id, handle, targetId) {
    const node = editor.getNodeFromId(id);
    const k = outputsOf(node.name, node.data.settings).indexOf(handle);
    linksOf(id).filter((l) => l.handle === handle).forEach((l) => editor.removeSingleConnection(id, l.target, l.outputClass, "input_1"));
    if (targetId) editor.addConnection(id, targetId, "output_" + (k + 1), "input_1");
    markDirty();
  }

  // --- graph ⇄ drawflow -------------------------------------------------------------------

  function load(graph) {
    loading = true;
    hideForm(); // before clear(): the selected node is about to vanish
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
    loading = false;
  }

  function allNodes() { return Object.values(editor.export().drawflow.Home.data); }

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

  // Variables the flow defines, for hints and suggestions.
  function flowVariables() {
    const found = new Set();
    allNodes().forEach((n) => {
      const s = n.data.settings || {};
      if ((n.name === "ask" || n.name === "menu") && s.variable) found.add(s.variable);
      if (n.name === "set_variable" && (s.target || "variable") === "variable" && s.name) found.add(s.name);
      if (n.name === "http_request") {
        Object.keys(s.save || {}).forEach((name) => found.add(name));
        if (s.status_variable) found.add(s.status_variable);
      }
    });
    return Array.from(found).sort();
  }

  function suggestionsFor(field, values) {
    let source = field.suggest;
    if (source && typeof source === "object" && !Array.isArray(source)) {
      const [sibling, map] = Object.entries(source)[0];
      source = map[values[sibling]];
    }
    if (source === "@variables") return flowVariables().concat(BUILTIN_VARIABLES.filter((v) => v !== "last_message"));
    if (source === "@tags") return choices.tags;
    if (source === "@contact_fields") return choices.contact_fields.map((c) => c[0]);
    return Array.isArray(source) ? source : [];
  }

  // --- the node form ----------------------------------------------------------------------

  const panel = document.getElementById("fe-node-form");
  const empty = document.getElementById("fe-node-empty");
  const fieldsBox = document.getElementById("fe-node-fields");
  const rawBox = document.getElementById("fe-node-raw");
  const rawToggle = document.getElementById("fe-node-raw-toggle");

  function hideForm() { selected = null; panel.hidden = true; empty.hidden = false; }

  function visible(field, values) {
    const shown = Object.entries(field.visible_when || {}).every(([name, allowed]) => allowed.includes(values[name] === undefined ? defaultOf(name, values) : values[name]));
    const hidden = Object.entries(field.hidden_when || {}).some(([name, values_]) => values_.includes(values[name]));
    return shown && !hidden;
  }

  function defaultOf(name, values) {
    const node = selected !== null ? editor.getNodeFromId(selected) : null;
    const field = node && ((forms[node.name] || {}).fields || []).find((f) => f.name === name);
    return field ? field.default : undefined;
  }

  function errorList(list) {
    if (!list || !list.length) return null;
    return h("ul", { class: "errorlist fe-field-errors" }, list.map((e) => h("li", { text: e })));
  }

  // One control for `field`, reading values[field.name]; `set(value, {structural, renames})`
  // stores the new value (undefined removes it).
  function control(field, values, set, idPrefix) {
    const value = values[field.name];
    const id = idPrefix + field.name;
    const common = { id: id, name: field.name, "aria-required": field.required ? "true" : null };
    const variables = field.variables ? { "data-variables": "1", onfocus: (e) => { lastVariableInput = e.target; } } : {};
    const widget = field.widget;
    if (widget === "text" || widget === "textarea") {
      const suggestions = field.suggest ? suggestionsFor(field, values) : [];
      const listId = suggestions.length ? id + "-list" : null;
      const input = h(widget === "text" ? "input" : "textarea", Object.assign({}, common, variables, {
        type: widget === "text" ? "text" : null,
        rows: widget === "textarea" ? 3 : null,
        maxlength: field.max_length,
        placeholder: field.placeholder,
        list: listId,
        oninput: (e) => set(e.target.value === "" ? undefined : e.target.value),
      }));
      input.value = value == null ? "" : typeof value === "string" ? value : JSON.stringify(value);
      const parts = [input];
      if (listId) parts.push(h("datalist", { id: listId }, suggestions.map((s) => h("option", { value: s }))));
      return parts;
    }
    if (widget === "number") {
      const input = h("input", Object.assign({}, common, {
        type: "number", min: field.min, max: field.max, step: field.step || (field.types.includes("integer") ? 1 : "any"),
        placeholder: field.default, oninput: (e) => set(e.target.value === "" ? undefined : Number(e.target.value)),
      }));
      input.value = value == null ? "" : value;
      return [input];
    }
    if (widget === "checkbox") {
      const input = h("input", Object.assign({}, common, { type: "checkbox", onchange: (e) => set(e.target.checked, { structural: true }) }));
      input.checked = value === undefined ? !!field.default : !!value;
      return [input];
    }
    if (widget === "select") {
      let options = field.choices || (field.source ? choices[field.source] : []);
      if (field.choices_by) {
        const [sibling, map] = Object.entries(field.choices_by)[0];
        const allowed = map[values[sibling]] || [];
        options = options.filter((c) => allowed.includes(c[0]));
      }
      const current = value === undefined ? field.default : value;
      const select = h("select", Object.assign({}, common, {
        onchange: (e) => {
          const raw = e.target.value;
          const picked = options.find((c) => String(c[0]) === raw);
          set(raw === "" ? (field.empty_label ? null : undefined) : picked ? picked[0] : raw, { structural: true });
        },
      }));
      const known = options.some((c) => c[0] === current);
      if (field.default === undefined) select.appendChild(h("option", { value: "", text: field.empty_label || t.none }));
      options.forEach((c) => select.appendChild(h("option", { value: String(c[0]), text: c[1] })));
      // A choice that no longer exists (a deleted queue, an imported id) stays visible, not silently replaced.
      if (current && !known) select.appendChild(h("option", { value: String(current), text: "#" + current + " ?" }));
      select.value = current ? String(current) : "";
      return [select];
    }
    if (widget === "lines") {
      const area = h("textarea", Object.assign({}, common, {
        rows: 4,
        oninput: (e) => {
          const lines = e.target.value.split("\n").map((line) => line.trim()).filter(Boolean);
          set(lines.length ? lines : undefined);
        },
      }));
      area.value = (value || []).join("\n");
      return [area];
    }
    if (widget === "json") {
      const area = h("textarea", Object.assign({}, common, variables, { rows: 5, spellcheck: "false", class: "fe-code" }));
      area.value = value === undefined ? "" : JSON.stringify(value, null, 2);
      const problem = h("ul", { class: "errorlist fe-field-errors", hidden: true }, [h("li", { text: t.invalid_json })]);
      area.addEventListener("input", () => {
        if (area.value.trim() === "") { problem.hidden = true; set(undefined); return; }
        try {
          const parsed = JSON.parse(area.value);
          problem.hidden = true;
          set(parsed);
        } catch (error) {
          problem.hidden = false;
        }
      });
      return [area, problem];
    }
    if (widget === "duration") {
      const [unit, size] = bestUnit(value);
      const number = h("input", { id: id, type: "number", min: 1, step: 1, "aria-label": field.label });
      number.value = value ? value / size : "";
      const units = h("select", { id: id + "-unit", "aria-label": field.label }, UNITS.map(([name]) => h("option", { value: name, text: t[name] })));
      units.value = unit;
      const update = () => {
        const factor = UNITS.find(([name]) => name === units.value)[1];
        set(number.value === "" ? undefined : Math.round(Number(number.value) * factor));
      };
      number.addEventListener("input", update);
      units.addEventListener("change", update);
      return [h("span", { class: "fe-inline" }, [number, units])];
    }
    if (widget === "pairs") return [pairsControl(field, value, set, id)];
    if (widget === "rows") return [rowsControl(field, value, set, id)];
    if (widget === "template") return [templateControl(field, value, set, id)];
    return [];
  }

  function pairsControl(field, value, set, id) {
    const rows = Object.entries(value || {});
    const box = h("div", { class: "fe-rows", id: id });
    const commit = () => {
      const object = {};
      rows.forEach(([key, val]) => { if (key.trim()) object[key.trim()] = val; });
      set(Object.keys(object).length ? object : undefined);
    };
    const draw = () => {
      box.innerHTML = "";
      rows.forEach((row, index) => {
        const key = h("input", { type: "text", "aria-label": field.key_label, placeholder: field.key_label, oninput: (e) => { row[0] = e.target.value; commit(); } });
        key.value = row[0];
        const val = h("input", { type: "text", "aria-label": field.value_label, placeholder: field.value_label, "data-variables": field.variables ? "1" : null,
          onfocus: (e) => { if (field.variables) lastVariableInput = e.target; }, oninput: (e) => { row[1] = e.target.value; commit(); } });
        val.value = row[1];
        box.appendChild(h("div", { class: "fe-row fe-pair" }, [key, val,
          h("button", { type: "button", class: "button fe-small", title: t.remove, "aria-label": t.remove, text: "✕", onclick: () => { rows.splice(index, 1); commit(); draw(); } })]));
      });
      box.appendChild(h("button", { type: "button", class: "button fe-small", text: "+ " + t.add, onclick: () => { rows.push(["", ""]); draw(); } }));
    };
    draw();
    return box;
  }

  function uniqueId(prefix, taken) {
    let n = taken.length + 1;
    while (taken.includes(prefix + n)) n += 1;
    return prefix + n;
  }

  function newItem(field, items) {
    const item = {};
    field.item_fields.forEach((sub) => {
      if (sub.default !== undefined) item[sub.name] = sub.default;
      else if (sub.widget === "select" && sub.choices_by) {
        const [sibling, map] = Object.entries(sub.choices_by)[0];
        item[sub.name] = (map[item[sibling]] || [])[0];
      } else if (sub.widget === "select" && sub.choices) item[sub.name] = sub.choices[0][0];
      else if (sub.widget === "number") item[sub.name] = sub.min !== undefined && sub.min > 0 ? sub.min : 1;
      else if (sub.required) item[sub.name] = "";
    });
    if (field.item_fields.some((sub) => sub.name === "id")) {
      item.id = uniqueId(field.name === "branches" ? "branch_" : "option_", items.map((i) => String(i.id)));
    }
    return item;
  }

  function rowsControl(field, value, set, id) {
    const items = clone(value || []);
    const box = h("div", { class: "fe-rows", id: id });
    const commit = (options) => set(items.length ? items : field.required ? [] : undefined, options);
    const draw = () => {
      box.innerHTML = "";
      if (field.outputs) box.appendChild(h("p", { class: "help", text: t.rows_help }));
      items.forEach((item, index) => {
        const cells = [];
        field.item_fields.forEach((sub) => {
          if (!visible(sub, item)) return;
          const parts = control(sub, item, (newValue, options) => {
            const old = item[sub.name];
            if (newValue === undefined) delete item[sub.name]; else item[sub.name] = newValue;
            if (sub.choices_by === undefined && sub.name === "source") {
              // a new subject: pick an operator that fits it
              const operator = field.item_fields.find((f) => f.name === "operator");
              const allowed = operator && operator.choices_by ? operator.choices_by.source[item.source] || [] : [];
              if (allowed.length && !allowed.includes(item.operator)) item.operator = allowed[0];
            }
            const renames = field.outputs && sub.name === "id" && old !== newValue ? { [old]: newValue } : null;
            commit({ renames: renames, structural: false });
            if (options && options.structural) draw();
          }, id + "-" + index + "-");
          cells.push(h("label", { class: "fe-cell fe-cell-" + sub.name }, [h("span", { text: sub.label }), ...parts]));
        });
        const move = (delta) => {
          const other = index + delta;
          if (other < 0 || other >= items.length) return;
          [items[index], items[other]] = [items[other], items[index]];
          commit({ structural: true });
          draw();
        };
        const buttons = h("span", { class: "fe-row-buttons" }, [
          h("button", { type: "button", class: "button fe-small", title: t.move_up, "aria-label": t.move_up, text: "↑", disabled: index === 0, onclick: () => move(-1) }),
          h("button", { type: "button", class: "button fe-small", title: t.move_down, "aria-label": t.move_down, text: "↓", disabled: index === items.length - 1, onclick: () => move(1) }),
          h("button", { type: "button", class: "button fe-small", title: t.remove, "aria-label": t.remove, text: "✕",
            disabled: field.min_items !== undefined && items.length <= field.min_items,
            onclick: () => { items.splice(index, 1); commit({ structural: true }); draw(); } }),
        ]);
        box.appendChild(h("div", { class: "fe-row", "data-index": index }, cells.concat([buttons])));
      });
      if (field.max_items === undefined || items.length < field.max_items) {
        box.appendChild(h("button", { type: "button", class: "button fe-small fe-add-row", text: "+ " + (field.add_label || t.add),
          onclick: () => { items.push(newItem(field, items)); commit({ structural: true }); draw(); } }));
      }
    };
    draw();
    return box;
  }

  function templateControl(field, value, set, id) {
    const box = h("div", { class: "fe-template", id: id });
    const current = value || null;
    const known = choices.templates.find((c) => current && c.name === current.name && c.language === current.language);
    const select = h("select", { id: id + "-pick", "aria-label": field.label });
    select.appendChild(h("option", { value: "", text: t.template_pick }));
    choices.templates.forEach((c, index) => select.appendChild(h("option", { value: String(index), text: c.name + " · " + c.language })));
    if (current && !known) select.appendChild(h("option", { value: "current", text: current.name + " · " + (current.language || "?") + " — " + t.template_missing }));
    select.value = known ? String(choices.templates.indexOf(known)) : current ? "current" : "";
    select.addEventListener("change", () => {
      if (select.value === "" || select.value === "current") { set(select.value === "" ? undefined : current, { structural: true }); return; }
      const picked = choices.templates[Number(select.value)];
      set({ name: picked.name, language: picked.language, components: [] }, { structural: true });
    });
    box.appendChild(select);
    if (!choices.templates.length) box.appendChild(h("p", { class: "help", text: t.template_none }));
    if (!current) return box;
    box.appendChild(h("p", { class: "help", text: t.template_language + ": " + (current.language || "—") }));
    const variables = known ? known.variables : {};
    const components = clone(current.components || []);
    const valueOf = (kind, index) => {
      const component = components.find((c) => String(c.type).toLowerCase() === kind);
      const parameter = component && (component.parameters || [])[index];
      return parameter ? parameter.text || "" : "";
    };
    const rebuild = (inputs) => {
      const named = Object.values(variables).every((names) => names.every((name) => !/^\d+$/.test(name)));
      const built = Object.entries(variables).map(([kind, names]) => ({
        type: kind,
        parameters: names.map((name) => Object.assign({ type: "text", text: inputs[kind + ":" + name].value }, named ? { parameter_name: name } : {})),
      }));
      set(Object.assign({}, current, { components: built }));
    };
    const inputs = {};
    Object.entries(variables).forEach(([kind, names]) => {
      names.forEach((name, index) => {
        const input = h("input", { type: "text", id: id + "-" + kind + "-" + name, "data-variables": "1",
          onfocus: (e) => { lastVariableInput = e.target; }, oninput: () => rebuild(inputs) });
        input.value = valueOf(kind, index);
        inputs[kind + ":" + name] = input;
        box.appendChild(h("label", {}, [h("span", { text: t.template_variable.replace("%(name)s", kind + " {{" + name + "}}") }), input]));
      });
    });
    return box;
  }

  function currentMode(type, settings) {
    if (selected !== null && modes[selected]) return modes[selected];
    const desc = forms[type];
    if (!desc.modes) return null;
    if (settings.template) return "template";
    if (settings.media_url) return "media";
    return "text";
  }

  function drawForm() {
    const node = editor.getNodeFromId(selected);
    const type = node.name;
    const desc = forms[type] || { fields: [], help: "" };
    const settings = clone(node.data.settings) || {};
    const split = splitErrors(type, lastErrors[node.data.node_id]);
    fieldsBox.innerHTML = "";
    fieldsBox.appendChild(h("p", { class: "help", text: desc.help }));
    const mode = currentMode(type, settings);
    let shown = desc.fields;
    let labels = {};
    if (desc.modes) {
      const modeSelect = h("select", { id: "fe-field-mode" }, desc.modes.map((m) => h("option", { value: m.value, text: m.label })));
      modeSelect.value = mode;
      modeSelect.addEventListener("change", () => {
        modes[selected] = modeSelect.value;
        const keep = desc.modes.find((m) => m.value === modeSelect.value).fields;
        const next = clone(editor.getNodeFromId(selected).data.settings);
        desc.fields.forEach((f) => { if (!keep.includes(f.name)) delete next[f.name]; });
        applySettings(selected, next);
        drawForm();
      });
      fieldsBox.appendChild(h("label", { for: "fe-field-mode" }, [h("span", { text: t.message_kind }), modeSelect]));
      const chosen = desc.modes.find((m) => m.value === mode);
      shown = chosen.fields.map((name) => desc.fields.find((f) => f.name === name));
      labels = chosen.labels || {};
    }
    if (desc.fields.some((f) => f.variables)) fieldsBox.appendChild(variableHints());
    shown.forEach((field) => {
      if (!visible(field, settings)) return;
      const parts = control(field, settings, (value, options) => {
        const next = clone(editor.getNodeFromId(selected).data.settings) || {};
        if (value === undefined) delete next[field.name]; else next[field.name] = clone(value);
        applySettings(selected, next, options && options.renames);
        drawOutputs();
        if (options && options.structural && field.widget !== "rows") drawForm();
      }, "fe-field-");
      const label = labels[field.name] || field.label;
      const errors = (split.byField[field.name] || []).map((e) => (e.label !== field.label ? e.label + ": " : "") + e.text);
      const wrapper = h("div", { class: "fe-field fe-field-" + field.widget, "data-field": field.name }, [
        h("label", { for: "fe-field-" + field.name, text: label + (field.required ? " *" : "") }),
        ...parts,
        field.help ? h("p", { class: "help", text: field.help }) : null,
        errorList(errors),
      ]);
      if (field.widget === "checkbox") wrapper.classList.add("fe-check");
      fieldsBox.appendChild(wrapper);
    });
    document.getElementById("fe-node-errors").innerHTML = split.general.map((e) => "<li>" + escapeHtml(e) + "</li>").join("");
    drawOutputs();
  }

  function variableHints() {
    const names = flowVariables().concat(BUILTIN_VARIABLES, choices.contact_fields.map((c) => "contact." + c[0]));
    return h("div", { class: "fe-variables" }, [h("span", { class: "help", text: t.variables })].concat(
      names.map((name) => h("button", {
        type: "button", class: "fe-chip", text: "{{" + name + "}}",
        onmousedown: (e) => e.preventDefault(), // keeps the focus (and the caret) in the input
        onclick: () => {
          const input = lastVariableInput && document.body.contains(lastVariableInput) ? lastVariableInput : fieldsBox.querySelector("[data-variables]");
          if (!input) return;
          input.focus();
          input.setRangeText("{{" + name + "}}", input.selectionStart, input.selectionEnd, "end");
          input.dispatchEvent(new Event("input", { bubbles: true }));
        },
      }))));
  }

  function drawOutputs() {
    const box = document.getElementById("fe-node-outputs");
    box.innerHTML = "";
    if (selected === null) return;
    const node = editor.getNodeFromId(selected);
    const outs = outputsOf(node.name, node.data.settings);
    if (!outs.length) return;
    const links = linksOf(selected);
    const others = allNodes().filter((n) => String(n.id) !== String(selected) && n.name !== "start");
    box.appendChild(h("h3", { text: t.outputs }));
    outs.forEach((handle, k) => {
      const select = h("select", { id: "fe-output-" + k, "data-handle": handle,
        onchange: (e) => { connect(selected, handle, e.target.value ? Number(e.target.value) : null); render(selected); } },
        [h("option", { value: "", text: t.output_end })].concat(others.map((n) => h("option", { value: String(n.id), text: n.data.node_id + " · " + (forms[n.name] || {}).label }))));
      const link = links.find((l) => l.handle === handle);
      select.value = link ? String(link.target) : "";
      const name = outputLabel(node.name, node.data.settings, handle);
      select.setAttribute("aria-label", name + " — " + t.output_to);
      box.appendChild(h("label", { class: "fe-output", for: "fe-output-" + k }, [h("span", { text: name + " →" }), select]));
    });
  }

  function showNode(id) {
    selected = id;
    const node = editor.getNodeFromId(id);
    empty.hidden = true;
    panel.hidden = false;
    document.getElementById("fe-node-type").textContent = (forms[node.name] || {}).label || node.name;
    const idInput = document.getElementById("fe-node-id");
    idInput.value = node.data.node_id;
    document.getElementById("fe-node-id-error").hidden = true;
    setRaw(rawMode);
  }

  function setRaw(on) {
    rawMode = on;
    rawToggle.setAttribute("aria-pressed", on ? "true" : "false");
    rawToggle.textContent = on ? t.form : t.raw_json;
    fieldsBox.hidden = on;
    rawBox.hidden = !on;
    if (selected === null) return;
    if (on) {
      const node = editor.getNodeFromId(selected);
      document.getElementById("fe-node-data").value = JSON.stringify(node.data.settings, null, 2);
      document.getElementById("fe-node-errors").innerHTML = (lastErrors[node.data.node_id] || []).map((e) => "<li>" + escapeHtml(e) + "</li>").join("");
      drawOutputs();
    } else {
      drawForm();
    }
  }

  rawToggle.addEventListener("click", () => setRaw(!rawMode));

  editor.on("nodeSelected", (id) => { if (id !== selected) showNode(id); });
  editor.on("nodeUnselected", () => hideForm());
  editor.on("nodeRemoved", (id) => { delete modes[id]; hideForm(); markDirty(); });
  editor.on("nodeMoved", () => markDirty());
  editor.on("connectionRemoved", () => { markDirty(); if (selected !== null && !loading) drawOutputs(); });
  editor.on("connectionCreated", (c) => {
    // One edge per output: a new connection replaces the output's previous one.
    const node = editor.getNodeFromId(c.output_id);
    node.outputs[c.output_class].connections
      .filter((other) => String(other.node) !== String(c.input_id))
      .forEach((other) => editor.removeSingleConnection(c.output_id, other.node, c.output_class, "input_1"));
    markDirty();
    if (selected !== null && !loading) drawOutputs();
  });

  // Typing in the side panel must not reach drawflow's shortcuts (Delete removes the node).
  document.querySelector(".fe-side").addEventListener("keydown", (event) => event.stopPropagation());

  document.getElementById("fe-node-id").addEventListener("change", (event) => {
    const node = editor.getNodeFromId(selected);
    const wanted = event.target.value.trim();
    const problem = document.getElementById("fe-node-id-error");
    const taken = allNodes().some((n) => String(n.id) !== String(selected) && n.data.node_id === wanted);
    problem.hidden = ID_PATTERN.test(wanted) && !taken;
    problem.textContent = taken ? t.id_taken : t.id_invalid;
    if (!problem.hidden) return;
    editor.updateNodeDataFromId(selected, { node_id: wanted, settings: node.data.settings });
    render(selected);
    markDirty();
  });

  document.getElementById("fe-node-apply").addEventListener("click", () => {
    if (selected === null) return;
    let settings;
    try {
      settings = JSON.parse(document.getElementById("fe-node-data").value || "{}");
      if (typeof settings !== "object" || settings === null || Array.isArray(settings)) throw new Error("not an object");
    } catch (error) {
      document.getElementById("fe-node-errors").innerHTML = "<li>" + escapeHtml(t.invalid_json) + "</li>";
      return;
    }
    delete modes[selected];
    applySettings(selected, settings);
    setRaw(true);
  });

  document.getElementById("fe-node-delete").addEventListener("click", () => {
    if (selected !== null) editor.removeNodeId("node-" + selected);
  });

  // The first free place, row by row, in the visible part of the canvas (else its top-left).
  function freeSpot() {
    const zoom = editor.zoom || 1;
    const left = (40 - editor.canvas_x) / zoom;
    const top = (40 - editor.canvas_y) / zoom;
    const boxes = allNodes().map((n) => [n.pos_x, n.pos_y]);
    const columns = Math.max(1, Math.floor((document.getElementById("drawflow").clientWidth / zoom - 40) / 260));
    for (let row = 0; row < 6; row += 1) {
      for (let col = 0; col < columns; col += 1) {
        const x = left + col * 260;
        const y = top + row * 170;
        if (!boxes.some(([bx, by]) => Math.abs(bx - x) < 230 && Math.abs(by - y) < 140)) return [x, y];
      }
    }
    return [left + 30, top + 30];
  }

  document.getElementById("fe-add").addEventListener("change", (event) => {
    const type = event.target.value;
    event.target.value = "";
    if (!type) return;
    const taken = new Set(allNodes().map((n) => n.data.node_id));
    let n = 1;
    while (taken.has(type + "_" + n)) n += 1;
    const settings = clone(config.examples[type] || {});
    const [x, y] = freeSpot();
    const id = editor.addNode(type, type === "start" ? 0 : 1, outputsOf(type, settings).length, x, y, "fe-" + type,
      { node_id: type + "_" + n, settings: settings }, nodeHtml(type + "_" + n, type, settings, []));
    markDirty();
    document.querySelectorAll(".drawflow-node.selected").forEach((element) => element.classList.remove("selected"));
    document.getElementById("node-" + id).classList.add("selected");
    showNode(id);
  });

  // --- server commands --------------------------------------------------------------------

  async function post(command, body) {
    const response = await fetch(config.urls[command], {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      credentials: "same-origin",
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await response.json(); } catch (error) { data = { detail: t.error }; }
    return { ok: response.ok, data: data };
  }

  const status = document.getElementById("fe-status");

  function showErrors(errors) {
    lastErrors = errors || {};
    Object.keys(editor.export().drawflow.Home.data).forEach((id) => render(id));
    const general = lastErrors.graph || [];
    document.getElementById("fe-graph-errors").innerHTML = general.map((e) => "<li>" + escapeHtml(e) + "</li>").join("");
    if (selected !== null) setRaw(rawMode);
  }

  async function save(command) {
    const result = await post(command, { graph: currentGraph() });
    if (!result.ok) { status.textContent = result.data.detail || t.error; return false; }
    dirty = false;
    document.getElementById("fe-dirty").hidden = true;
    showErrors(result.data.errors);
    const hasErrors = Object.keys(result.data.errors || {}).length > 0;
    status.textContent = result.data.published
      ? t.published + " " + result.data.published
      : t.saved + " " + result.data.version + (hasErrors ? " — " + t.errors : "");
    refreshVersions();
    return true;
  }

  if (canManage) {
    document.getElementById("fe-save").addEventListener("click", () => save("save"));
    document.getElementById("fe-publish").addEventListener("click", () => save("publish"));
  }

  window.addEventListener("beforeunload", (event) => {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });

  // --- versions: open one, roll back --------------------------------------------------------

  const versionList = document.getElementById("fe-versions-list");

  function drawVersions(data) {
    versionList.innerHTML = "";
    (data.versions || []).forEach((v) => {
      const state = v.number === data.published ? t.current : v.published_at ? t.was_published : t.draft;
      const when = new Date(v.published_at || v.created_at).toLocaleString();
      const buttons = [h("button", { type: "button", class: "button fe-small", text: t.open, onclick: () => openVersion(v.number) })];
      if (v.published_at && v.number !== data.published) {
        buttons.push(h("button", { type: "button", class: "button fe-small", text: t.republish, onclick: () => rollback(v.number) }));
      }
      versionList.appendChild(h("li", { class: v.number === data.published ? "fe-current" : null, "data-number": v.number }, [
        h("strong", { text: t.version + " " + v.number }), h("span", { text: " · " + state + " · " + when + (v.created_by ? " · " + v.created_by : "") + " " }), ...buttons,
      ]));
    });
    const rollbackButton = document.getElementById("fe-rollback");
    rollbackButton.disabled = !(data.versions || []).some((v) => v.published_at && data.published && v.number < data.published);
  }

  async function refreshVersions() {
    if (!canManage) return;
    const result = await post("versions");
    if (result.ok) drawVersions(result.data);
  }

  async function openVersion(number) {
    if (dirty && !window.confirm(t.unsaved + "?")) return;
    const result = await post("load", { number: number });
    if (!result.ok) { status.textContent = result.data.detail || t.error; return; }
    load(result.data.graph);
    showErrors({});
    markDirty();
    status.textContent = t.loaded.replace("%(n)s", number);
  }

  async function rollback(number) {
    const result = await post("rollback", number === undefined ? {} : { number: number });
    if (!result.ok) { status.textContent = result.data.detail || t.error; return; }
    status.textContent = t.rolled_back + " " + result.data.published;
    drawVersions(result.data);
  }

  if (canManage) {
    document.getElementById("fe-rollback").addEventListener("click", () => rollback());
    refreshVersions();
  }

  // --- import / export --------------------------------------------------------------------

  const dialog = document.getElementById("fe-json-dialog");
  const jsonArea = document.getElementById("fe-json");

  function importGraph(text) {
    let graph;
    try {
      graph = JSON.parse(text);
    } catch (error) {
      return t.invalid_json;
    }
    if (!graph || typeof graph !== "object" || !Array.isArray(graph.nodes) || !Array.isArray(graph.edges)) return t.invalid_graph;
    load(graph);
    showErrors({});
    markDirty();
    return "";
  }

  document.getElementById("fe-export").addEventListener("click", () => {
    jsonArea.value = JSON.stringify(currentGraph(), null, 2);
    jsonArea.setCustomValidity("");
    dialog.showModal();
  });
  document.getElementById("fe-import").addEventListener("click", () => { jsonArea.value = ""; jsonArea.setCustomValidity(""); dialog.showModal(); });
  document.getElementById("fe-json-close").addEventListener("click", () => dialog.close());
  document.getElementById("fe-json-load").addEventListener("click", () => {
    const problem = importGraph(jsonArea.value);
    if (!problem) { dialog.close(); return; }
    jsonArea.setCustomValidity(problem);
    jsonArea.reportValidity();
  });
  jsonArea.addEventListener("input", () => jsonArea.setCustomValidity(""));
  document.getElementById("fe-json-download").addEventListener("click", () => {
    const blob = new Blob([jsonArea.value], { type: "application/json" });
    const link = h("a", { href: URL.createObjectURL(blob), download: root.dataset.fileName || "flow.json" });
    document.body.appendChild(link);
    link.click();
    link.remove();
    URL.revokeObjectURL(link.href);
  });
  document.getElementById("fe-json-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (!file) return;
    jsonArea.value = await file.text();
    jsonArea.setCustomValidity("");
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
    // A new conversation plays what is on the canvas: unsaved changes are saved as the draft first.
    if (state === null && dirty && !(await save("save"))) return;
    const result = await post("test", Object.assign({ state: state }, body));
    if (!result.ok) { bubble("note", result.data.detail || t.error); return; }
    result.data.replies.forEach((reply) => {
      if (reply.type === "message") bubble("bot", reply.text || (reply.template ? "[" + reply.template.name + "]" : reply.media_url));
      else bubble("note", reply.type + " " + JSON.stringify(Object.assign({}, reply, { type: undefined })));
    });
    state = result.data.state;
    if (["finished", "handed_over", "failed"].includes(result.data.status)) {
      bubble("note", t.ended + ": " + (config.statuses[result.data.status] || result.data.status));
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
