// Behaviour that htmx doesn't cover. No inline scripts anywhere: the CSP forbids them.
"use strict";

// Copy buttons: <button data-copy="#element-id">.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  navigator.clipboard.writeText(source.textContent.trim()).then(() => {
    button.textContent = "Copied";
  });
});

// A message stays until it is dismissed (or the next page): <button data-dismiss>.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-dismiss]");
  if (button) button.parentElement.remove();
});

// A header checkbox selects every selectable row shown: <input data-select-all="tbody-id">.
document.addEventListener("change", (event) => {
  const all = event.target.closest("[data-select-all]");
  if (!all) return;
  const rows = document.getElementById(all.dataset.selectAll);
  if (!rows) return;
  rows.querySelectorAll("input[type=checkbox][name=ids]").forEach((box) => {
    box.checked = all.checked;
  });
});

// Theme: auto (the system's) -> light -> dark -> auto, remembered in localStorage.
const THEMES = ["auto", "light", "dark"];
function currentTheme() {
  return document.documentElement.dataset.theme || "auto";
}
function showTheme() {
  document.querySelectorAll("[data-theme-toggle]").forEach((button) => {
    button.textContent = "Theme: " + currentTheme();
  });
}
document.addEventListener("click", (event) => {
  if (!event.target.closest("[data-theme-toggle]")) return;
  const next = THEMES[(THEMES.indexOf(currentTheme()) + 1) % THEMES.length];
  const root = document.documentElement;
  try {
    if (next === "auto") localStorage.removeItem("outpost-theme");
    else localStorage.setItem("outpost-theme", next);
  } catch (e) {
    // Not remembered, still applied.
  }
  if (next === "auto") delete root.dataset.theme;
  else root.dataset.theme = next;
  showTheme();
});

// The navigation collapses behind a Menu button on narrow screens.
document.addEventListener("click", (event) => {
  const toggle = event.target.closest(".menu-toggle");
  if (!toggle) return;
  const open = toggle.getAttribute("aria-expanded") !== "true";
  toggle.setAttribute("aria-expanded", String(open));
  toggle.closest("header").classList.toggle("open", open);
});

// After a form comes back with errors, put the cursor in the first field to fix.
function focusFirstInvalid(root) {
  const field = root.querySelector("[aria-invalid=true]");
  if (field) field.focus();
}
document.addEventListener("htmx:afterSettle", (event) => focusFirstInvalid(event.detail.elt));
document.addEventListener("DOMContentLoaded", () => {
  showTheme();
  focusFirstInvalid(document);
});

// The dispatch log: appends only the chunks after the last one shown (by sequence number),
// stays pinned to the bottom unless the reader scrolled up, and says which it is doing.
// Each line is a <span class="ln" data-time="HH:MM:SS"> (UTC); the time is CSS content.
function logLine(ms, text) {
  const span = document.createElement("span");
  span.className = "ln";
  if (ms !== null) {
    const at = new Date(ms).toISOString();
    span.dataset.time = at.slice(11, 19);
    span.dataset.at = at.slice(0, 19) + "+00:00";
  }
  span.textContent = text;
  return span;
}
function appendLines(pre, lines) {
  for (const [ms, text] of lines) {
    const last = pre.lastElementChild;
    if (last && !last.textContent.endsWith("\n")) last.append(text);  // the line goes on
    else pre.append(logLine(ms, text));
  }
}
function followLog(pre) {
  const state = document.getElementById("log-state");
  let pinned = true;
  const atBottom = () => pre.scrollHeight - pre.scrollTop - pre.clientHeight < 8;
  const show = () => {
    if (pre.dataset.done === "true") state.textContent = "finished";
    else state.textContent = pinned ? "following" : "paused (scroll to the end to follow)";
  };
  pre.scrollTop = pre.scrollHeight;
  pre.addEventListener("scroll", () => {
    pinned = atBottom();
    show();
  });
  async function poll() {
    try {
      const response = await fetch(pre.dataset.logUrl + "?after=" + pre.dataset.seq);
      if (response.ok) {
        const body = await response.json();
        if (body.lines && body.lines.length) {
          const follow = pinned;
          appendLines(pre, body.lines);
          const empty = document.getElementById("log-empty");
          if (empty) empty.remove();
          pre.dispatchEvent(new CustomEvent("log:appended"));
          if (follow) pre.scrollTop = pre.scrollHeight;
        }
        pre.dataset.seq = String(body.seq);
        if (body.done) pre.dataset.done = "true";
      }
    } finally {
      show();
      if (pre.dataset.done !== "true") setTimeout(poll, 1500);
    }
  }
  if (pre.dataset.done !== "true") setTimeout(poll, 1500);
}

