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
        if (body.text) {
          const follow = pinned;
          pre.append(document.createTextNode(body.text));
          const empty = document.getElementById("log-empty");
          if (empty) empty.remove();
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
  }
}
document.addEventListener("DOMContentLoaded", () => start(document));
document.addEventListener("htmx:afterSettle", () => start(document));
