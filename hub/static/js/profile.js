// A user's public profile /users/{id}: nickname, bio, followers (GET /users/{id}) and achievements
// (GET /users/{id}/achievements: unlocked ones first, the others with their progress).

import { api, errorText } from "./api.js";
import { formatNumber, t } from "./i18n.js";
import { $, el, startPage } from "./ui.js";

startPage("profile");

const userId = decodeURIComponent(window.location.pathname.split("/").filter(Boolean).pop() || "");

function achievement(a) {
  const state = a.unlocked
    ? el("span", { class: "achievement-state" }, t("profile.unlocked"))
    : el(
        "span",
        { class: "achievement-state muted" },
        t("profile.progress", { progress: formatNumber(a.progress), target: formatNumber(a.target) }),
      );
  return el(
    "li",
    { class: a.unlocked ? "achievement achievement-unlocked" : "achievement", dataset: { id: a.id, unlocked: String(a.unlocked) } },
    el("strong", { class: "achievement-title" }, a.title),
    " ",
    el("span", { class: "muted" }, a.description),
    " ",
    state,
  );
}

async function load() {
  try {
    const [user, list] = await Promise.all([
      api("GET", `/users/${encodeURIComponent(userId)}`, undefined, { auth: false }),
      api("GET", `/users/${encodeURIComponent(userId)}/achievements`, undefined, { auth: false }),
    ]);
    $("#profile-name").textContent = `@${user.nickname}`;
    document.title = `@${user.nickname} · LiveHub`;
    $("#profile-bio").textContent = user.bio || "";
    $("#profile-followers").textContent = t("profile.followers", { n: formatNumber(user.followers ?? 0) });
    const items = [...list.items].sort((a, b) => Number(b.unlocked) - Number(a.unlocked));
    $("#achievements").replaceChildren(...items.map(achievement));
    document.body.dataset.loaded = "true";
  } catch (err) {
    $("#profile-name").textContent = err?.status === 404 ? t("profile.not_found") : errorText(err);
    document.body.dataset.loaded = "error";
  }
}

load();
