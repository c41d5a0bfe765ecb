// app.js - the workbench page of payerkb serve: edit an encounter, and show what this service answers for it.
//
// The encounter (one JSON object, contract v1) is the page's only state: the form and the JSON text are two
// views of it, each change re-sent (debounced) to POST /v1/check, /v1/compare?payers=all,
// /v1/explain?missing=true, /v1/explain?sensitivity=true and, once a code is asked, /v1/explain?why_not=CODE.
// Everything shown comes from those answers; a route the service does not have is
// shown as unavailable, an error as the problem detail (RFC 9457) it answered with. Every value reaches the
// page as text (textContent, never innerHTML), and a link only when its address is http or https.

const DEBOUNCE_MS = 300;
const PROBLEM = "urn:payerkb:problem:";
const TPI_CODES = ["20552", "20553"];  // the codes offered to "why not": those of them the answer did not choose
// CODE[-MOD...] as the service reads it (solver/explore/common.py), after trimming and upper-casing
const ASKED = /^(\d{4}[0-9A-Z]|[A-Z]\d{4})((?:-[0-9A-Z]{2}){0,4})$/;

// enc-0001 of examples/encounters.yaml, the README's first example
const SAMPLE = {
  id: "enc-0001", payer: "medicare-cgs", date_of_service: "2024-06-10", patient: "P-0042",
  injections: [
    { muscle: "upper trapezius", side: "right", trigger_points: 3, substance: "lidocaine 1%", dose: "2 mL" },
    { muscle: "rhomboid major", side: "right", trigger_points: 1, substance: "lidocaine 1%", dose: "1 mL" },
    { muscle: "levator scapulae", side: "right", trigger_points: 2, substance: "lidocaine 1%", dose: "1 mL" },
  ],
  diagnoses: ["M79.12", "M54.2"],
  evaluation: { code: "99213", separately_identifiable: false, new_patient: false },
  documentation: {
    trigger_points_on_exam: true, focal_muscle_pain: true,
    conservative_therapy: { tried: ["physical_therapy", "nsaids"], weeks: 8, failed: true, ongoing: true },
    pain_scores: { scale: "NRS", before: 7, after: 3 }, functional_limitation: true,
  },
  claim: [
    { code: "20552", modifiers: ["50"], units: 1, diagnoses: ["M79.12"] },
    { code: "99213", modifiers: ["25"], units: 1, diagnoses: ["M79.12"] },
  ],
};

const PANELS = [
  { id: "check-body", url: () => "/v1/check", name: "POST /v1/check", show: showCheck },
  { id: "compare-body", url: compareUrl, name: "POST /v1/compare", show: showCompare },
  { id: "missing-body", url: () => "/v1/explain?missing=true", name: "POST /v1/explain?missing=true", show: showMissing },
  { id: "why-not-body", url: () => `/v1/explain?${new URLSearchParams({ why_not: whyNot.code })}`,
    name: "POST /v1/explain?why_not", show: showWhyNot, idle: whyNotIdle },
  { id: "sensitivity-body", url: () => "/v1/explain?sensitivity=true", name: "POST /v1/explain?sensitivity=true",
    show: showSensitivity },
];
const WHY_NOT = PANELS.find((p) => p.id === "why-not-body");

function compareUrl() {  // every payer on the date of service, or the encounter's payer over a range of dates
  const from = $("sweep-from").value;
  const to = $("sweep-to").value;
  return from && to ? `/v1/compare?${new URLSearchParams({ from, to })}` : "/v1/compare?payers=all";
}

const $ = (id) => document.getElementById(id);
let encounter = structuredClone(SAMPLE);
let timer = null;
let whyNotTimer = null;
let pending = 0;  // requests asked and not yet answered: the status says "answered" when none is left
let payersRead = false;
const whyNot = { code: "", refused: "" };  // the code asked (valid CODE[-MOD...]), or why the text typed is not sent

// --- building the page from values, as text -----------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));  // a string becomes a text node
  }
  return node;
}

