// Channel points on the pages: the viewer's balance and rewards menu (watch page), the streamer's rewards editor and
// request queue (studio). Both over the HTTP API (/streams/{id}/rewards, /redemptions); the studio's queue also
// refreshes on the room's `redemption:new`.

import { api, errorText, newId, session } from "./api.js";
import { formatNumber, t } from "./i18n.js";
import { $, el, toast } from "./ui.js";

const path = (streamId, rest = "") => `/streams/${encodeURIComponent(streamId)}${rest}`;

/** The watch page's card: my points in this channel and the rewards I can redeem. */
export class PointsPanel {
  constructor(section, streamId) {
    this.section = section;
    this.streamId = streamId;
    this.balance = $("#points-balance", section);
    this.list = $("#rewards", section);
    this.text = $("#reward-text", section);
    this.menu = null;
  }

  async refresh() {
    try {
      this.menu = await api("GET", path(this.streamId, "/rewards"), undefined, { auth: session.loggedIn });
    } catch {
      return;
    }
    this.render();
  }

  render() {
    const menu = this.menu;
    if (!menu) return;
    this.section.hidden = false;
    this.balance.hidden = menu.balance === null;
    this.balance.dataset.value = String(menu.balance ?? 0);
    this.balance.textContent = t("points.balance", { n: formatNumber(menu.balance ?? 0) });
    if (!menu.rewards.length) {
      this.list.replaceChildren(el("li", { class: "muted" }, t("points.none")));
      return;
    }
    this.list.replaceChildren(
      ...menu.rewards.map((r) => {
        const button = el("button", { class: "btn btn-sm", type: "button" }, t("points.redeem", { n: formatNumber(r.cost) }));
        button.disabled = menu.balance === null || menu.balance < r.cost;
        button.addEventListener("click", () => this.redeem(r, button));
        return el(
          "li",
          { class: "reward", dataset: { id: r.id, kind: r.kind } },
          el("span", { class: "reward-title" }, r.title),
          r.prompt ? el("span", { class: "muted reward-prompt" }, r.prompt) : "",
          button,
        );
      }),
    );
  }

  async redeem(reward, button) {
    const text = this.text.value.trim();
    if (reward.kind !== "sound" && !text) {
      toast(t("points.needs_text"), "error");
      this.text.focus();
      return;
    }
    button.disabled = true;
    try {
      const out = await api("POST", path(this.streamId, `/rewards/${encodeURIComponent(reward.id)}/redeem`), {
        idempotency_key: `rw-${newId()}`,
        text: reward.kind === "sound" ? "" : text,
      });
      this.text.value = "";
      this.menu.balance = out.balance;
      toast(t("points.redeemed", { title: reward.title }), "success");
    } catch (err) {
      toast(errorText(err), "error");
    }
    this.render();
  }

  setBalance(balance) {
    if (!this.menu) return;
    this.menu.balance = balance;
    this.render();
  }
}

/** The studio's card: the channel's rewards (add, switch on/off, change the cost) and the request queue. */
export class RewardsStudio {
  constructor(section) {
    this.section = section;
    this.streamId = null;
    this.rewards = $("#studio-rewards", section);
    this.queue = $("#redemption-queue", section);
    $("#reward-form", section).addEventListener("submit", (e) => {
      e.preventDefault();
      this.create(e.target);
    });
  }

  show(streamId) {
    this.streamId = streamId;
    this.section.hidden = !streamId;
    if (streamId) this.refresh();
  }

  async refresh() {
    if (!this.streamId) return;
    try {
      const [menu, queue] = await Promise.all([
        api("GET", path(this.streamId, "/rewards?all=true")),
        api("GET", path(this.streamId, "/redemptions")),
      ]);
      this.renderRewards(menu.rewards);
      this.renderQueue(queue.items);
    } catch (err) {
      toast(errorText(err), "error");
    }
  }

  renderRewards(rewards) {
    this.rewards.replaceChildren(
      ...rewards.map((r) => {
        const cost = el("input", { type: "number", min: "1", value: String(r.cost), class: "reward-cost", "aria-label": t("points.cost") });
        cost.addEventListener("change", () => this.change(r.id, { cost: Number(cost.value) }));
        const toggle = el("button", { class: "btn btn-xs", type: "button" }, r.enabled ? t("points.disable") : t("points.enable"));
        toggle.addEventListener("click", () => this.change(r.id, { enabled: !r.enabled }));
        const remove = el("button", { class: "btn btn-xs reward-delete", type: "button" }, t("points.delete"));
        remove.addEventListener("click", () => this.remove(r.id));
        return el(
          "li",
          { class: r.enabled ? "reward" : "reward reward-off", dataset: { id: r.id, kind: r.kind } },
          el("span", { class: "reward-title" }, `${r.title} (${t(`points.kind.${r.kind}`)})`),
          cost,
          toggle,
          remove,
        );
      }),
    );
  }

  renderQueue(items) {
    if (!items.length) {
      this.queue.replaceChildren(el("li", { class: "muted" }, t("points.queue_empty")));
      return;
    }
    this.queue.replaceChildren(
      ...items.map((q) => {
        const done = el("button", { class: "btn btn-xs btn-primary", type: "button" }, t("points.done"));
        const refund = el("button", { class: "btn btn-xs", type: "button" }, t("points.refund"));
        done.addEventListener("click", () => this.decide(q.id, "fulfil"));
        refund.addEventListener("click", () => this.decide(q.id, "refund"));
        return el(
          "li",
          { class: "redemption", dataset: { id: q.id } },
          el("strong", {}, q.viewer.nickname),
          el("span", {}, ` ${q.title}: `),
          el("span", { class: "redemption-text" }, q.text),
          done,
          refund,
        );
      }),
    );
  }

  async create(form) {
    const data = new FormData(form);
    try {
      await api("POST", path(this.streamId, "/rewards"), {
        kind: String(data.get("kind")),
        title: String(data.get("title")),
        cost: Number(data.get("cost")),
        cooldown_s: Number(data.get("cooldown_s") || 0),
      });
      form.reset();
      this.refresh();
    } catch (err) {
      toast(errorText(err), "error");
    }
  }

  async change(rewardId, changes) {
    try {
      await api("PATCH", path(this.streamId, `/rewards/${encodeURIComponent(rewardId)}`), changes);
    } catch (err) {
      toast(errorText(err), "error");
    }
    this.refresh();
  }

  /** Delete a reward: the requests still waiting for it are refunded by the server (each once). */
  async remove(rewardId) {
    try {
      const r = await api("DELETE", path(this.streamId, `/rewards/${encodeURIComponent(rewardId)}`));
      if (r.refunded) toast(t("points.deleted_refunded", { n: r.refunded }));
    } catch (err) {
      toast(errorText(err), "error");
    }
    this.refresh();
  }

  async decide(redemptionId, verb) {
    try {
      await api("POST", path(this.streamId, `/redemptions/${encodeURIComponent(redemptionId)}/${verb}`));
    } catch (err) {
      toast(errorText(err), "error");
    }
    this.refresh();
  }
}
