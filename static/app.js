// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // Copy button next to the pass.
  for (const btn of document.querySelectorAll("button.copy[data-copy]")) {
    if (!navigator.clipboard) continue;
    btn.hidden = false;
    btn.addEventListener("click", async () => {
      await navigator.clipboard.writeText(btn.dataset.copy);
      btn.textContent = "Copied";
      setTimeout(() => { btn.textContent = "Copy"; }, 2000);
    });
  }
  // Countdown to the pass's expiry.
  for (const el of document.querySelectorAll(".countdown[data-expires]")) {
    const end = Date.parse(el.dataset.expires);
    const tick = () => {
      const s = Math.max(0, Math.round((end - Date.now()) / 1000));
      const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
      el.textContent = s === 0 ? " (expired)" : ` (in ${h}h ${String(m).padStart(2, "0")}m ${String(r).padStart(2, "0")}s)`;
    };
    tick();
    setInterval(tick, 1000);
  }
});
