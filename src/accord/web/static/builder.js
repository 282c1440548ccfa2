// Audience builder over the audience AST, both ways: the server parses the text into the AST the form shows,
// and prints the AST the form edits back into text. Every construct of the language has a control; a node kind
// the form does not know is kept as an editable JSON block, never dropped.
(function () {
  const text = document.getElementById("text");
  const status = document.getElementById("status");
  const tree = document.getElementById("b-tree");
  const nameInput = document.getElementById("b-name");
  const ofSelect = document.getElementById("b-of");
  const descriptionInput = document.getElementById("b-description");
  const ownerInput = document.getElementById("b-owner");
  const confirmBox = document.getElementById("confirm");
  const COMPARE = ["=", "!=", ">", ">=", "<", "<=", "contains", "starts with", "ends with"];
  const NUMBER = ["=", "!=", ">", ">=", "<", "<="];
  const NEW = {
    compare: (scope) => ({ kind: "compare", field: firstField(scope), op: "=", value: "" }),
    in_values: (scope) => ({ kind: "in_values", field: firstField(scope), values: [], negated: false }),
    is_null: (scope) => ({ kind: "is_null", field: firstField(scope), negated: true }),
    between: (scope) => ({ kind: "between", field: firstField(scope), low: 0, high: 100 }),
    quantified: () => ({ kind: "quantified", quantifier: "any", relation: "opportunity", where: null, window: null }),
    aggregate: () => ({ kind: "aggregate", function: "count", relation: "event", field: null, op: ">=", value: 1,
      where: { kind: "compare", field: "event_type", op: "=", value: "web.pageview" }, window: { last_days: 30 } }),
    occurrence: () => ({ kind: "occurrence", which: "last", where: null, op: "before", days: 30 }),
    in_campaign: () => ({ kind: "in_campaign", campaign: "", status: null }),
    in_list: () => ({ kind: "in_list", name: "" }),
    in_audience: () => ({ kind: "in_audience", name: "" }),
    and: () => ({ kind: "and", items: [] }),
    or: () => ({ kind: "or", items: [] }),
    not: (scope) => ({ kind: "not", item: NEW.compare(scope) }),
  };
  const KIND_LABELS = {
    compare: "field condition", in_values: "field in a list of values", is_null: "field is empty or not",
    between: "field between two values", quantified: "related records (any / all / no)",
    aggregate: "count or sum of related records", occurrence: "first or last event", in_campaign: "in a campaign",
    in_list: "in a marketing list", in_audience: "in another audience", and: "group: all of", or: "group: any of",
    not: "not",
  };
  let fields = {};
  let audience = null;   // the AST the form shows and edits
  let fromText = null;   // pending checks, so that typing asks the server once per pause
  let fromForm = null;
  let counter = 0;

  function el(tag, props, ...children) {
    const node = Object.assign(document.createElement(tag), props || {});
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function labelled(labelText, control) {
    control.id = control.id || "c" + (++counter);
    return el("div", { className: "control" }, el("label", { htmlFor: control.id, textContent: labelText }), control);
  }

  function select(values, current, onChange, labels) {
    const s = el("select");
    values.forEach((v) => s.append(el("option", { value: v, textContent: (labels && labels[v]) || v })));
    s.value = current;
    s.addEventListener("change", () => onChange(s.value));
    return s;
  }

  function input(current, onChange, extra) {
    const i = el("input", Object.assign({ value: current === null || current === undefined ? "" : String(current) }, extra));
    i.addEventListener("input", () => onChange(i.value));
    return i;
  }

  function firstField(scope) {
    return Object.keys(fields[scope] || {}).sort()[0] || "";
  }

  function fieldInput(scope, node) {
    const list = "fields-" + scope;
    if (!document.getElementById(list)) {
      const datalist = el("datalist", { id: list });
      Object.keys(fields[scope] || {}).sort().forEach((f) => datalist.append(el("option", { value: f })));
      document.body.append(datalist);
    }
    const field = input(node.field, (v) => { node.field = v; formChanged(); }, { size: 22 });
    field.setAttribute("list", list);
    return field;
  }

  // A typed value from what was typed: numbers and booleans for such fields, a date as {date: "YYYY-MM-DD"}.
  function typed(scope, field, raw, previous) {
    const type = (fields[scope] || {})[field] || "string";
    const t = String(raw).trim();
    if (["integer", "number"].includes(type) && t !== "" && !isNaN(Number(t))) return Number(t);
    if (type === "boolean" && (t === "true" || t === "false")) return t === "true";
    if (["date", "timestamp"].includes(type) && /^\d{4}-\d{2}-\d{2}$/.test(t)) return { date: t };
    if (previous && typeof previous === "object" && previous.date === t) return previous;
    return raw;
  }

  function shown(value) {
    if (value && typeof value === "object" && "date" in value) return value.date;
    return value === null || value === undefined ? "" : String(value);
  }

  function windowControls(node) {
    const mode = node.window === null || node.window === undefined ? "any time"
      : node.window.last_days !== null && node.window.last_days !== undefined ? "in the last" : "between dates";
    const box = el("span", { className: "window" });
    const modeSelect = select(["any time", "in the last", "between dates"], mode, (m) => {
      node.window = m === "any time" ? null : m === "in the last" ? { last_days: 30 }
        : { start: { date: "2026-01-01" }, end: { date: "2026-12-31" } };
      formChanged(); renderForm();
    });
    box.append(labelled("When", modeSelect));
    if (mode === "in the last") {
      box.append(labelled("Days", input(node.window.last_days, (v) => { node.window.last_days = Number(v); formChanged(); },
        { type: "number", min: "0", style: "width:6em" })));
    } else if (mode === "between dates") {
      box.append(labelled("From", input(shown(node.window.start), (v) => { node.window.start = { date: v }; formChanged(); }, { type: "date" })),
        labelled("To (included)", input(shown(node.window.end), (v) => { node.window.end = { date: v }; formChanged(); }, { type: "date" })));
    }
    return box;
  }

  // The condition under a related-records node, edited as a group in the related scope.
  function nested(node, scope, key) {
    const inner = node[key];
    const grouped = inner && ["and", "or"].includes(inner.kind);
    const holder = { kind: grouped ? inner.kind : "and", items: grouped ? inner.items : inner ? [inner] : [] };
    return renderGroup(holder, scope, () => {
      node[key] = holder.items.length === 0 ? null
        : holder.items.length === 1 && holder.kind === "and" ? holder.items[0] : { kind: holder.kind, items: holder.items };
    }, "where");
  }

  function leaf(node, scope) {
    const set = (key) => (v) => { node[key] = v; formChanged(); };
    switch (node.kind) {
      case "compare":
        return [labelled("Field", fieldInput(scope, node)), labelled("Operator", select(COMPARE, node.op, set("op"))),
          labelled("Value", input(shown(node.value), (v) => { node.value = typed(scope, node.field, v, node.value); formChanged(); }, { size: 18 }))];
      case "in_values":
        return [labelled("Field", fieldInput(scope, node)),
          labelled("Operator", select(["in", "not in"], node.negated ? "not in" : "in", (v) => { node.negated = v === "not in"; formChanged(); })),
          labelled("Values (comma-separated)", input(node.values.map(shown).join(", "), (v) => {
            node.values = v.split(",").map((s) => s.trim()).filter((s) => s !== "").map((s) => typed(scope, node.field, s));
            formChanged();
          }, { size: 28 }))];
      case "is_null":
        return [labelled("Field", fieldInput(scope, node)),
          labelled("Is", select(["empty", "not empty"], node.negated ? "not empty" : "empty", (v) => { node.negated = v === "not empty"; formChanged(); }))];
      case "between":
        return [labelled("Field", fieldInput(scope, node)),
          labelled("From", input(shown(node.low), (v) => { node.low = typed(scope, node.field, v, node.low); formChanged(); }, { size: 10 })),
          labelled("To", input(shown(node.high), (v) => { node.high = typed(scope, node.field, v, node.high); formChanged(); }, { size: 10 }))];
      case "quantified":
        return [labelled("Quantifier", select(["any", "all", "no"], node.quantifier, set("quantifier"))),
          labelled("Related", relationInput(scope, node)), windowControls(node), nested(node, node.relation, "where")];
      case "aggregate":
        return [labelled("Function", select(["count", "sum"], node.function, (v) => { node.function = v; formChanged(); renderForm(); })),
          labelled("Related", relationInput(scope, node)),
          node.function === "sum" ? labelled("Of field", input(node.field, set("field"), { size: 14 })) : null,
          labelled("Operator", select(NUMBER, node.op, set("op"))),
          labelled("Value", input(node.value, (v) => { node.value = Number(v); formChanged(); }, { type: "number", style: "width:8em" })),
          windowControls(node), nested(node, node.relation, "where")];
      case "occurrence":
        return [labelled("Which", select(["first", "last"], node.which, set("which"))),
          labelled("Was", select(["before", "after"], node.op, set("op"))),
          labelled("Days ago", input(node.days, (v) => { node.days = Number(v); formChanged(); }, { type: "number", min: "0", style: "width:6em" })),
          nested(node, "event", "where")];
      case "in_campaign":
        return [labelled("Campaign", input(node.campaign, set("campaign"), { size: 24 })),
          labelled("With status (optional)", input(node.status, (v) => { node.status = v.trim() === "" ? null : v; formChanged(); }, { size: 16 }))];
      case "in_list":
        return [labelled("List", input(node.name, set("name"), { size: 24 }))];
      case "in_audience":
        return [labelled("Audience", input(node.name, set("name"), { size: 28 }))];
      default:
        return null;
    }
  }

  function relationInput(scope, node) {
    const reach = Object.keys(fields).filter((s) => s !== scope);
    return select(reach.includes(node.relation) ? reach : [node.relation, ...reach], node.relation, (v) => {
      node.relation = v; node.where = null; formChanged(); renderForm();
    });
  }

  function removeButton(onRemove) {
    const b = el("button", { type: "button", className: "secondary", textContent: "Remove" });
    b.setAttribute("aria-label", "Remove this condition");
    b.addEventListener("click", onRemove);
    return b;
  }

  function renderNode(node, scope, replace, remove) {
    const box = el("div", { className: "cond" });
    box.dataset.kind = node.kind;
    if (node.kind === "and" || node.kind === "or") {
      box.append(renderGroup(node, scope, () => {}, null, remove));
      return box;
    }
    if (node.kind === "not") {
      box.append(el("strong", { textContent: "not" }), renderNode(node.item, scope, (n) => { node.item = n; }, null));
      if (remove) box.append(removeButton(remove));
      return box;
    }
    const controls = leaf(node, scope);
    if (controls === null) {  // a construct this form does not know: its JSON, editable, kept as it is
      const raw = el("textarea", { value: JSON.stringify(node, null, 1), rows: 4, cols: 48, spellcheck: false });
      raw.addEventListener("input", () => { try { replace(JSON.parse(raw.value)); formChanged(); } catch (e) { /* wait */ } });
      box.append(labelled("Condition (as JSON)", raw));
    } else {
      box.append(...controls.filter((c) => c !== null));
    }
    if (remove) box.append(removeButton(remove));
    return box;
  }

  function renderGroup(group, scope, sync, title, remove) {
    const box = el("fieldset", { className: "group" });
    const legend = el("legend");
    if (title) legend.append(title + " ");
    legend.append(select(["and", "or"], group.kind, (v) => { group.kind = v; sync(); formChanged(); },
      { and: "all of these", or: "any of these" }));
    if (remove) legend.append(" ", removeButton(remove));
    box.append(legend);
    group.items.forEach((item, i) => {
      box.append(renderNode(item, scope, (n) => { group.items[i] = n; sync(); },
        () => { group.items.splice(i, 1); sync(); formChanged(); renderForm(); }));
    });
    const kinds = Object.keys(NEW);
    const adder = select(["", ...kinds], "", (kind) => {
      if (!kind) return;
      group.items.push(NEW[kind](scope)); sync(); formChanged(); renderForm();
    }, Object.assign({ "": "Add a condition…" }, KIND_LABELS));
    box.append(labelled("Add", adder));
    return box;
  }

  function renderForm() {
    tree.replaceChildren();
    if (!audience) return;
    nameInput.value = audience.name; ofSelect.value = audience.of;
    descriptionInput.value = audience.description || ""; ownerInput.value = audience.owner || "";
    const root = ["and", "or"].includes(audience.where.kind) ? audience.where : { kind: "and", items: [audience.where] };
    tree.append(renderGroup(root, audience.of, () => {
      audience.where = root.items.length === 1 && root.kind === "and" ? root.items[0] : root;
    }, "Match"));
  }

  async function ask(body) {
    return fetch("/ui/preview", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body) }).then((r) => r.json());
  }

  function show(answer) {
    const size = document.getElementById("preview-size");
    const sample = document.getElementById("preview-sample");
    const change = document.getElementById("preview-change");
    const diff = document.getElementById("preview-diff");
    sample.replaceChildren(); change.textContent = ""; diff.textContent = "";
    confirmBox.closest(".confirm").hidden = true;
    if (!answer.valid) {
      status.className = "status bad"; status.textContent = answer.error; size.textContent = "–";
      return;
    }
    status.className = "status ok";
    status.textContent = `Valid: "${answer.name}", audience of ${answer.of}, evaluated ${answer.method}.`;
    size.textContent = answer.size.toLocaleString();
    answer.sample.forEach((m) => sample.append(el("li", { textContent: `${m.id} ${m.label || ""}` })));
    if (answer.change) {
      const c = answer.change;
      change.textContent = `Saving changes its members (against its last evaluation): −${c.removed.toLocaleString()}, +${c.added.toLocaleString()} ` +
        `(of ${c.current.toLocaleString()})` + (c.destinations.length ? `; it feeds ${c.destinations.join(", ")}` : "");
      diff.textContent = answer.diff;
      confirmBox.closest(".confirm").hidden = !c.needs_confirm;
    }
  }

  function formChanged() {
    clearTimeout(fromForm);
    audience.name = nameInput.value; audience.of = ofSelect.value;
    audience.description = descriptionInput.value; audience.owner = ownerInput.value;
    fromForm = setTimeout(async () => {
      const answer = await ask({ ast: audience });
      if (answer.text) text.value = answer.text;
      show(answer);
    }, 250);
  }

  function textChanged() {
    clearTimeout(fromText);
    fromText = setTimeout(async () => {
      const answer = await ask({ text: text.value });
      if (answer.valid) {
        audience = answer.ast;
        if (!fields[audience.of] || ofSelect.value !== audience.of) {
          fields = await fetch("/ui/fields?of=" + audience.of).then((r) => r.json());
        }
        renderForm();
      }
      show(answer);
    }, 250);
  }

  [nameInput, descriptionInput, ownerInput].forEach((i) => i.addEventListener("input", () => { if (audience) formChanged(); }));
  ofSelect.addEventListener("change", async () => {
    if (!audience) return;
    fields = await fetch("/ui/fields?of=" + ofSelect.value).then((r) => r.json());
    audience.of = ofSelect.value; audience.where = { kind: "and", items: [] };
    renderForm(); formChanged();
  });
  text.addEventListener("input", textChanged);
  fetch("/ui/fields?of=" + (text.value.match(/\bof\s+(person|account)\b/) || [null, "person"])[1])
    .then((r) => r.json()).then((f) => { fields = f; textChanged(); });
})();