function webAddress(url) {
  try {
    const parsed = new URL(String(url));
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

function citation(c) {
  if (c === null || typeof c !== "object") {
    const href = webAddress(c);
    return el("li", {}, href ? el("a", { href, rel: "noopener noreferrer", target: "_blank" }, String(c)) : String(c));
  }
  const href = webAddress(c.url);
  const title = c.title || c.url || "(untitled source)";
  return el("li", { class: "citation" },
    href ? el("a", { href, rel: "noopener noreferrer", target: "_blank" }, title) : title,
    c.section ? ` - ${c.section}` : null,
    c.published ? ` (published ${c.published})` : null,
    c.last_reviewed ? ` (reviewed ${c.last_reviewed})` : null,
    href ? null : el("span", { class: "note" }, " (no web address)"));
}

function citations(list, label) {
  if (!Array.isArray(list) || list.length === 0) return el("p", { class: "note" }, "No citation given.");
  return el("div", { class: "sources" }, el("span", { class: "label" }, "Sources:"),
    el("ul", { class: "citations", "aria-label": label }, list.map(citation)));
}

function lineText(line) {
  if (line === null || typeof line !== "object") return String(line);
  const mods = Array.isArray(line.modifiers) && line.modifiers.length ? "-" + line.modifiers.join("-") : "";
  const units = line.units !== undefined && line.units !== 1 ? ` x ${line.units}` : "";
  const dx = Array.isArray(line.diagnoses) && line.diagnoses.length ? ` (${line.diagnoses.join(", ")})` : "";
  return `${line.code}${mods}${units}${dx}`;
}

function claimText(lines) {
  if (!Array.isArray(lines)) return "(none)";
  return lines.length ? lines.map(lineText).join("; ") : "(no lines)";
}

function outcomeBadge(outcome) {
  const known = ["allow", "modify", "review", "deny", "error"].includes(outcome) ? outcome : "other";
  return el("span", { class: `outcome outcome-${known}` }, outcome ?? "(none)");
}

function claimTable(lines, caption) {
  const rows = (Array.isArray(lines) ? lines : []).map((line, i) => el("tr", {},
    el("td", {}, String(i + 1)),
    el("td", {}, el("code", { class: "claim-code" }, line.code)),
    el("td", {}, Array.isArray(line.modifiers) ? line.modifiers.join(", ") : ""),
    el("td", {}, line.units ?? ""),
    el("td", {}, Array.isArray(line.diagnoses) ? line.diagnoses.join(", ") : "")));
  return el("table", { class: "claim" }, el("caption", {}, caption),
    el("thead", {}, el("tr", {}, ["Line", "Code", "Modifiers", "Units", "Diagnoses"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 5 }, "No lines."))));
}

function problemView(problem, what) {
  const errors = Array.isArray(problem.errors) ? problem.errors : [];
  return el("div", { class: "problem", role: "alert" },
    el("p", {}, el("strong", {}, `${what}: ${problem.title || "error"}${problem.status ? ` (${problem.status})` : ""}`)),
    problem.detail ? el("p", { class: "detail" }, problem.detail) : null,
    problem.field ? el("p", {}, "Field: ", el("code", {}, problem.field)) : null,
    errors.length > 1 ? el("ul", { "aria-label": "Every problem" },
      errors.map((e) => el("li", {}, el("code", {}, e.field ?? ""), ": ", e.message ?? ""))) : null,
    problem.type ? el("p", { class: "note" }, "Type: ", el("code", {}, problem.type)) : null);
}

// --- the answers ------------------------------------------------------------------------------------------
function showCheck(r, sent) {
  const findings = Array.isArray(r.findings) ? r.findings : [];
  return [
    el("p", { class: "verdict" }, "Outcome ", outcomeBadge(r.outcome), ` for ${r.encounter} (payer ${r.payer}, ${r.date_of_service})`),
    claimTable(r.claim, "The claim payerkb answers"),
    el("p", { class: "note" }, Array.isArray(sent.claim) ? `The claim as entered: ${claimText(sent.claim)}.`
      : "No claim was entered: this is the claim payerkb derives from the note."),
    Array.isArray(r.alternatives) && r.alternatives.length
      ? el("div", {}, el("h3", {}, "Other valid claims"), el("ul", {}, r.alternatives.map((alt) => el("li", {}, claimText(alt)))))
      : null,
    el("h3", {}, `Findings (${findings.length})`),
    findings.length ? el("ol", { class: "findings" }, findings.map(finding)) : el("p", {}, "No findings."),
    r.policy ? el("p", { class: "note" }, `Policy version ${r.policy.version ?? ""}`,
      r.decision ? `; decision ${r.decision.id}` : "") : null,
  ];
}

function finding(f) {
  const where = [f.line ? `claim line ${f.line}` : null, f.code ? `code ${f.code}` : null, f.category].filter(Boolean).join(", ");
  return el("li", { class: `finding severity-${["error", "warning", "info"].includes(f.severity) ? f.severity : "other"}` },
    el("p", { class: "finding-head" }, el("span", { class: "severity" }, f.severity ?? ""), " ",
      el("code", { class: "rule" }, f.rule ?? ""), where ? ` (${where})` : null),
    el("p", {}, f.message ?? ""),
    Array.isArray(f.evidence) && f.evidence.length ? el("div", {}, el("span", { class: "label" }, "Evidence:"),
      el("ul", { class: "evidence", "aria-label": `Evidence for ${f.rule}` }, f.evidence.map((e) => el("li", {}, e)))) : null,
    citations(f.citations, `Citations for ${f.rule}`));
}

function showCompare(r) {
  const rows = Array.isArray(r.rows) ? r.rows : [];
  const out = [el("table", { class: "compare" }, el("caption", {}, `Encounter ${r.encounter ?? ""}, ${rows.length} row(s)`),
    el("thead", {}, el("tr", {}, ["Payer", "Date", "Outcome", "Claim", "Deciding rules"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((row) => el("tr", { class: "compare-row" },
      el("th", { scope: "row" }, row.payer ?? ""),
      el("td", {}, row.date_of_service ?? ""),
      el("td", {}, outcomeBadge(row.outcome)),
      el("td", {}, claimText(row.claim)),
      el("td", {}, Array.isArray(row.deciding_rules) && row.deciding_rules.length
        ? el("ul", { class: "rules" }, row.deciding_rules.map((d) => el("li", {},
          el("code", {}, d.rule ?? ""), d.severity ? ` (${d.severity})` : null,
          el("details", {}, el("summary", {}, `Sources (${Array.isArray(d.citations) ? d.citations.length : 0})`),
            citations(d.citations, `Citations for ${d.rule} (${row.payer})`)))))
        : "none")))))];
  if ("common_claim" in r) {
    out.push(el("p", { class: "common" }, r.common_claim
      ? ["A claim valid in every row: ", el("strong", {}, claimText(r.common_claim))]
      : "No one claim is valid in every row."));
  }
  if (Array.isArray(r.parting_rules) && r.parting_rules.length) {
    out.push(el("h3", {}, "Where the payers part"), el("ul", {}, r.parting_rules.map((p) => el("li", {},
      el("code", {}, p.rule ?? ""), ": ", Array.isArray(p.payers) ? p.payers.join(", ") : ""))));
  }
  if (Array.isArray(r.change_dates) && r.change_dates.length) {
    out.push(el("h3", {}, "Dates the answer changes"), el("ul", { class: "changes" }, r.change_dates.map((c) => el("li", {},
      el("strong", {}, c.date ?? ""), c.payer ? ` (${c.payer})` : null, ": ",
      c.from && c.to ? [outcomeBadge(c.from.outcome), " to ", outcomeBadge(c.to.outcome),
        claimText(c.from.claim) !== claimText(c.to.claim) ? `, claim ${claimText(c.from.claim)} to ${claimText(c.to.claim)}` : ""]
        : c.outcome ? outcomeBadge(c.outcome) : null,
      Array.isArray(c.reasons) && c.reasons.length ? el("ul", { "aria-label": `Why the answer changes on ${c.date}` },
        c.reasons.map((reason) => el("li", {}, reason))) : null))));
  }
  return out;
}

function target(t) {
  if (!t || typeof t !== "object") return "";
  if (t.code) return `code ${t.code}${Array.isArray(t.modifiers) && t.modifiers.length ? "-" + t.modifiers.join("-") : ""}`;
  return `outcome ${t.outcome ?? ""}`;
}

function alternatives(alts, label) {
  return el("ol", { class: "alternatives" }, alts.map((alt, i) => {
    const facts = Array.isArray(alt.facts) ? alt.facts : [];
    const name = `${label} ${i + 1}`;
    return el("li", { class: "alternative" },
      el("p", {}, `${name}: `, facts.length ? "with these facts, " : "with nothing changed, ", outcomeBadge(alt.outcome),
        `, claim ${claimText(alt.claim)}`),
      facts.length ? el("ul", { class: "facts", "aria-label": `Facts of ${name}` }, facts.map((f) =>
        el("li", {}, el("code", {}, f.path ?? ""), " = ", el("code", {}, JSON.stringify(f.value)), f.reading ? ` (${f.reading})` : null))) : null,
      Array.isArray(alt.rules) && alt.rules.length ? el("ul", { class: "rules", "aria-label": `Rules of ${name}` },
        alt.rules.map((rule) => el("li", {}, el("code", {}, rule.rule ?? ""), citations(rule.citations, `Citations for ${rule.rule}`)))) : null,
      facts.length ? el("button", { type: "button", onclick: () => applyFacts(facts) }, `Apply ${name.toLowerCase()} to the encounter`) : null);
  }));
}

function showMissing(r) {
  const alts = Array.isArray(r.alternatives) ? r.alternatives : [];
  const searched = r.searched && typeof r.searched === "object" ? r.searched : {};
  const nearest = r.nearest && typeof r.nearest === "object" && Array.isArray(r.nearest.alternatives) ? r.nearest : null;
  return [
    el("p", {}, `Target: ${target(r.target)}.`, r.baseline ? [" Now: ", outcomeBadge(r.baseline.outcome), `, claim ${claimText(r.baseline.claim)}.`] : null),
    alts.length ? alternatives(alts, "Alternative")
      : el("p", {}, `No set of facts the search may assume reaches ${target(r.target)}.`),
    !alts.length && nearest ? el("div", { class: "nearest" }, el("h3", {}, `The nearest reachable: ${target(nearest.target)}`),
      alternatives(nearest.alternatives, "Nearest")) : null,
    Array.isArray(searched.notes) && searched.notes.length ? el("ul", { class: "note", "aria-label": "Notes on the search" },
      searched.notes.map((n) => el("li", {}, n))) : null,
    Array.isArray(searched.assumable) && searched.assumable.length ? el("details", {},
      el("summary", {}, `What the search may assume (${searched.assumable.length})`),
      el("ul", {}, searched.assumable.map((p) => el("li", {}, el("code", {}, p))))) : null,
  ];
}

// --- why not this code ------------------------------------------------------------------------------------
function askedText(asked) {
  if (!asked || typeof asked !== "object") return String(asked ?? "");
  return [asked.code, ...(Array.isArray(asked.modifiers) ? asked.modifiers : [])].join("-");
}

function showWhyNot(r) {
  const asked = askedText(r.asked);
  const broken = Array.isArray(r.broken) ? r.broken : [];
  const also = Array.isArray(r.also) ? r.also : [];
  return [
    el("p", { class: "verdict" }, `Why not ${asked}? The claim forced to carry it: `,
      el("strong", { class: "forced-claim" }, claimText(r.claim)), ", outcome ", outcomeBadge(r.outcome),
      r.valid === true ? ` (${asked} is valid for this encounter)` : r.valid === false ? ` (${asked} is not valid for this encounter)` : null),
    r.baseline ? el("p", {}, "The answer without forcing: ", outcomeBadge(r.baseline.outcome), `, claim ${claimText(r.baseline.claim)}.`) : null,
    el("h3", {}, `Rules the forced claim breaks (${broken.length})`),
    broken.length ? el("ol", { class: "findings broken" }, broken.map(finding))
      : el("p", {}, `The claim with ${asked} breaks no rule that the answer's own claim keeps.`),
    also.length ? el("details", {}, el("summary", {}, `Other findings on the forced claim (${also.length})`),
      el("ol", { class: "findings also" }, also.map(finding))) : null,
    r.as_submitted ? el("p", { class: "note as-submitted" }, "That claim sent as is: the check answers ",
      outcomeBadge(r.as_submitted.outcome), `, claim ${claimText(r.as_submitted.claim)}.`) : null,
    Array.isArray(r.notes) && r.notes.length ? el("ul", { class: "note", "aria-label": "Notes on why not" },
      r.notes.map((n) => el("li", {}, n))) : null,
  ];
}

function whyNotIdle() {  // a reason not to ask, shown in the panel; null when a valid code is asked
  if (whyNot.refused) return { state: "refused", text: `Not sent: ${whyNot.refused}` };
  if (!whyNot.code) return { state: "idle", text: "Pick a code above, or type one, to see the rules a claim carrying it breaks." };
  return null;
}

function readWhyNot(text) {  // the code typed, validated as the service validates it
  const code = text.trim().toUpperCase();
  whyNot.code = "";
  whyNot.refused = "";
  if (code && ASKED.test(code)) whyNot.code = code;
  else if (code) whyNot.refused = `${JSON.stringify(text)} is not CODE[-MOD...]; write e.g. 20553 or 20552-59`;
  const input = $("why-not-code");
  if (whyNot.refused) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
  $("why-not-error").textContent = whyNot.refused;
  $("why-not-error").hidden = !whyNot.refused;
  for (const b of $("why-not-offers").querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.code === whyNot.code));
}

function offerCodes(claim) {  // the TPI codes the answer's claim does not carry
  const chosen = new Set((Array.isArray(claim) ? claim : []).map((line) => line && line.code));
  const offers = TPI_CODES.filter((code) => !chosen.has(code));
  const now = [...$("why-not-offers").querySelectorAll("button")].map((b) => b.dataset.code);
  if (offers.length && now.join() === offers.join()) return;  // the same offers: kept, and the focus with them
  $("why-not-offers").replaceChildren(...(offers.length ? offers.map((code) => el("button",
    { type: "button", class: "why-not-offer", "data-code": code, "aria-pressed": String(code === whyNot.code) }, `Why not ${code}?`))
    : [el("span", { class: "note" }, "The answer carries every TPI code.")]));
}

// --- what flips the answer ------------------------------------------------------------------------------
function valueText(value) {
  return value === undefined ? "(absent)" : JSON.stringify(value);
}

function showSensitivity(r, sent) {
  const flips = Array.isArray(r.flips) ? r.flips : [];
  const searched = r.searched && typeof r.searched === "object" ? r.searched : {};
  return [
    r.baseline ? el("p", {}, "Now: ", outcomeBadge(r.baseline.outcome), `, claim ${claimText(r.baseline.claim)}.`) : null,
    flips.length ? el("ol", { class: "flips" }, flips.map((f, i) => flip(f, i, sent)))
      : el("p", {}, "No single change of one fact flips the outcome or the code."),
    Array.isArray(searched.notes) && searched.notes.length ? el("ul", { class: "note", "aria-label": "Notes on the search" },
      searched.notes.map((n) => el("li", {}, n))) : null,
  ];
}

function flip(f, i, sent) {
  const facts = Array.isArray(f.facts) ? f.facts : [];
  const name = `Change ${i + 1}`;
  const old = (path) => { try { return getPath(sent, path); } catch { return undefined; } };
  return el("li", { class: "flip" },
    el("ul", { class: "facts", "aria-label": `Facts of ${name}` }, facts.map((x) => el("li", { class: "fact" },
      el("code", { class: "path" }, x.path ?? ""), ": ", el("span", { class: "old" }, valueText(old(x.path))), " -> ",
      el("span", { class: "new" }, x.op === "remove" ? "(removed)" : valueText(x.value)),
      x.reading ? el("span", { class: "note" }, ` (${x.reading})`) : null))),
    el("p", {}, "leads to ", outcomeBadge(f.outcome), ", claim ", el("span", { class: "flip-claim" }, claimText(f.claim))),
    Array.isArray(f.rules) && f.rules.length ? el("ul", { class: "rules", "aria-label": `Rules of ${name}` },
      f.rules.map((rule) => el("li", {}, el("code", { class: "rule" }, rule.rule ?? ""), rule.now ? ` (${rule.now})` : null,
        el("details", {}, el("summary", {}, `Sources (${Array.isArray(rule.citations) ? rule.citations.length : 0})`),
          citations(rule.citations, `Citations for ${rule.rule} (${name})`))))) : null,
    facts.length ? el("button", { type: "button", class: "apply", onclick: () => applyFacts(facts) },
      `Apply ${name.toLowerCase()} to the encounter`) : null);
}

// --- contract-v1 paths: documentation.conservative_therapy.failed, injections[2].muscle ----------------
function parsePath(path) {
  const keys = [];
  for (const part of String(path).split(".")) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) throw new Error(`${path} is not a contract-v1 path`);
    keys.push(m[1]);
    for (const index of m[2].matchAll(/\[(\d+)\]/g)) keys.push(Number(index[1]));
  }
  return keys;
}

