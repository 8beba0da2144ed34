// Buying coins: a dialog of the server's coin packs; the chosen pack opens Stripe Checkout (the server makes the
// session from its own price list, the page only names the pack). Back on the page, the balance is polled until the
// webhook has credited the coins.

import { api, errorText } from "./api.js";
import { formatMoney, formatNumber, t } from "./i18n.js";
import { el, toast } from "./ui.js";

const RETURN_KEY = "livehub.checkout_return";

/** The page that started a checkout, to offer a way back after Stripe sends the person to /wallet. */
export function returnPath() {
  const path = sessionStorage.getItem(RETURN_KEY);
  return path && path.startsWith("/") && !path.startsWith("//") ? path : null;
}

export async function buyCoinsDialog() {
  const error = el("p", { class: "form-error", role: "alert" });
  const list = el("div", { class: "pack-list" }, el("p", { class: "muted" }, t("common.loading")));
  const backdrop = el("div", { class: "modal-backdrop" },
    el("div", { class: "modal", role: "dialog", "aria-modal": "true", id: "coins-dialog" },
      el("h2", {}, t("coins.title")), list, error,
      el("button", { class: "btn btn-ghost btn-block", type: "button", onclick: () => backdrop.remove() }, t("coins.close")),
    ),
  );
  backdrop.addEventListener("click", (e) => {
    if (e.target === backdrop) backdrop.remove();
  });
  document.body.append(backdrop);
  let packs;
  try {
    const data = await api("GET", "/wallet/coin-packs");
    packs = data.items;
  } catch (err) {
    list.replaceChildren();
    error.textContent = errorText(err);
    return;
  }
  list.replaceChildren(
    ...packs.map((pack) =>
      el("div", { class: "card pack", dataset: { packId: pack.id } },
        el("span", { class: "coins" }, formatNumber(pack.coins)),
        el("button", {
          class: "btn btn-primary btn-sm",
          type: "button",
          onclick: async (e) => {
            e.target.disabled = true;
            error.textContent = "";
            try {
              const res = await api("POST", "/wallet/topups", { pack_id: pack.id, method: "checkout" });
              const url = res.checkout_url;
              if (!url) throw new Error("no checkout url");
              sessionStorage.setItem(RETURN_KEY, window.location.pathname);
              toast(t("coins.redirect"));
              window.location.assign(url);
            } catch (err) {
              error.textContent = errorText(err);
              e.target.disabled = false;
            }
          },
        }, t("coins.buy", { price: formatMoney(pack.price_cents, pack.currency || "usd") })),
      ),
    ),
  );
}

/** After Stripe sends the person back: say so, and poll the balance (bounded) until it changes. */
export function handleCheckoutReturn(refreshBalance) {
  const params = new URLSearchParams(window.location.search);
  const result = params.get("status");
  if (!params.has("topup") || !result) return;
  params.delete("topup");
  params.delete("status");
  const clean = window.location.pathname + (params.toString() ? `?${params}` : "");
  window.history.replaceState(null, "", clean);
  if (result === "success" || result === "ok") {
    toast(t("coins.thanks"), "ok", 6000);
    let tries = 0;
    const timer = setInterval(async () => {
      tries += 1;
      const changed = await refreshBalance();
      if (changed || tries >= 20) clearInterval(timer);
    }, 1500);
  } else {
    toast(t("coins.cancelled"));
  }
}
