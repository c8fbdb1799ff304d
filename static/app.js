// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll(".countdown[data-expires]")) countdown(el);
  const secret = document.querySelector('[data-testid="pass-secret"]');
  if (secret) revealedPass(secret);
  markCurrentNav();
  for (const table of document.querySelectorAll("table:not(.scroll)")) labelCells(table);
  localTimes(document);
  // The relative phrases age: say them again every minute.
  if (document.querySelector("time[data-when]")) setInterval(() => localTimes(document), 60e3);
  const head = document.querySelector("[data-live-url]");
  if (head) liveStatus(head);
  startZone();
  // A refused form's error summary takes focus, so its errors are read
  // first and each links to its field.
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
});
document.addEventListener("keydown", searchShortcut);

// markCurrentNav tells which main navigation entry the page belongs to.
function markCurrentNav() {
  const here = location.pathname;
  for (const a of document.querySelectorAll(".top nav a")) {
    const p = a.getAttribute("href");
    if (p === here || (p !== "/" && here.startsWith(p + "/"))) a.setAttribute("aria-current", "page");
  }
}

// labelCells gives each cell without a data-label its column's heading,
// which the phone layout shows before the value (app.css, table cards).
function labelCells(table) {
  const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
  if (!heads.length) return;
  for (const row of table.querySelectorAll("tbody tr")) {
    let col = 0;
    for (const cell of row.cells) {
      if (!cell.hasAttribute("data-label") && heads[col]) cell.dataset.label = heads[col];
      col += cell.colSpan;
    }
  }
}

// searchShortcut: "/" puts the cursor in the user search, or opens the
// search page where there is none, unless the person is typing.
function searchShortcut(e) {
  if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
  const t = e.target;
  if (t.isContentEditable || (t.closest && t.closest("input, textarea, select, dialog"))) return;
  const q = document.querySelector('form[action="/users"] input[name="q"]');
  if (q) {
    e.preventDefault();
    q.focus();
    q.select();
    return;
  }
  // Only for people who may search (the navigation links to it).
  const nav = document.querySelector('.top nav a[href="/users"]');
  if (nav) {
    e.preventDefault();
    location.assign(nav.href);
  }
}

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

// confirm dialogs: a form[data-confirm] names a <dialog> of the page
// (views.ConfirmButton) holding the same POST form as the confirmation page
// the form goes to without this script; the dialog opens instead.
// Delegated, so content swapped in by liveStatus works too. The harmless
// answer has the focus: Enter alone never destroys anything. Keeping, or
// Escape, closes the dialog and gives the focus back to the button that
// opened it.
document.addEventListener("submit", (e) => {
  const form = e.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
  const dialog = document.getElementById(form.dataset.confirm);
  if (!(dialog instanceof HTMLDialogElement) || typeof dialog.showModal !== "function") return;
  e.preventDefault();
  const opener = e.submitter || document.activeElement;
  dialog.addEventListener("close", () => {
    if (opener && opener.isConnected) opener.focus();
  }, { once: true });
  dialog.showModal();
  const keep = dialog.querySelector("[data-confirm-keep]") || dialog.querySelector('button[type="submit"]');
  if (keep) keep.focus();
});
document.addEventListener("click", (e) => {
  const keep = e.target instanceof Element && e.target.closest("dialog [data-confirm-keep]");
  if (!keep) return;
  e.preventDefault();
  keep.closest("dialog").close();
});

const localClock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const localDate = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

// localTimes writes each <time data-when> under root, which the server
// wrote in UTC, in the reader's zone (the UTC stays in its title or its
// sentence). Plain data-when: a phrase relative to now, as
// tapdesk.RelativeTime words it, and the local time, the date too unless
// it is today, each in a span (a narrow line breaks between them, not
// inside). data-when="clock": only the local clock time, beside a UTC
// the sentence already says.
function localTimes(root) {
  const today = new Date().toDateString();
  for (const el of root.querySelectorAll("time[data-when][datetime]")) {
    const at = Date.parse(el.getAttribute("datetime"));
    if (Number.isNaN(at)) continue;
    if (el.dataset.when === "clock") {
      el.textContent = ` (${localClock.format(at)} your time)`;
      continue;
    }
    // A list row's time comes without a title (its text is the UTC time): keep that UTC there.
    if (!el.title) el.title = new Date(at).toISOString().slice(0, 16).replace("T", " ") + " UTC";
    const local = new Date(at).toDateString() === today ? localClock.format(at) : localDate.format(at);
    el.replaceChildren(half(relativeTime(at)), " · ", half(local));
  }
}