function getPath(obj, path) {
  let node = obj;
  for (const key of parsePath(path)) {
    if (node === null || typeof node !== "object") return undefined;
    node = node[key];
  }
  return node;
}

function setPath(obj, path, value) {  // value undefined: the key is removed
  const keys = parsePath(path);
  let node = obj;
  keys.slice(0, -1).forEach((key, i) => {
    const wantArray = typeof keys[i + 1] === "number";
    if (node[key] === null || typeof node[key] !== "object" || Array.isArray(node[key]) !== wantArray) node[key] = wantArray ? [] : {};
    node = node[key];
  });
  const last = keys[keys.length - 1];
  if (value === undefined) {
    if (Array.isArray(node)) node[last] = null; else delete node[last];
  } else node[last] = value;
}

function applyFact(obj, fact) {  // as solver.explore.contract_paths.apply_changes: a list's item removed or appended
  const keys = parsePath(fact.path);
  const last = keys[keys.length - 1];
  const parent = keys.length > 1 ? getPath(obj, fact.path.slice(0, fact.path.lastIndexOf(typeof last === "number" ? "[" : "."))) : obj;
  if (fact.op === "remove") {
    if (Array.isArray(parent) && typeof last === "number") parent.splice(last, 1);
    else if (parent && typeof parent === "object") delete parent[last];
  } else setPath(obj, fact.path, fact.value);
}

