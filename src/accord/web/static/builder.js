// Audience builder: form controls write the audience text; the text is checked and sized as you type.
(function () {
  const text = document.getElementById("text");
  const status = document.getElementById("status");
  const rows = document.getElementById("b-rows");
  const nameInput = document.getElementById("b-name");
  const ofSelect = document.getElementById("b-of");
  const joinSelect = document.getElementById("b-join");
  const OPS = ["=", "!=", ">", ">=", "<", "<=", "contains", "starts with", "ends with", "is null", "is not null"];
  let fields = {};
  let timer = null;
  let counter = 0;

  const head = text.value.match(/^audience\s+"([^"]*)"\s+of\s+(person|account)/);
  if (head) { nameInput.value = head[1]; ofSelect.value = head[2]; }

  function option(value, label) {
    const o = document.createElement("option");
    o.value = value; o.textContent = label || value; return o;
  }

  function labelled(labelText, control) {
    const wrap = document.createElement("div");
    const label = document.createElement("label");
    control.id = "c" + (++counter);
    label.htmlFor = control.id; label.textContent = labelText;
    wrap.append(label, control); return wrap;
  }

  function removeButton(row) {
    const b = document.createElement("button");
    b.type = "button"; b.className = "secondary"; b.textContent = "Remove";
    b.setAttribute("aria-label", "Remove this condition");
    b.addEventListener("click", () => { row.remove(); writeText(); });
    return b;
  }

  function fieldRow() {
    const row = document.createElement("div");
    row.className = "row"; row.dataset.kind = "field";
    const field = document.createElement("select");
    const own = fields[ofSelect.value] || {};
    Object.keys(own).sort().forEach((f) => field.append(option(f, f + " (" + own[f] + ")")));
    const op = document.createElement("select");
    OPS.forEach((o) => op.append(option(o)));
    const value = document.createElement("input");
    value.size = 18;
    row.append(labelled("Field", field), labelled("Operator", op), labelled("Value", value), removeButton(row));
    [field, op, value].forEach((c) => c.addEventListener("input", writeText));
    rows.append(row); field.focus(); writeText();
  }

  function eventRow() {
    const row = document.createElement("div");
    row.className = "row"; row.dataset.kind = "event";
    const type = document.createElement("input"); type.value = "web.pageview"; type.size = 16;
    const count = document.createElement("input"); count.type = "number"; count.min = "1"; count.value = "1"; count.style.width = "5em";
    const days = document.createElement("input"); days.type = "number"; days.min = "1"; days.value = "30"; days.style.width = "5em";
    row.append(labelled("Event type", type), labelled("At least (times)", count), labelled("In the last (days)", days), removeButton(row));
    [type, count, days].forEach((c) => c.addEventListener("input", writeText));
    rows.append(row); type.focus(); writeText();
  }

  function relationRow() {
    const row = document.createElement("div");
    row.className = "row"; row.dataset.kind = "relation";
    const quantifier = document.createElement("select");
    ["any", "all", "no"].forEach((q) => quantifier.append(option(q)));
    const relation = document.createElement("select");
    Object.keys(fields).filter((s) => s !== ofSelect.value).forEach((s) => relation.append(option(s)));
    const field = document.createElement("select");
    const op = document.createElement("select");
    OPS.forEach((o) => op.append(option(o)));
    const value = document.createElement("input"); value.size = 14;
    const fillFields = () => {
      field.replaceChildren();
      const scoped = fields[relation.value] || {};
      Object.keys(scoped).sort().forEach((f) => field.append(option(f, f + " (" + scoped[f] + ")")));
    };
    relation.addEventListener("input", fillFields); fillFields();
    row.append(labelled("Quantifier", quantifier), labelled("Related", relation), labelled("Field", field),
      labelled("Operator", op), labelled("Value", value), removeButton(row));
    [quantifier, relation, field, op, value].forEach((c) => c.addEventListener("input", writeText));
    rows.append(row); quantifier.focus(); writeText();
  }

  function literal(fieldName, raw, scope) {
    const type = (fields[scope || ofSelect.value] || {})[fieldName] || "string";
    if (["integer", "number"].includes(type) && raw.trim() !== "" && !isNaN(Number(raw))) return raw.trim();
    if (type === "boolean" && ["true", "false"].includes(raw.trim())) return raw.trim();
    return JSON.stringify(raw);
  }

  function writeText() {
    const conditions = [];
    rows.querySelectorAll(".row").forEach((row) => {
      const c = row.querySelectorAll("input, select");
      if (row.dataset.kind === "field") {
        const [field, op, value] = [c[0].value, c[1].value, c[2].value];
        conditions.push(op.startsWith("is ") ? `${field} ${op}` : `${field} ${op} ${literal(field, value)}`);
      } else if (row.dataset.kind === "relation") {
        const [quantifier, relation, field, op, value] = [c[0].value, c[1].value, c[2].value, c[3].value, c[4].value];
        const inner = op.startsWith("is ") ? `${field} ${op}` : `${field} ${op} ${literal(field, value, relation)}`;
        conditions.push(`${quantifier} ${relation} (${inner})`);
      } else {
        conditions.push(`count(event where event_type = ${JSON.stringify(c[0].value)} in last ${c[2].value} days) >= ${c[1].value}`);
      }
    });
    if (!conditions.length) return;
    text.value = `audience ${JSON.stringify(nameInput.value || "New audience")} of ${ofSelect.value}\nwhere ` +
      conditions.join(` ${joinSelect.value} `) + "\n";
    check();
  }

  function check() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const answer = await fetch("/ui/preview", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text: text.value }),
      }).then((r) => r.json());
      const size = document.getElementById("preview-size");
      const sample = document.getElementById("preview-sample");
      sample.replaceChildren();
      if (answer.valid) {
        status.className = "status ok";
        status.textContent = `Valid: "${answer.name}", audience of ${answer.of}, evaluated ${answer.method}.`;
        size.textContent = answer.size.toLocaleString();
        answer.sample.forEach((m) => { const li = document.createElement("li"); li.textContent = `${m.id} ${m.label || ""}`; sample.append(li); });
      } else {
        status.className = "status bad";
        status.textContent = answer.error;
        size.textContent = "–";
      }
    }, 250);
  }

  async function loadFields() {
    fields = await fetch("/ui/fields?of=" + ofSelect.value).then((r) => r.json());
  }

  document.getElementById("add-field").addEventListener("click", fieldRow);
  document.getElementById("add-event").addEventListener("click", eventRow);
  document.getElementById("add-relation").addEventListener("click", relationRow);
  nameInput.addEventListener("input", writeText);
  joinSelect.addEventListener("input", writeText);
  ofSelect.addEventListener("input", async () => { await loadFields(); rows.replaceChildren(); });
  text.addEventListener("input", check);
  loadFields().then(check);
})();
