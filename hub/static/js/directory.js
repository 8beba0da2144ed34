// The landing page: the live directory (GET /api/v1/streams?status=live), refreshed every 15 s.

import { api, nicknameFor } from "./api.js";
import { t } from "./i18n.js";
import { $, el, showError, startPage } from "./ui.js";

startPage("live");

const grid = $("#streams");
const empty = $("#empty");

function card(stream) {
  const initial = (stream.title || "?").trim().slice(0, 1).toUpperCase();
  const owner = el("div", { class: "stream-owner" });
  nicknameFor(stream.owner_id).then((name) => {
    if (name) owner.textContent = `@${name}`;
  });
  return el("a", { class: "stream-card", href: `/watch/${encodeURIComponent(stream.id)}`, dataset: { streamId: stream.id } },
    el("div", { class: "stream-thumb" },
      // The latest picture (made every few seconds by the node holding the publisher); the initial shows without.
      stream.thumbnail_url
        ? el("img", { class: "stream-picture", src: stream.thumbnail_url, alt: "", loading: "lazy", onerror: (e) => e.target.remove() })
        : null,
      el("span", { class: "live-pill" }, t("dir.live")), initial),
    el("div", { class: "stream-meta" },
      el("div", { class: "stream-title" }, stream.title),
      owner,
      el("div", { class: "muted" }, [stream.category, ...(stream.tags || []).map((tag) => `#${tag}`)].filter(Boolean).join(" · ") || "\u00a0"),
    ),
  );
}

async function load() {
  try {
    const page = await api("GET", "/streams", undefined, { auth: false, query: { status: "live", limit: 60 } });
    const items = page?.items || [];
    grid.replaceChildren(...items.map(card));
    empty.hidden = items.length > 0;
  } catch (err) {
    showError(err);
  }
}

$("#refresh").addEventListener("click", load);
load();
setInterval(load, 15000);
