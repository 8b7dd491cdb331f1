/**
 * <kvk-company-field>: a drop-in sign-up field for kvkgate (issue #21). One ES module, no dependencies.
 *
 *   <script type="module" src="kvk-company-field.js"></script>
 *   <kvk-company-field api="https://kvk.example.nl" lang="nl" checks="name address"></kvk-company-field>
 *
 * A person types the first letters of their company's name, picks it from the suggestions (a WAI-ARIA 1.2
 * combobox: arrow keys, Enter, Escape, Tab), and the field validates the KVK number (and, as `checks`
 * asks, the name, address, branch number and RSIN) with POST /v1/validations. Errors appear at their field
 * (`aria-invalid`, `aria-describedby`), in Dutch or English (`lang`; the API answers in the same language).
 *
 * Attributes: `api` (the kvkgate API's base URL; default: this page's origin), `lang` (`nl` or `en`;
 * default: the page's language), `checks` (any of `name address branch rsin`; default `name`),
 * `debounce` and `max-wait` (ms: a search is sent after a pause of `debounce` in the typing, and at the
 * latest `max-wait` after the first key not yet sent; defaults 150 and 450, see `make bench-search`).
 *
 * It is a form-associated element: inside a <form> it submits kvkNumber, tradeName, postcode,
 * houseNumber, branchNumber and rsin like inputs of those names, and the form will not submit while the
 * verdict is `invalid`. Events: `kvk-validated` (detail: the API's answer), `kvk-picked` (detail: the
 * suggestion). Properties: `value` (the fields), `result` (the last answer).
 */

/* texts:begin (generated from layers/kvkgate/kvkgate/texts by `python -m local.component_texts`) */
const TEXTS = {
  "en": {
    "demo.checking": "Checking with KVK…",
    "demo.error": "The check could not be done: {detail}",
    "demo.error.offline": "the server could not be reached; check your connection.",
    "demo.inactive": "no longer active",
    "demo.kind.branch": "branch",
    "demo.kind.legal entity": "legal entity",
    "demo.kind.main branch": "main branch",
    "demo.optional": "(optional)",
    "demo.picked": "Picked: {name}, KVK number {kvk}.",
    "demo.search.count": "Suggestions: {count}. Choose with the arrow keys.",
    "demo.search.hint": "Type the first letters; choose with the arrow keys and pick with Enter.",
    "demo.search.label": "Company name",
    "demo.search.none": "No companies found.",
    "demo.stale": "From our records: KVK could not be reached just now.",
    "demo.verdict.invalid": "Invalid",
    "demo.verdict.unverified": "Could not be checked",
    "demo.verdict.valid": "Valid",
    "label.branchNumber": "Branch number",
    "label.houseNumber": "House number",
    "label.kvkNumber": "KVK number",
    "label.postcode": "Postcode",
    "label.rsin": "RSIN",
    "label.tradeName": "Company name"
  },
  "nl": {
    "demo.checking": "Bezig met controleren bij KVK…",
    "demo.error": "De controle kon niet worden gedaan: {detail}",
    "demo.error.offline": "de server is niet bereikbaar; controleer uw verbinding.",
    "demo.inactive": "niet meer actief",
    "demo.kind.branch": "nevenvestiging",
    "demo.kind.legal entity": "rechtspersoon",
    "demo.kind.main branch": "hoofdvestiging",
    "demo.optional": "(niet verplicht)",
    "demo.picked": "Gekozen: {name}, KVK-nummer {kvk}.",
    "demo.search.count": "Suggesties: {count}. Kies met de pijltjestoetsen.",
    "demo.search.hint": "Typ de eerste letters; kies met de pijltjestoetsen en bevestig met Enter.",
    "demo.search.label": "Bedrijfsnaam",
    "demo.search.none": "Geen bedrijven gevonden.",
    "demo.stale": "Uit onze gegevens: KVK was zojuist niet bereikbaar.",
    "demo.verdict.invalid": "Ongeldig",
    "demo.verdict.unverified": "Kon niet worden gecontroleerd",
    "demo.verdict.valid": "Geldig",
    "label.branchNumber": "Vestigingsnummer",
    "label.houseNumber": "Huisnummer",
    "label.kvkNumber": "KVK-nummer",
    "label.postcode": "Postcode",
    "label.rsin": "RSIN",
    "label.tradeName": "Bedrijfsnaam"
  }
};
/* texts:end */

