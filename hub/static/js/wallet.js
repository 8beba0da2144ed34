// The wallet page /wallet: coins and beans, buying coins, the history. Stripe Checkout sends people back here
// (?topup=<id>&status=success|cancelled): we say what happened and poll the balance until the coins arrive.

import { api, session } from "./api.js";
import { buyCoinsDialog, handleCheckoutReturn, returnPath } from "./coins.js";
import { formatNumber, formatTime, t } from "./i18n.js";
import { $, el, loginGate, showError, startPage } from "./ui.js";

startPage("wallet");

function setStat(id, value) {
  const node = $(`#${id}`);
  node.dataset.value = String(value);
  node.textContent = formatNumber(value);
}

let coins = null;

async function refresh() {
  try {
    const w = await api("GET", "/wallet");
    const changed = coins !== null && coins !== w.coins;
    coins = Number(w.coins ?? 0);
    setStat("coins", coins);
    setStat("beans", Number(w.beans ?? 0));
    setStat("held", Number(w.beans_held ?? 0));
    if (changed) loadHistory();
    return changed;
  } catch (err) {
    showError(err);
    return false;
  }
}

async function loadHistory() {
  try {
    const data = await api("GET", "/wallet/transactions", undefined, { query: { limit: 30 } });
    const items = data?.items || [];
    $("#history").replaceChildren(
      ...(items.length
        ? items.map((tx) => {
            const legs = (tx.legs || []).map((l) => `${l.amount > 0 ? "+" : ""}${formatNumber(l.amount)} ${t(`unit.${l.currency}`)}`);
            return el("li", {}, el("span", { class: "when" }, formatTime(tx.created_at)), t(`wallet.kind.${tx.kind}`), " ", el("b", {}, legs.join(", ")));
          })
        : [el("li", { class: "muted" }, t("wallet.empty"))]),
    );
  } catch (err) {
    showError(err);
  }
}

function render() {
  $("#gate").hidden = session.loggedIn;
  $("#wallet").hidden = !session.loggedIn;
  if (!session.loggedIn) {
    loginGate($("#gate"), "auth.needed_gift");
    return;
  }
  const back = returnPath();
  if (back) {
    $("#back").href = back;
    $("#back").hidden = false;
  }
  refresh().then(loadHistory);
  handleCheckoutReturn(refresh);
}

$("#buy").addEventListener("click", () => buyCoinsDialog());
session.onChange(() => render());
render();
