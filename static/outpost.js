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
document.addEventListener("DOMContentLoaded", () => {
  const pre = document.getElementById("dispatch-log");
  if (pre && pre.dataset.logUrl) followLog(pre);
});