const FIELDS = {
  name: ["tradeName"],
  address: ["postcode", "houseNumber"],
  branch: ["branchNumber"],
  rsin: ["rsin"],
};
const MIN_QUERY = 2;
const CHECK_DELAY_MS = 400;

const STYLE = `
  :host { display: block; font: inherit; color: inherit; }
  .field { margin: 0 0 1rem; }
  label { display: block; font-weight: 600; margin: 0 0 .35rem; white-space: nowrap; }
  .optional { font-weight: 400; color: #5b6475; }
  input { width: 100%; box-sizing: border-box; padding: .6rem .7rem; font: inherit; border: 1px solid #c9cfda; border-radius: 8px; }
  input:focus { outline: 2px solid #2f6fed; border-color: transparent; }
  input[aria-invalid="true"] { border-color: #b42318; }
  .row { display: flex; gap: 1rem; } .row > .field { flex: 1; min-width: 0; }
  .hint, .status { color: #5b6475; font-size: .9rem; margin-top: .3rem; }
  .status:empty, .error:empty { display: none; }
  .error { color: #9b1c1c; font-size: .9rem; margin-top: .3rem; }
  .combobox { position: relative; }
  [role="listbox"] { position: absolute; z-index: 10; top: calc(100% + 4px); left: 0; right: 0; max-height: 17rem; overflow-y: auto;
                     margin: 0; padding: .25rem; list-style: none; background: #fff; border: 1px solid #c9cfda; border-radius: 8px;
                     box-shadow: 0 8px 24px rgba(20, 30, 60, .16); }
  [role="option"] { margin: 0; padding: .45rem .6rem; border-radius: 6px; cursor: pointer; }
  [role="option"]:hover { background: #eef2fb; }
  [role="option"][aria-selected="true"] { background: #2f6fed; color: #fff; }
  .option-name { display: block; font-weight: 600; }
  .option-meta { display: block; font-size: .85rem; color: #5b6475; }
  .option-inactive { color: #9b1c1c; }
  [role="option"][aria-selected="true"] .option-meta, [role="option"][aria-selected="true"] .option-inactive { color: #fff; }
  .result { margin-top: .5rem; padding: .9rem 1rem; border-radius: 10px; background: #f1f3f7; }
  .result[hidden] { display: none; }
  .verdict { display: inline-block; font-weight: 700; padding: .2rem .6rem; border-radius: 999px; }
  .valid { background: #d9f5e3; color: #11663a; } .invalid { background: #fde0e0; color: #9b1c1c; }
  .unverified, .waiting { background: #fff1d6; color: #8a5a00; }
  .details { margin: .5rem 0 0; padding-left: 1.2rem; color: #3b4252; } .details:empty { display: none; }
  @media (forced-colors: active) { [role="option"][aria-selected="true"] { outline: 2px solid Highlight; } }
`;

let instances = 0;

export class KvkCompanyField extends HTMLElement {
  static formAssociated = true;
  static observedAttributes = ["lang", "checks", "api"];

  constructor() {
    super();
    this.id_ = `kvk-field-${++instances}`;
    this.internals = typeof this.attachInternals === "function" ? this.attachInternals() : null;
    this.root = this.attachShadow({ mode: "open", delegatesFocus: false });
    this.results = [];
    this.active = -1;
    this.result = null;
    this.searchTimer = null;
    this.firstUnsent = null;
    this.searchRequest = 0;
    this.checkTimer = null;
    this.checkRequest = 0;
    this.status = null; // [key, values]: said again after a language switch
  }

  /* ---------- configuration ---------- */

  get language() {
    const asked = (this.getAttribute("lang") || document.documentElement.lang || navigator.language || "en").toLowerCase();
    return asked.startsWith("nl") ? "nl" : "en";
  }

  get checks() {
    const named = (this.getAttribute("checks") ?? "name").split(/[\s,]+/).filter((check) => check in FIELDS);
    return new Set(named);
  }

  get api() { return (this.getAttribute("api") || "").replace(/\/+$/, ""); }
  get debounce() { return Number(this.getAttribute("debounce") ?? 150); }
  get maxWait() { return Number(this.getAttribute("max-wait") ?? 450); }

  /** The text `key` in the field's language, with {placeholders} filled in. */
  t(key, values = {}) {
    const template = TEXTS[this.language][key] ?? key;
    return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  }

  /* ---------- rendering ---------- */

  connectedCallback() {
    if (!this.root.firstChild) this.render();
  }