function applyFacts(facts) {
  const next = structuredClone(encounter);
  try {
    for (const f of Array.isArray(facts) ? facts : []) applyFact(next, f);
  } catch (err) {
    setStatus("error", `This change cannot be applied: ${err.message}`);
    return;
  }
  encounter = next;
  renderForm();
  writeSource();
  schedule();
}

// --- the form and the JSON text ---------------------------------------------------------------------------
function readControl(control) {
  switch (control.dataset.kind) {
    case "bool": return control.checked;
    case "int": return control.value === "" ? undefined : Number(control.value);
    case "list": return control.value.split(",").map((s) => s.trim()).filter(Boolean);
    default: return control.value === "" ? undefined : control.value;
  }
}

function writeControl(control, value) {
  if (control.dataset.kind === "bool") control.checked = value === true;
  else if (control.dataset.kind === "list") control.value = Array.isArray(value) ? value.join(", ") : "";
  else {
    if (control.tagName === "SELECT") {
      for (const option of control.querySelectorAll("option[data-unknown]")) if (option.value !== String(value)) option.remove();
      if (value !== undefined && value !== null && ![...control.options].some((o) => o.value === String(value))) {
        const why = control.id === "f-payer" && !payersRead ? "the payers could not be read" : "not one this service knows";
        control.append(el("option", { value: String(value), "data-unknown": true }, `${value} (${why})`));
      }
    }
    control.value = value === undefined || value === null ? "" : String(value);
  }
}

