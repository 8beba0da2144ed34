// UI text in English and Russian (locales/*.js), chosen by the browser's language. `t(key, params)` fills {name}
// placeholders; elements with data-i18n / data-i18n-placeholder / data-i18n-title get their text from applyI18n().

import en from "./locales/en.js";
import ru from "./locales/ru.js";

const DICTS = { en, ru };

function pickLanguage() {
  const wanted = [...(navigator.languages || []), navigator.language || "en"];
  for (const tag of wanted) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (base in DICTS) return base;
  }
  return "en";
}

export const lang = pickLanguage();
const dict = DICTS[lang];

export function has(key) {
  return key in dict || key in en;
}

export function t(key, params = {}) {
  const template = dict[key] ?? en[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

const plurals = new Intl.PluralRules(lang === "ru" ? "ru-RU" : "en-US");

/** A count in words: `key.one` / `key.few` / `key.many` / `key.other` by the language's plural rules. */
export function tn(key, n, params = {}) {
  const form = plurals.select(Number(n) || 0);
  const full = `${key}.${form}`;
  const chosen = full in dict || full in en ? full : `${key}.other`;
  return t(chosen, { n: formatNumber(n), ...params });
}

export function applyI18n(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
}

const numberFormat = new Intl.NumberFormat(lang === "ru" ? "ru-RU" : "en-US");
export function formatNumber(n) {
  return numberFormat.format(Number(n) || 0);
}

export function formatMoney(cents, currency = "usd") {
  return new Intl.NumberFormat(lang === "ru" ? "ru-RU" : "en-US", { style: "currency", currency: currency.toUpperCase() })
    .format(cents / 100);
}

export function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString(lang === "ru" ? "ru-RU" : "en-US", { hour: "2-digit", minute: "2-digit" });
}

document.documentElement.lang = lang;