  attributeChangedCallback(name, before, after) {
    if (before === after || !this.root.firstChild) return;
    const values = this.value;
    this.render();
    for (const [field, value] of Object.entries(values)) if (this.input(field)) this.input(field).value = value;
    if (values.kvkNumber) this.check();
  }

  render() {
    const id = this.id_;
    const checks = this.checks;
    const field = (name, extra = "") => `
      <div class="field">
        <label for="${id}-${name}">${this.t(`label.${name}`)}${name === "branchNumber" || name === "rsin" ? ` <span class="optional">${this.t("demo.optional")}</span>` : ""}</label>
        <input id="${id}-${name}" name="${name}" autocomplete="off" ${extra}>
        <div class="error" id="${id}-${name}-error"></div>
      </div>`;
    this.root.innerHTML = `
      <style>${STYLE}</style>
      <div class="field">
        <label id="${id}-tradeName-label" for="${id}-tradeName">${this.t("label.tradeName")}</label>
        <div class="combobox">
          <input id="${id}-tradeName" name="tradeName" type="text" role="combobox" aria-autocomplete="list"
                 aria-expanded="false" aria-controls="${id}-listbox" autocomplete="organization" spellcheck="false" maxlength="100">
          <ul id="${id}-listbox" role="listbox" aria-labelledby="${id}-tradeName-label" tabindex="-1" hidden></ul>
        </div>
        <div class="hint" id="${id}-hint">${this.t("demo.search.hint")}</div>
        <div class="status" id="${id}-status" role="status" aria-live="polite"></div>
        <div class="error" id="${id}-tradeName-error"></div>
      </div>
      ${field("kvkNumber", 'inputmode="numeric"')}
      ${checks.has("address") ? `<div class="row">${field("postcode", 'autocomplete="postal-code"')}${field("houseNumber")}</div>` : ""}
      ${checks.has("branch") ? field("branchNumber", 'inputmode="numeric"') : ""}
      ${checks.has("rsin") ? field("rsin", 'inputmode="numeric"') : ""}
      <div class="result" id="${id}-result" aria-live="polite" hidden>
        <span class="verdict" id="${id}-verdict"></span>
        <ul class="details" id="${id}-details"></ul>
      </div>`;
    for (const name of this.fieldNames()) this.describe(name);
    this.wire();
    this.renderStatus();
  }

  $(suffix) { return this.root.getElementById(`${this.id_}-${suffix}`); }
  input(name) { return this.$(name); }
  fieldNames() { return ["tradeName", "kvkNumber", ...[...this.checks].flatMap((check) => (check === "name" ? [] : FIELDS[check]))]; }

  get value() {
    const values = {};
    for (const name of this.fieldNames()) {
      const input = this.input(name);
      if (input && input.value.trim()) values[name] = input.value.trim();
    }
    return values;
  }

  /** Which elements describe a field: its hint (the name), its error when it has one. */
  describe(name) {
    const input = this.input(name);
    const error = this.$(`${name}-error`);
    const ids = name === "tradeName" ? [`${this.id_}-hint`] : [];
    if (error && error.textContent) ids.push(error.id);
    if (ids.length) input.setAttribute("aria-describedby", ids.join(" ")); else input.removeAttribute("aria-describedby");
    if (error && error.textContent) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
  }

  setError(name, message) {
    const error = this.$(`${name}-error`);
    if (!error) return false;
    error.textContent = nowrap(message);
    this.describe(name);
    return true;
  }

  clearErrors() { for (const name of this.fieldNames()) this.setError(name, ""); }

  /* ---------- the company search: WAI-ARIA 1.2 combobox, list autocomplete ---------- */

  wire() {
    const search = this.input("tradeName");
    const listbox = this.$("listbox");
    search.addEventListener("input", () => this.typed());
    search.addEventListener("keydown", (event) => this.key(event));
    search.addEventListener("blur", () => this.closeList());
    listbox.addEventListener("mousedown", (event) => event.preventDefault());
    listbox.addEventListener("click", (event) => {
      const option = event.target.closest('[role="option"]');
      if (option) this.pick(Number(option.dataset.index));
    });
    for (const name of this.fieldNames()) {
      if (name === "tradeName") continue;
      this.input(name).addEventListener("input", () => this.checkSoon());
    }
  }