function injectionRow(injection, i) {
  const n = i + 1;
  const side = injection && typeof injection === "object" ? injection.side : undefined;
  return el("tr", {},
    el("td", {}, el("label", { for: `inj-${i}-muscle`, class: "visually-hidden" }, `Muscle ${n}`),
      el("input", { id: `inj-${i}-muscle`, class: "muscle", "data-path": `injections[${i}].muscle`, "data-kind": "text", autocomplete: "off" })),
    el("td", {}, el("label", { for: `inj-${i}-side`, class: "visually-hidden" }, `Side of muscle ${n}`),
      el("select", { id: `inj-${i}-side`, "data-path": `injections[${i}].side`, "data-kind": "text" },
        ["", "left", "right", "midline"].map((s) => el("option", { value: s }, s || "(not given)")),
        side && !["left", "right", "midline"].includes(side) ? el("option", { value: side }, side) : null)),
    el("td", {}, el("label", { for: `inj-${i}-tp`, class: "visually-hidden" }, `Trigger points in muscle ${n}`),
      el("input", { id: `inj-${i}-tp`, type: "number", min: 1, step: 1, "data-path": `injections[${i}].trigger_points`, "data-kind": "int" })),
    el("td", {}, el("button", { type: "button", class: "remove", "data-index": i, "aria-label": `Remove muscle ${n}` }, "Remove")));
}

