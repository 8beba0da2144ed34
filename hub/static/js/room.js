// Room widgets shared by the studio, the viewer page and the console: chat list, chat composer, gift effects,
// goal bar and leaderboard. Each takes the server's event payloads as they arrive and tolerates added fields.

import { formatNumber, formatTime, has, lang, t, tn } from "./i18n.js";
import { el } from "./ui.js";

const MAX_CHAT = 200;

export function nicknameOf(user) {
  if (!user) return "?";
  return user.nickname || "?";
}

export function userIdOf(user) {
  if (!user) return null;
  return user.id;
}

/** The chat list. `moderation(action, message, extra)` adds delete / timeout / ban buttons to each message. */
export class ChatView {
  constructor(list, { moderation = null, report = null, promote = null, selfId = null } = {}) {
    this.list = list;
    this.moderation = moderation;
    this.report = report;
    this.promote = promote;
    this.selfId = selfId;
    this.ids = new Set();
    this.empty = el("li", { class: "chat-empty muted" }, t("chat.empty"));
    this.list.replaceChildren(this.empty);
  }

  setMessages(messages) {
    this.ids.clear();
    this.list.replaceChildren(this.empty);
    for (const m of messages) this.add(m, { scroll: false });
    this.scroll(true);
  }

  add(message, { scroll = true } = {}) {
    if (!message || this.ids.has(message.id)) return;
    this.ids.add(message.id);
    this.empty.remove();
    const user = message.user || {};
    const badges = (user.badges || []).map((b) => badgeOf(b, user));
    const mentionsMe = Boolean(this.selfId) && (message.mentions || []).some((m) => m.user_id === this.selfId);
    const row = el(
      "li",
      {
        class: `chat-msg${mentionsMe ? " chat-mention" : ""}${message.highlighted ? " chat-highlight" : ""}`,
        dataset: { id: message.id, userId: userIdOf(user) || "" },
      },
      el("span", { class: "chat-time muted" }, formatTime(message.at)),
      ...badges,
      el("b", { class: "chat-nick" }, nicknameOf(user)),
      chatText(message),
    );
    if (this.moderation && userIdOf(user) !== this.selfId) row.append(this.modButtons(message));
    else if (this.report && this.selfId && userIdOf(user) !== this.selfId) row.append(this.reportButton(message));
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 60;
    this.list.append(row);
    while (this.list.children.length > MAX_CHAT) {
      const first = this.list.firstElementChild;
      this.ids.delete(first.dataset.id);
      first.remove();
    }
    if (scroll) this.scroll(atBottom);
  }

  /** A gift that carries a message: a highlighted row (paid messages stand out); de-duplicated by transfer id. */
  addGift(event) {
    if (!event || !event.message) return;
    const id = `gift:${event.transfer_id}`;
    if (this.ids.has(id)) return;
    this.ids.add(id);
    this.empty.remove();
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 60;
    this.list.append(
      el("li", { class: "chat-msg chat-gift", dataset: { id, userId: userIdOf(event.sender) || "" } },
        el("span", { class: "chat-time muted" }, formatTime(event.at)),
        el("span", { class: "chat-gift-icon" }, giftIcon(event.gift, "gift-img")),
        el("b", { class: "chat-nick" }, nicknameOf(event.sender)),
        el("span", { class: "chat-gift-name muted" }, t("gifts.sent", { gift: giftName(event.gift) })),
        el("span", { class: "chat-text" }, event.message),
      ),
    );
    while (this.list.children.length > MAX_CHAT) {
      const first = this.list.firstElementChild;
      this.ids.delete(first.dataset.id);
      first.remove();
    }
    this.scroll(atBottom);
  }