  typed() {
    const query = this.input("tradeName").value.trim();
    this.checkSoon();
    if (query.length < MIN_QUERY) { this.forgetResults(); return; }
    // Send after a pause in the typing, and while the typing goes on, at the latest max-wait after the first unsent key.
    const now = performance.now();
    if (this.firstUnsent === null) this.firstUnsent = now;
    clearTimeout(this.searchTimer);
    const wait = Math.max(0, Math.min(this.debounce, this.firstUnsent + this.maxWait - now));
    this.searchTimer = setTimeout(() => { this.firstUnsent = null; this.runSearch(query); }, wait);
  }

  key(event) {
    switch (event.key) {
      case "ArrowDown": this.move(1); break;
      case "ArrowUp": this.move(-1); break;
      case "Enter":
        if (!this.isOpen()) return; // nothing to pick: the form behaves as usual
        if (this.active >= 0) this.pick(this.active); else this.closeList();
        break;
      case "Escape": // the first closes the list (and forgets answers still on their way), the second clears the box
        if (this.isOpen()) { this.cancelSearch(); this.closeList(); }
        else if (this.input("tradeName").value) { this.input("tradeName").value = ""; this.forgetResults(); }
        else return;
        break;
      default: return;
    }
    event.preventDefault();
  }

  async runSearch(query) {
    const mine = ++this.searchRequest;
    let response, answer;
    try {
      response = await this.call(`/v1/companies?q=${encodeURIComponent(query)}`);
      answer = await response.json().catch(() => ({}));
    } catch {
      if (mine === this.searchRequest) { this.forgetResults(); this.announce("demo.error", { detail: this.t("demo.error.offline") }); }
      return;
    }
    if (mine !== this.searchRequest) return; // typed on since: only the newest question's answer counts
    if (!response.ok) { this.forgetResults(); this.announce("demo.error", { detail: problemText(answer, response) }); return; }
    this.results = answer.results || [];
    this.active = -1;
    this.renderOptions();
    if (this.results.length && this.root.activeElement === this.input("tradeName")) this.openList(); else this.closeList();
    this.announce(this.results.length ? "demo.search.count" : "demo.search.none", { count: this.results.length });
  }

  renderOptions() {
    const listbox = this.$("listbox");
    listbox.replaceChildren(...this.results.map((company, index) => {
      const option = element("li");
      option.id = `${this.id_}-option-${index}`;
      option.dataset.index = String(index);
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", String(index === this.active));
      // Street and KVK number too: one name can belong to several companies in one city.
      const meta = element("span", "option-meta",
        [this.t(`demo.kind.${company.kind}`), company.street, company.city, company.kvkNumber].filter(Boolean).join(" · "));
      if (company.active === false) meta.append(" · ", element("span", "option-inactive", this.t("demo.inactive")));
      option.append(element("span", "option-name", company.name), meta);
      return option;
    }));
  }

  isOpen() { return this.input("tradeName").getAttribute("aria-expanded") === "true"; }

  openList() {
    if (!this.results.length) return;
    this.$("listbox").hidden = false;
    this.input("tradeName").setAttribute("aria-expanded", "true");
  }

  closeList() {
    this.setActive(-1);
    this.$("listbox").hidden = true;
    this.input("tradeName").setAttribute("aria-expanded", "false");
  }