function renderForm() {
  const injections = Array.isArray(encounter.injections) ? encounter.injections : [];
  $("injection-rows").replaceChildren(...injections.map(injectionRow));
  for (const control of $("form").querySelectorAll("[data-path]")) {
    let value;
    try { value = getPath(encounter, control.dataset.path); } catch { value = undefined; }
    writeControl(control, value);
  }
  const evaluation = encounter.evaluation;
  $("e-sep").disabled = !(evaluation && typeof evaluation === "object" && !Array.isArray(evaluation));
}

function writeSource() {
  $("source").value = JSON.stringify(encounter, null, 2);
  $("source").removeAttribute("aria-invalid");
  $("source-error").hidden = true;
}

function readSource() {
  let parsed;
  try {
    parsed = JSON.parse($("source").value);
  } catch (err) {
    return `The JSON does not parse: ${err.message}`;
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    return "Paste one encounter: a JSON object (a list or a single value is not read here).";
  }
  encounter = parsed;
  return null;
}

// --- asking the service ---------------------------------------------------------------------------------
function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(run, DEBOUNCE_MS);
}

function scheduleWhyNot(delay = DEBOUNCE_MS) {  // the code asked changed: only that panel asks again
  clearTimeout(whyNotTimer);
  whyNotTimer = setTimeout(() => run([WHY_NOT]), delay);
}