  modButtons(message) {
    const user = message.user || {};
    const act = (action, extra = {}) => (e) => {
      e.stopPropagation();
      menu.replaceChildren(...buttons);
      this.moderation(action, message, extra);
    };
    const durations = [60, 600, 3600, 86400].map((s) =>
      el("button", { class: "btn btn-xs", type: "button", dataset: { duration: s }, onclick: act("timeout", { duration_s: s }) }, t(`duration.${s}`)),
    );
    const buttons = [
      el("button", { class: "btn btn-xs mod-delete", type: "button", title: t("mod.delete"), onclick: act("delete") }, t("mod.delete")),
      el("button", {
        class: "btn btn-xs mod-timeout",
        type: "button",
        title: t("mod.timeout"),
        onclick: (e) => {
          e.stopPropagation();
          menu.replaceChildren(el("span", { class: "muted" }, t("mod.timeout_for", { name: nicknameOf(user) })), ...durations);
        },
      }, t("mod.timeout")),
      el("button", { class: "btn btn-xs btn-danger mod-ban", type: "button", title: t("mod.ban"), onclick: act("ban") }, t("mod.ban")),
    ];
    if (this.promote && !(user.badges || []).some((b) => ["owner", "moderator", "staff"].includes(b))) {
      buttons.push(el("button", {
        class: "btn btn-xs mod-promote",
        type: "button",
        title: t("mod.promote"),
        onclick: (e) => {
          e.stopPropagation();
          this.promote(message);
        },
      }, t("mod.promote")));
    }
    const menu = el("span", { class: "mod-actions" }, ...buttons);
    return menu;
  }

  reportButton(message) {
    const menu = el("span", { class: "mod-actions report-actions" });
    const reasons = ["spam", "harassment", "other"].map((reason) =>
      el("button", {
        class: "btn btn-xs",
        type: "button",
        dataset: { reason },
        onclick: (e) => {
          e.stopPropagation();
          menu.replaceChildren(open);
          this.report(message, reason);
        },
      }, t(`report.${reason}`)),
    );
    const open = el("button", {
      class: "btn btn-xs report-open",
      type: "button",
      title: t("mod.report"),
      onclick: (e) => {
        e.stopPropagation();
        menu.replaceChildren(el("span", { class: "muted" }, t("report.why")), ...reasons);
      },
    }, t("mod.report"));
    menu.append(open);
    return menu;
  }

  remove(messageId) {
    const row = this.list.querySelector(`[data-id="${CSS.escape(String(messageId))}"]`);
    if (!row) return;
    row.classList.add("chat-deleted");
    row.querySelector(".chat-text").textContent = t("chat.deleted");
    row.querySelector(".mod-actions")?.remove();
  }

  removeUser(userId) {
    for (const row of this.list.querySelectorAll(`[data-user-id="${CSS.escape(String(userId))}"]`)) this.remove(row.dataset.id);
  }

  clear() {
    this.ids.clear();
    this.list.replaceChildren(this.empty);
    this.notice(t("chat.cleared"));
  }

  notice(text) {
    this.empty.remove();
    this.list.append(el("li", { class: "chat-notice" }, text));
    this.scroll(true);
  }

  scroll(force) {
    if (force) this.list.scrollTop = this.list.scrollHeight;
  }
}

