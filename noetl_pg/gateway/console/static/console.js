// Live parts of a page: each element with data-live="<url>" is refetched and replaced when
// the server says something changed (/ui/live, server-sent events). No build step.
(function () {
  const parts = document.querySelectorAll("[data-live]");
  if (!parts.length || !window.EventSource) return;
  let busy = false, again = false;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      for (const part of parts) {
        const response = await fetch(part.dataset.live, {credentials: "same-origin"});
        if (response.ok) part.innerHTML = await response.text();
      }
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }
  const source = new EventSource("/ui/live");
  source.addEventListener("changed", refresh);
  source.addEventListener("open", () => document.body.dataset.live = "on");
})();