  setActive(index) {
    const listbox = this.$("listbox");
    const search = this.input("tradeName");
    const previous = listbox.children[this.active];
    if (previous) previous.setAttribute("aria-selected", "false");
    this.active = index;
    const option = listbox.children[index];
    if (option) {
      option.setAttribute("aria-selected", "true");
      search.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else {
      search.removeAttribute("aria-activedescendant");
    }
  }

  move(step) {
    const count = this.results.length;
    if (!count) return;
    if (!this.isOpen()) this.openList();
    this.setActive(this.active < 0 ? (step > 0 ? 0 : count - 1) : (this.active + step + count) % count);
  }

  pick(index) {
    const company = this.results[index];
    if (!company) return;
    this.cancelSearch();
    this.input("tradeName").value = company.name;
    this.input("kvkNumber").value = company.kvkNumber;
    if (this.input("branchNumber") && company.branchNumber) this.input("branchNumber").value = company.branchNumber;
    this.closeList();
    this.announce("demo.picked", { name: company.name, kvk: company.kvkNumber });
    this.dispatchEvent(new CustomEvent("kvk-picked", { detail: company, bubbles: true, composed: true }));
    this.check();
  }

  cancelSearch() {
    clearTimeout(this.searchTimer);
    this.firstUnsent = null;
    this.searchRequest++; // an answer still on its way is no longer wanted
  }

  forgetResults() {
    this.cancelSearch();
    this.results = [];
    this.closeList();
    this.renderOptions();
    this.announce(null);
  }

  announce(key, values = {}) { this.status = key ? [key, values] : null; this.renderStatus(); }
  renderStatus() { const status = this.$("status"); if (status) status.textContent = this.status ? nowrap(this.t(...this.status)) : ""; }

  /* ---------- the validation: POST /v1/validations ---------- */

  call(path, options = {}) {
    return fetch(this.api + path, { ...options, headers: { ...options.headers, "Accept-Language": this.language } });
  }

  checkSoon() {
    clearTimeout(this.checkTimer);
    this.checkTimer = setTimeout(() => this.check(), CHECK_DELAY_MS);
  }

  async check() {
    clearTimeout(this.checkTimer);
    const body = this.value;
    this.updateForm(body, null);
    const mine = ++this.checkRequest;
    if (!body.kvkNumber) { this.clearErrors(); this.show(null); return; }
    if (!this.checks.has("name")) delete body.tradeName;
    this.show("waiting", this.t("demo.checking"), []);
    let response, answer;
    try {
      response = await this.call("/v1/validations", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      answer = await response.json().catch(() => ({}));
    } catch {
      if (mine === this.checkRequest) this.show("unverified", this.t("demo.verdict.unverified"), [this.t("demo.error", { detail: this.t("demo.error.offline") })]);
      return;
    }
    if (mine !== this.checkRequest) return; // a newer change asks again
    this.clearErrors();
    if (response.status === 400) {
      const general = [];
      for (const error of answer.errors || []) if (!this.setError(error.field, error.message)) general.push(error.message);
      this.show(general.length ? "invalid" : null, this.t("demo.verdict.invalid"), general);
      this.updateForm(body, { verdict: "invalid", reasons: answer.errors || [] });
      return;
    }
    if (!response.ok) {
      this.show("unverified", this.t("demo.verdict.unverified"), [this.t("demo.error", { detail: problemText(answer, response) })]);
      return;
    }
    this.result = answer;
    const lines = [];
    const company = answer.company;
    if (company && company.name) lines.push(company.city ? `${company.name}, ${company.city}` : company.name);
    for (const reason of answer.reasons || []) {
      // A reason about one field is shown at that field; the rest below the fields.
      if (!(reason.field && this.setError(reason.field, reason.message))) lines.push(reason.message);
    }
    if (answer.meta && answer.meta.stale) lines.push(this.t("demo.stale"));
    this.show(answer.verdict, this.t(`demo.verdict.${answer.verdict}`), lines);
    this.updateForm(body, answer);
    this.dispatchEvent(new CustomEvent("kvk-validated", { detail: answer, bubbles: true, composed: true }));
  }

  show(kind, label, lines = []) {
    const box = this.$("result");
    if (!box) return;
    box.hidden = !kind;
    const verdict = this.$("verdict");
    verdict.className = `verdict ${kind || ""}`;
    verdict.textContent = kind ? label : "";
    this.$("details").replaceChildren(...lines.map((line) => element("li", "", nowrap(line))));
  }

  /** What a surrounding <form> submits, and whether it may. */
  updateForm(values, answer) {
    if (!this.internals) return;
    const data = new FormData();
    for (const [name, value] of Object.entries(values)) data.append(name, value);
    this.internals.setFormValue(data);
    if (answer && answer.verdict === "invalid") {
      const first = (answer.reasons || [])[0];
      this.internals.setValidity({ customError: true }, first ? first.message : this.t("demo.verdict.invalid"), this.input("kvkNumber"));
    } else {
      this.internals.setValidity({});
    }
  }

  formResetCallback() {
    for (const name of this.fieldNames()) this.input(name).value = "";
    this.forgetResults();
    this.clearErrors();
    this.show(null);
    this.updateForm({}, null);
  }
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** "KVK-nummer" breaks at its hyphen in a narrow column: a non-breaking hyphen keeps it one word. */
function nowrap(text) { return String(text).replace(/KVK-/g, "KVK\u2011"); }

function problemText(answer, response) { return answer.detail || answer.title || `HTTP ${response.status}`; }

if (!customElements.get("kvk-company-field")) customElements.define("kvk-company-field", KvkCompanyField);
