// The remembered theme ("light" or "dark"; nothing means follow the system), set before the
// first paint. Loaded without defer from <head>; the toggle itself lives in outpost.js.
(function () {
  const root = document.documentElement;
  root.classList.add("js");
  try {
    const theme = localStorage.getItem("outpost-theme");
    if (theme === "light" || theme === "dark") root.dataset.theme = theme;
  } catch (e) {
    // Storage may be blocked: the system preference still applies.
  }
})();