/** The chat input: disabled with a reason for guests, restricted users and ended streams. */
export class ChatComposer {
  constructor(form, { onSend, onGuest }) {
    this.form = form;
    this.input = form.querySelector("input");
    this.button = form.querySelector("button");
    this.status = form.parentElement.querySelector(".chat-status");
    this.onSend = onSend;
    this.restriction = null;
    this.guest = false;
    this.ended = false;
    this.note = "";
    this.timer = null;
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = this.input.value.trim();
      if (!text) return;
      this.button.disabled = true;
      try {
        await this.onSend(text);
        this.input.value = "";
      } catch {
        // onSend has shown the refusal; the text stays so the person can edit and retry
      } finally {
        this.render();
      }
    });
    this.input.addEventListener("focus", () => {
      if (this.guest) onGuest?.();
    });
    this.render();
  }

  setGuest(guest) {
    this.guest = guest;
    this.render();
  }

  setEnded() {
    this.ended = true;
    this.render();
  }

  /** `{kind: "timeout"|"ban", until}`; a timeout lifts itself when `until` passes. */
  restrict(restriction) {
    if (!restriction || !["timeout", "ban"].includes(restriction.kind)) restriction = null;
    else if (restriction.kind === "timeout" && restriction.until && new Date(restriction.until).getTime() <= Date.now()) restriction = null;
    this.restriction = restriction;
    clearTimeout(this.timer);
    if (restriction?.kind === "timeout" && restriction.until) {
      const ms = new Date(restriction.until).getTime() - Date.now();
      if (ms > 0 && ms < 2 ** 31) this.timer = setTimeout(() => this.restrict(null), ms + 500);
    }
    this.render();
  }

  setNote(note) {
    this.note = note || "";
    this.render();
  }

  render() {
    let reason = "";
    if (this.ended) reason = t("chat.ended");
    else if (this.guest) reason = t("chat.guest");
    else if (this.restriction?.kind === "ban") reason = t("chat.banned");
    else if (this.restriction?.kind === "timeout")
      reason = t("chat.timed_out", { until: formatTime(this.restriction.until) || "…" });
    const blocked = Boolean(reason) && !this.guest;
    // a restricted person may still press send: the server refuses, and the refusal is shown
    this.input.readOnly = this.ended || this.guest;
    this.input.placeholder = reason || t("chat.placeholder");
    this.button.disabled = this.ended || this.guest;
    this.form.classList.toggle("restricted", blocked);
    if (this.status) {
      this.status.textContent = reason || this.note;
      this.status.classList.toggle("warn", blocked);
    }
  }
}

// Icons drawn as SVG (shipped in /static/img/gifts), so they look the same without any emoji font.
const GIFT_ICONS = new Set(["rose", "heart", "ice_cream", "perfume", "confetti", "sports_car", "lion"]);

export function giftIconUrl(gift) {
  const id = String(gift?.id || "");
  return `/static/img/gifts/${GIFT_ICONS.has(id) ? id : "gift"}.svg`;
}

export function giftIcon(gift, className = "gift-img") {
  return el("img", { class: className, src: giftIconUrl(gift), alt: "", draggable: "false" });
}

export function giftName(gift) {
  const names = gift?.names || {};
  return names[lang] || names.en || gift?.id || "?";
}

/** Gift animations over the video: one card per sender and gift, its combo counter bumping on each send. */
export class GiftEffects {
  constructor(layer) {
    this.layer = layer;
    this.cards = new Map();
  }

  show(event) {
    const gift = event.gift;
    const sender = event.sender;
    const count = Number(event.count);
    const combo = Number(event.combo);
    const key = `${userIdOf(sender)}:${gift.id}`;
    let card = this.cards.get(key);
    if (!card) {
      const comboEl = el("span", { class: "gift-combo" });
      const node = el("div", { class: "gift-card", dataset: { sender: userIdOf(sender) || "", gift: gift.id || "" } },
        el("span", { class: "gift-icon" }, giftIcon(gift)),
        el("span", { class: "gift-text" },
          el("b", { class: "gift-sender" }, nicknameOf(sender)),
          el("span", { class: "gift-name" }, t("gifts.sent", { gift: giftName(gift) })),
        ),
        comboEl,
      );
      this.layer.append(node);
      card = { node, comboEl, timer: null, messageEl: null };
      this.cards.set(key, card);
    }
    if (event.message) {
      if (!card.messageEl) {
        card.messageEl = el("span", { class: "gift-message" });
        card.node.querySelector(".gift-text").append(card.messageEl);
      }
      card.messageEl.textContent = event.message;
      card.node.classList.add("gift-card-message");
    }
    card.comboEl.textContent = t("gifts.combo", { n: formatNumber(combo) });
    card.node.classList.remove("bump");
    void card.node.offsetWidth; // restart the bump animation
    card.node.classList.add("bump");
    clearTimeout(card.timer);
    card.timer = setTimeout(() => {
      card.node.classList.add("gift-out");
      setTimeout(() => card.node.remove(), 500);
      this.cards.delete(key);
    }, 5000);
    this.burst(gift, Math.min(count, 5));
  }

