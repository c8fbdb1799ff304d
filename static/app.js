// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll(".countdown[data-expires]")) countdown(el);
  const secret = document.querySelector('[data-testid="pass-secret"]');
  if (secret) revealedPass(secret);
});

// countdown shows the time left until el's data-expires and, when it is up,
// fires "expired" on el.
function countdown(el) {
  const end = Date.parse(el.dataset.expires);
  const timer = setInterval(() => tick(), 1000);
  const tick = () => {
    const left = end - Date.now();
    const s = Math.max(0, Math.ceil(left / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    el.textContent = s === 0 ? " (expired)" : ` (in ${h}h ${String(m).padStart(2, "0")}m ${String(r).padStart(2, "0")}s)`;
    if (left <= 0) {
      clearInterval(timer);
      el.dispatchEvent(new Event("expired", { bubbles: true }));
    }
  };
  tick();
}

// revealedPass runs the reveal page. The pass is in the page once, as the
// text of its output; the script groups it for the eye, copies it on
// request, and removes it from the page (and from its own memory) when the
// page is left or the pass expires, so Back or a restored tab never shows
// it again.
function revealedPass(secret) {
  const out = secret.querySelector('[data-testid="pass"]');
  const copy = secret.querySelector('[data-testid="copy"]');
  const copied = secret.querySelector('[data-testid="copied"]');
  let pass = out.textContent.trim();
  // Groups of four, as the spelling below is grouped: the margins are
  // styling, so selecting the pass still copies it whole.
  // Split without a regular expression: the engine keeps the last string
  // a RegExp matched (RegExp.input) for any script to read.
  const chars = Array.from(pass);
  const groups = [];
  for (let i = 0; i < chars.length; i += 4) {
    const span = document.createElement("span");
    span.className = "group";
    span.textContent = chars.slice(i, i + 4).join("");
    groups.push(span);
  }
  out.replaceChildren(...groups);

  // pendingCheck empties the clipboard if it still holds the pass copied
  // last (see clipboardCheck); null when nothing is copied or once forget
  // has started it. The pass it compares with lives in its closure only.
  let pendingCheck = null;
  const clearClipboard = () => { if (pendingCheck) pendingCheck(); };

  // clipboardCheck returns a check that empties the clipboard if it still
  // holds held. Checking needs the clipboard-read permission. If reading is
  // refused, the clipboard is left alone: the agent may have copied
  // something else since, and wiping that unasked loses their work
  // (password managers make the same choice); the pass itself stops working
  // when its lifetime ends. A page without focus can neither read nor write
  // the clipboard: the check runs again when focus returns. Once it has
  // resolved it lets go of held, so nothing in the script keeps the pass.
  function clipboardCheck(held) {
    const check = async () => {
      const compared = held;
      if (!compared) return;
      try {
        if ((await navigator.clipboard.readText()) === compared) await navigator.clipboard.writeText("");
      } catch {
        if (!document.hasFocus()) {
          window.addEventListener("focus", check, { once: true });
          return;
        }
      }
      held = "";
      window.removeEventListener("focus", check);
      if (pendingCheck === check) pendingCheck = null;
    };
    return check;
  }

  // The Copy button is rendered hidden: without this script it could not
  // work. The clipboard API needs a secure context (HTTPS or localhost).
  if (navigator.clipboard && window.isSecureContext) {
    const holdMs = Number(copy.dataset.clipboardSeconds) * 1000;
    let holdTimer;
    copy.hidden = false;
    copy.addEventListener("click", async () => {
      if (!pass) return;
      try {
        await navigator.clipboard.writeText(pass);
      } catch {
        copied.hidden = true;
        return; // nothing was copied; the pass can still be selected and copied by hand
      }
      pendingCheck = clipboardCheck(pass);
      copied.hidden = false;
      clearTimeout(holdTimer);
      holdTimer = setTimeout(clearClipboard, holdMs);
    });
  }

  // forget removes the pass, its spelling and the Copy button from the page
  // and shows the notice saying why. It starts the clipboard check and
  // drops it: the check keeps the pass only until it resolves. The removed
  // nodes are emptied too, as the variables above still reach them.
  const forget = (notice) => {
    const check = pendingCheck;
    pendingCheck = null;
    if (check) check();
    if (!pass) return;
    pass = "";
    out.replaceChildren();
    secret.replaceChildren();
    secret.remove();
    document.querySelector(`[data-testid="${notice}"]`).hidden = false;
  };
  document.addEventListener("expired", () => forget("pass-expired"));
  // pagehide also fires when the page goes into the back-forward cache: the
  // page restored by Back has no pass. Emptying the clipboard here is best
  // effort: the browser may end the page before the check completes.
  window.addEventListener("pagehide", () => forget("pass-left"));
  // Leaving for another page: start the check as the navigation starts,
  // while the page still runs; by pagehide it is often too late.
  window.addEventListener("beforeunload", clearClipboard);
}

// --- timeaudit: times and the start-time zone ---
// Each <time data-when> comes from the server as UTC plus a phrase relative
// to the server's clock; here it becomes a phrase relative to now plus the
// reader's local time (the date too unless it is today), with UTC kept in
// the title. The phrases follow tapdesk.RelativeTime and are refreshed
// every minute.
document.addEventListener("DOMContentLoaded", () => {
  const times = document.querySelectorAll("time[data-when][datetime]");
  if (times.length > 0 && window.Intl) {
    const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
    const dated = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
    const relative = (at) => {
      const d = at - Date.now(), a = Math.abs(d);
      let n, unit;
      if (a < 60e3) return "just now";
      if (a < 3600e3) [n, unit] = [Math.floor(a / 60e3), "min"];
      else if (a < 48 * 3600e3) [n, unit] = [Math.floor(a / 3600e3), "h"];
      else [n, unit] = [Math.floor(a / 86400e3), "days"];
      return d > 0 ? `in ${n} ${unit}` : `${n} ${unit} ago`;
    };
    const render = () => {
      const today = new Date().toDateString();
      for (const el of times) {
        const at = Date.parse(el.getAttribute("datetime"));
        if (Number.isNaN(at)) continue;
        const local = new Date(at).toDateString() === today ? clock.format(at) : dated.format(at);
        el.textContent = `${relative(at)} · ${local}`;
      }
    };
    render();
    setInterval(render, 60e3);
  }
  // The start field is read in the zone named next to it: the browser's
  // own, once this script has said which. Without the script the zone
  // field stays empty and the label says UTC.
  const zone = document.querySelector('input[name="start_zone"]');
  const tz = window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && tz) {
    zone.value = tz;
    for (const el of document.querySelectorAll("[data-start-zone]")) el.textContent = tz;
  }
  // A refused form's error summary takes focus, so its errors are read
  // first and each links to its field.
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
});