async function ask(url, body, signal) {
  let resp;
  try {
    resp = await fetch(url, { method: "POST", body, signal,
      headers: { "content-type": "application/json", accept: "application/json, application/problem+json" } });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    return { kind: "network", message: String(err.message || err) };
  }
  let text;
  try {
    text = await resp.text();
  } catch (err) {
    if (err.name === "AbortError") throw err;
    return { kind: "network", message: String(err.message || err) };
  }
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  const isProblem = data !== null && typeof data === "object" && !Array.isArray(data) && "status" in data && "detail" in data;
  if (resp.ok && data !== null && !isProblem) return { kind: "ok", data };
  if (isProblem && (data.type === `${PROBLEM}not-found` || data.type === `${PROBLEM}method-not-allowed`)) {
    return { kind: "unavailable", status: resp.status };
  }
  if (isProblem) return { kind: "problem", problem: data };
  return { kind: "problem", problem: { title: resp.statusText || "error", status: resp.status, detail: text.slice(0, 500) } };
}

function fill(panel, answer, sent) {
  const node = $(panel.id);
  node.setAttribute("aria-busy", "false");
  node.dataset.state = answer.kind;
  panel.kind = answer.kind;
  if (answer.kind === "ok") {
    node.replaceChildren(...[panel.show(answer.data, sent)].flat().filter(Boolean));
  } else if (answer.kind === "unavailable") {
    node.replaceChildren(el("p", { class: "unavailable" },
      `Unavailable: this service has no ${panel.name} route (it answered ${answer.status}), so this panel shows nothing.`));
  } else if (answer.kind === "network") {
    node.replaceChildren(el("div", { class: "problem", role: "alert" }, `The service did not answer ${panel.name}: ${answer.message}`));
  } else if (answer.kind === "problem") {
    node.replaceChildren(problemView(answer.problem, `${panel.name} answered with a problem`));
  } else {  // idle or refused: nothing was asked
    node.replaceChildren(el("p", { class: answer.kind === "refused" ? "problem" : "note" }, answer.text));
  }
  if (panel.id === "check-body") offerCodes(answer.kind === "ok" ? answer.data.claim : []);
}

