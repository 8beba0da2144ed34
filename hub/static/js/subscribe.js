// The viewer page's Subscribe button: a signed-in viewer picks a tier and goes to Stripe Checkout (subscription
// mode); a subscriber sees "Subscribed · N mo" instead. The perks start when Stripe confirms the payment (webhook).

import { api, errorText, session } from "./api.js";
import { formatMoney, t } from "./i18n.js";
import { el, showError } from "./ui.js";

export class SubscribeButton {
  constructor(button, menu) {
    this.button = button;
    this.menu = menu;
    this.channel = null;
    this.button.addEventListener("click", () => this.toggle());
    session.onChange(() => {
      if (this.channel) this.show({ owner_id: this.channel }); // signed in or out on this page
    });
  }

  /** Show the button for ``stream``'s channel (hidden for guests and for the channel itself). */
  async show(stream) {
    this.channel = stream.owner_id;
    this.menu.hidden = true;
    this.button.hidden = !session.loggedIn || session.user?.id === this.channel;
    if (this.button.hidden) return;
    this.button.dataset.state = "none";
    this.button.textContent = t("sub.button");
    try {
      const mine = await api("GET", "/me/subscriptions");
      const member = mine.items.find((m) => m.channel_id === this.channel);
      if (member?.active) {
        this.button.dataset.state = "subscribed";
        this.button.textContent = t("sub.subscribed", { n: member.months });
      }
    } catch {
      // the plain button
    }
  }

  async toggle() {
    if (this.button.dataset.state === "subscribed") return;
    if (!this.menu.hidden) {
      this.menu.hidden = true;
      return;
    }
    try {
      const tiers = await api("GET", "/subscriptions/tiers", undefined, { auth: false });
      this.menu.replaceChildren(
        ...tiers.items.map((tier) =>
          el("li", {},
            el("button", { class: "btn btn-sm", type: "button", dataset: { tier: tier.id }, onclick: () => this.start(tier.id) },
              t("sub.tier", { name: tier.name, price: formatMoney(tier.price_cents, tier.currency) })),
          ),
        ),
      );
      this.menu.hidden = false;
    } catch (err) {
      showError(errorText(err));
    }
  }

  async start(tierId) {
    try {
      const out = await api("POST", `/channels/${encodeURIComponent(this.channel)}/subscription`, { tier_id: tierId, method: "checkout" });
      window.location.assign(out.checkout_url);
    } catch (err) {
      showError(errorText(err));
    }
  }
}