  burst(gift, n) {
    for (let i = 0; i < n; i += 1) {
      const fly = el("span", { class: "gift-fly", "aria-hidden": "true" }, giftIcon(gift));
      fly.style.left = `${20 + Math.random() * 60}%`;
      fly.style.animationDelay = `${i * 90}ms`;
      this.layer.append(fly);
      setTimeout(() => fly.remove(), 2200 + i * 90);
    }
  }
}

/** The goal bar: the goal as documented (`{kind, target, progress, title, reached, ...}`), or null for none. */
export class GoalBar {
  constructor(root) {
    this.root = root;
    this.fill = root.querySelector(".goal-fill");
    this.label = root.querySelector(".goal-label");
    this.numbers = root.querySelector(".goal-numbers");
    this.root.hidden = true;
  }

  update(goal) {
    if (!goal || !(Number(goal.target) > 0)) {
      this.root.hidden = true;
      return;
    }
    const current = Number(goal.progress);
    const target = Number(goal.target);
    this.root.hidden = false;
    this.label.textContent = goal.title || t("goal.title");
    this.numbers.textContent = t("goal.progress", { current: formatNumber(current), target: formatNumber(target) });
    this.fill.style.width = `${Math.min(100, (100 * current) / target)}%`;
    this.root.classList.toggle("goal-done", current >= target);
  }
}

/** The top gifters list: entries `{rank, user_id, nickname, coins}` (the join's `leaderboard`, an update's `top`). */
export class Leaderboard {
  constructor(list) {
    this.list = list;
    this.update([]);
  }

  update(items) {
    if (!items?.length) {
      this.list.replaceChildren(el("li", { class: "muted board-empty" }, t("board.empty")));
      return;
    }
    this.list.replaceChildren(
      ...items.slice(0, 10).map((e) =>
        el("li", { class: `board-row rank-${e.rank}`, dataset: { userId: e.user_id } },
          el("span", { class: "board-rank" }, String(e.rank)),
          el("span", { class: "board-nick" }, e.nickname),
          el("span", { class: "board-score" }, tn("board.score", Number(e.coins))),
        ),
      ),
    );
  }
}

/** A chat badge; the subscriber badge carries the months count (`user.sub_months`). */
export function badgeOf(badge, user = {}) {
  if (badge === "subscriber" && Number(user.sub_months) > 0) {
    return el("span", { class: "badge badge-subscriber", dataset: { months: String(user.sub_months) } }, t("badge.sub_months", { n: user.sub_months }));
  }
  return el("span", { class: `badge badge-${badge}` }, has(`badge.${badge}`) ? t(`badge.${badge}`) : badge.replace(/_/g, " "));
}

/** A message's text with the channel's emotes it uses (subscribers' messages only carry `emotes`) as images. */
export function chatText(message) {
  const span = el("span", { class: "chat-text" });
  const emotes = new Map((message.emotes || []).map((e) => [e.code, e.url]));
  if (!emotes.size) {
    span.textContent = message.text;
    return span;
  }
  for (const part of String(message.text).split(/([A-Za-z][A-Za-z0-9]{2,24})/)) {
    const url = emotes.get(part);
    if (url && url.startsWith("/api/v1/emotes/")) {
      span.append(el("img", { class: "emote", src: url, alt: part, title: part, width: 28, height: 28 }));
    } else if (part) {
      span.append(document.createTextNode(part));
    }
  }
  return span;
}