// half is one half of a time's text, kept on one line by the stylesheet.
function half(text) {
  const s = document.createElement("span");
  s.textContent = text;
  return s;
}

function relativeTime(at) {
  const d = at - Date.now(), a = Math.abs(d);
  let n, unit;
  if (a < 60e3) return "just now";
  if (a < 3600e3) [n, unit] = [Math.floor(a / 60e3), "min"];
  else if (a < 48 * 3600e3) [n, unit] = [Math.floor(a / 3600e3), "h"];
  else [n, unit] = [Math.floor(a / 86400e3), "days"];
  return d > 0 ? `in ${n} ${unit}` : `${n} ${unit} ago`;
}

// liveStatus watches the request page's request: it asks the status
// endpoint (a tiny JSON answer, 304 while unchanged) every few seconds
// while the tab is visible, and when the request changed it swaps in the
// page as it now is, and says so to screen readers. If the person has
// typed into the page, nothing is swapped: they are told, and Refresh is
// theirs to press. It stops once the request is no longer open, and after
// an hour (the Refresh link stays).
function liveStatus(head) {
  const every = 5000, stopAfter = 60 * 60 * 1000, started = Date.now();
  const main = document.querySelector("main");
  let announcer = document.getElementById("live-announcer");
  if (!announcer) {
    announcer = document.createElement("div");
    announcer.id = "live-announcer";
    announcer.className = "visually-hidden";
    announcer.setAttribute("role", "status");
    announcer.setAttribute("aria-live", "polite");
    announcer.dataset.testid = "live-announcer";
    document.body.append(announcer);
  }
  let typed = false;
  main.addEventListener("input", () => { typed = true; });
  let url = head.dataset.liveUrl, version = head.dataset.liveVersion, timer = null, stopped = false;

  const stop = (why) => {
    stopped = true;
    clearTimeout(timer);
    const hint = document.querySelector('[data-testid="live-hint"]');
    if (hint && why) hint.firstChild.textContent = why + " ";
  };
  const schedule = () => {
    clearTimeout(timer);
    if (stopped || document.hidden) return;
    if (Date.now() - started > stopAfter) return stop("Live updates stopped after an hour.");
    timer = setTimeout(check, every);
  };
  // Anything unexpected (a page that is not JSON, a network error while
  // swapping) stops the watch quietly: Refresh still works.
  const check = () => poll().catch(() => stop("Live updates stopped."));
  const poll = async () => {
    let res;
    try {
      res = await fetch(url, { headers: { "If-None-Match": `"${version}"`, Accept: "application/json" },
        cache: "no-store", credentials: "same-origin", redirect: "manual" });
    } catch {
      return schedule(); // offline for a moment: try again
    }
    if (res.status === 304) return schedule();
    if (!res.ok || !(res.headers.get("Content-Type") || "").includes("json")) {
      return stop("Live updates stopped (signed out?)."); // sign-in ended, or refused: the page itself says why on Refresh
    }
    const s = await res.json();
    if (s.version === version) return schedule();
    version = s.version;
    if (typed) {
      announcer.textContent = `This request is now ${s.label}. Refresh to see it.`;
      return stop(`This request is now ${s.label}.`);
    }
    // The request page itself: this page may be the answer to a POST.
    const page = await fetch(url.slice(0, -"/status".length), { credentials: "same-origin", cache: "no-store" });
    if (!page.ok) return stop("");
    const doc = new DOMParser().parseFromString(await page.text(), "text/html");
    const fresh = doc.querySelector("main");
    if (!fresh) return stop("");
    main.replaceChildren(...Array.from(fresh.childNodes, (n) => document.importNode(n, true)));
    localTimes(main);
    const headline = main.querySelector('[data-testid="status-headline"]');
    announcer.textContent = `Request updated: ${headline ? headline.textContent : s.label}.`;
    const next = main.querySelector("[data-live-url]");
    if (!next) return stop("");
    url = next.dataset.liveUrl;
    version = next.dataset.liveVersion;
    schedule();
  };
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !stopped) check();
  });
  schedule();
}

// startZone: the start field is read in the zone named next to it: the
// browser's own, once this script has said which. Without the script the
// zone field stays empty and the label says UTC.
function startZone() {
  const zone = document.querySelector('input[name="start_zone"]');
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && tz) {
    zone.value = tz;
    for (const el of document.querySelectorAll("[data-start-zone]")) el.textContent = tz;
  }
}