async function ask1(panel, body) {  // one panel's request; a newer one of the same panel aborts it
  panel.seq = (panel.seq || 0) + 1;
  const mine = panel.seq;
  if (panel.inflight) panel.inflight.abort();
  panel.inflight = null;
  const idle = panel.idle ? panel.idle() : null;
  if (idle) {
    fill(panel, { kind: idle.state, text: idle.text });
    return;
  }
  panel.inflight = new AbortController();
  $(panel.id).setAttribute("aria-busy", "true");
  $(panel.id).dataset.state = "busy";
  pending += 1;
  try {
    const answer = await ask(panel.url(), body, panel.inflight.signal);
    if (mine === panel.seq) fill(panel, answer, JSON.parse(body));
  } finally {
    pending -= 1;
  }
}

async function run(panels = PANELS) {
  if (panels === PANELS) clearTimeout(timer);
  const body = JSON.stringify(encounter);
  setStatus("busy", "Asking the service…");
  await Promise.allSettled(panels.map((panel) => ask1(panel, body)));
  if (pending) return;  // another request still runs: the last one to come back says how it went
  const failed = PANELS.filter((p) => ["problem", "network"].includes(p.kind)).length;
  const time = new Date().toLocaleTimeString();
  const payers = payersRead ? "" : " The payers could not be read from /v1/payers.";
  setStatus(failed || !payersRead ? "error" : "idle",
    (failed ? `Answered at ${time}, ${failed} panel(s) with a problem.` : `Answered at ${time}.`) + payers);
}

// --- start ------------------------------------------------------------------------------------------------
async function loadPayers() {
  const select = $("f-payer");
  try {
    const resp = await fetch("/v1/payers", { headers: { accept: "application/json" } });
    const payers = await resp.json();
    if (!resp.ok || !Array.isArray(payers)) throw new Error(payers?.detail || `status ${resp.status}`);
    select.replaceChildren(...payers.map((p) => el("option", { value: p.id }, p.name ? `${p.name} (${p.id})` : p.id)));
    payersRead = true;
  } catch (err) {
    setStatus("error", `The payers could not be read from /v1/payers: ${err.message}`);
  }
}

function start() {
  $("form").addEventListener("submit", (ev) => ev.preventDefault());
  const onControl = (ev) => {
    const control = ev.target;
    if (!control.dataset || !control.dataset.path) return;
    setPath(encounter, control.dataset.path, readControl(control));
    writeSource();
    schedule();
  };
  $("form").addEventListener("input", onControl);  // checkboxes, selects and dates send input events too
  for (const id of ["sweep-from", "sweep-to"]) $(id).addEventListener("input", schedule);
  $("why-not-code").addEventListener("input", (ev) => {
    readWhyNot(ev.target.value);
    scheduleWhyNot();
  });
  $("why-not-offers").addEventListener("click", (ev) => {
    const button = ev.target.closest("button.why-not-offer");
    if (!button) return;
    $("why-not-code").value = button.dataset.code;
    readWhyNot(button.dataset.code);
    scheduleWhyNot(0);
  });
  $("injection-rows").addEventListener("click", (ev) => {
    const button = ev.target.closest("button.remove");
    if (!button) return;
    const index = Number(button.dataset.index);
    encounter.injections.splice(index, 1);
    renderForm();
    writeSource();
    schedule();
    const buttons = $("injection-rows").querySelectorAll("button.remove");
    (buttons[Math.min(index, buttons.length - 1)] || $("add-injection")).focus();
  });
  $("add-injection").addEventListener("click", () => {
    if (!Array.isArray(encounter.injections)) encounter.injections = [];
    const last = encounter.injections[encounter.injections.length - 1];
    encounter.injections.push(last && typeof last === "object" && last.side ? { side: last.side } : {});
    renderForm();
    writeSource();
    schedule();
    $(`inj-${encounter.injections.length - 1}-muscle`).focus();
  });
  $("source").addEventListener("input", () => {
    const error = readSource();
    if (error) {
      clearTimeout(timer);
      $("source").setAttribute("aria-invalid", "true");
      $("source-error").textContent = error;
      $("source-error").hidden = false;
      setStatus("error", "Not sent: the JSON text does not read as one encounter; the answers below are for the last one that did.");
      return;
    }
    $("source").removeAttribute("aria-invalid");
    $("source-error").hidden = true;
    renderForm();
    schedule();
  });
  $("sample").addEventListener("click", () => {
    encounter = structuredClone(SAMPLE);
    renderForm();
    writeSource();
    run();
  });
}

start();
writeSource();
await loadPayers();
renderForm();
run();