// Searching the log: every match highlighted (<mark>), Next/Previous (or Enter and
// Shift+Enter) move to the next one and scroll it into view; new output is searched too.
function searchLog(pre, bar) {
  const input = bar.querySelector("input");
  const count = bar.querySelector("#log-search-count");
  let marks = [];
  let current = -1;
  function clear() {
    for (const mark of pre.querySelectorAll("mark")) {
      const parent = mark.parentNode;
      parent.replaceChild(document.createTextNode(mark.textContent), mark);
      parent.normalize();
    }
    marks = [];
  }
  function highlight(term) {
    const needle = term.toLowerCase();
    for (const line of pre.querySelectorAll(".ln")) {
      const text = line.textContent;
      const hay = text.toLowerCase();
      let at = hay.indexOf(needle);
      if (at < 0) continue;
      const parts = document.createDocumentFragment();
      let from = 0;
      while (at >= 0) {
        parts.append(text.slice(from, at));
        const mark = document.createElement("mark");
        mark.textContent = text.slice(at, at + needle.length);
        parts.append(mark);
        marks.push(mark);
        from = at + needle.length;
        at = hay.indexOf(needle, from);
      }
      parts.append(text.slice(from));
      line.replaceChildren(parts);
    }
  }
  function select(index, scroll) {
    if (current >= 0 && marks[current]) marks[current].classList.remove("current");
    current = marks.length ? (index + marks.length) % marks.length : -1;
    if (current >= 0) {
      const mark = marks[current];
      mark.classList.add("current");
      if (scroll) mark.scrollIntoView({ block: "center", inline: "nearest" });
    }
    const term = input.value;
    if (!term) count.textContent = "";
    else if (!marks.length) count.textContent = "No matches";
    else count.textContent = (current + 1) + " of " + marks.length;
  }
  function run(keep) {
    const was = current;
    clear();
    if (input.value) highlight(input.value);
    select(keep && was >= 0 ? Math.min(was, marks.length - 1) : 0, !keep);
  }
  input.addEventListener("input", () => run(false));
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    select(current + (event.shiftKey ? -1 : 1), true);
  });
  bar.addEventListener("click", (event) => {
    const button = event.target.closest("[data-log-step]");
    if (button) select(current + Number(button.dataset.logStep), true);
  });
  pre.addEventListener("log:appended", () => { if (input.value) run(true); });
  bar.hidden = false;
}

// Live history tables (<tbody data-live="url">): one request per refresh for the whole list.
// The answer holds the newest rows of the table's filters and the current state of the
// unfinished rows it shows: rows it lacks are prepended, changed rows replaced. Paused while
// the reader scrolls, selects text, ticks rows or works inside the list, like Temporal's.
function liveTable(tbody) {
  const state = document.querySelector('[data-live-state-for="' + tbody.id + '"]');
  let lastScroll = 0;
  let busy = false;
  window.addEventListener("scroll", () => { lastScroll = Date.now(); }, { passive: true });
  function pauseReason() {
    const selection = document.getSelection();
    if (document.hidden) return "paused while the page is hidden";
    if (tbody.querySelector("input[type=checkbox]:checked")) return "paused while you select rows";
    if (selection && !selection.isCollapsed && tbody.contains(selection.anchorNode)) return "paused while you select";
    if (tbody.contains(document.activeElement)) return "paused while you are in the list";
    if (Date.now() - lastScroll < 4000) return "paused while you scroll";
    return "";
  }
  function merge(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    const first = tbody.querySelector("tr[id^='dispatch-']");
    let added = false;
    for (const row of template.content.querySelectorAll("tr[id^='dispatch-']")) {
      const shown = document.getElementById(row.id);
      if (!shown) {
        tbody.insertBefore(row, first);  // the answer is newest first: order kept
        added = true;
      } else if (shown.outerHTML !== row.outerHTML) {
        shown.replaceWith(row);
      }
    }
    const empty = tbody.querySelector("tr.empty");
    if (added && empty) empty.remove();
  }
  async function refresh() {
    if (!tbody.isConnected) return clearInterval(timer);
    const reason = pauseReason();
    if (state) state.textContent = "Live: " + (reason || "new and changed dispatches appear here") + ".";
    if (reason || busy) return;
    busy = true;
    try {
      const ids = Array.from(tbody.querySelectorAll("tr[data-active]"), (row) => row.id.slice(9));
      let url = tbody.dataset.live + "&ids=" + encodeURIComponent(ids.slice(0, 100).join(","));
      if (tbody.dataset.bulk) url += "&bulk=1";
      const response = await fetch(url, { headers: { "HX-Request": "true" } });
      if (response.ok) merge(await response.text());
    } catch (e) {
      // A missed refresh: the next one catches up.
    } finally {
      busy = false;
    }
  }
  const timer = setInterval(refresh, 2500);
}

// A run list row opens its run (its first link is the same place, for keyboards and no JS),
// unless the click was on a link, a box, or the end of selecting text.
document.addEventListener("click", (event) => {
  const row = event.target.closest("table.dense tbody tr[data-href]");
  if (!row || event.target.closest("a, button, input, label, select")) return;
  const selection = document.getSelection();
  if (selection && !selection.isCollapsed && row.contains(selection.anchorNode)) return;
  window.location.assign(row.dataset.href);
});

// The usage filters: From and To apply only to a Custom range, so they are off otherwise
// (the server refuses a preset range with days, rather than ignoring them).
function customRange(select) {
  const custom = select.value === "custom";
  for (const name of ["since", "until"]) {
    const input = select.form && select.form.elements.namedItem(name);
    if (input) input.disabled = !custom;
  }
}
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-custom-range]")) customRange(event.target);
});

function start(root) {
  root.querySelectorAll("select[data-custom-range]").forEach(customRange);
  // "No dispatches match" goes once "Load more" has brought rows that do.
  root.querySelectorAll("tbody tr.empty").forEach((row) => {
    if (row.parentElement.querySelector("tr[id^='dispatch-']")) row.remove();
  });
  root.querySelectorAll("tbody[data-live]:not([data-live-on])").forEach((tbody) => {
    tbody.dataset.liveOn = "1";
    liveTable(tbody);
  });
  const pre = root.querySelector("#dispatch-log:not([data-following])");
  if (pre && pre.dataset.logUrl) {
    pre.dataset.following = "1";
    followLog(pre);
    const bar = root.querySelector("#log-search-bar");
    if (bar) searchLog(pre, bar);
  }
}
document.addEventListener("DOMContentLoaded", () => start(document));
document.addEventListener("htmx:afterSettle", () => start(document));
