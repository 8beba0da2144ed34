// The studio's subscriber emotes: the channel's emotes (GET /channels/{id}/emotes), uploading one (POST /me/emotes?code=
// with the image file as the body: the server checks its type by its bytes and its size) and deleting one.

import { api, errorText } from "./api.js";
import { t } from "./i18n.js";
import { $, el, toast } from "./ui.js";

export class EmotesStudio {
  constructor(section, channelId) {
    this.section = section;
    this.channelId = channelId;
    this.list = $("#emote-list");
    this.form = $("#emote-form");
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.upload();
    });
  }

  async refresh() {
    this.section.hidden = false;
    try {
      const data = await api("GET", `/channels/${encodeURIComponent(this.channelId)}/emotes`, undefined, { auth: false });
      this.list.replaceChildren(
        ...(data.items.length
          ? data.items.map((e) => {
              const remove = el("button", { class: "btn btn-xs emote-delete", type: "button" }, t("emotes.delete"));
              remove.addEventListener("click", () => this.remove(e.id));
              return el(
                "li",
                { class: "emote-item", dataset: { code: e.code } },
                el("img", { class: "emote", src: e.url, alt: e.code, width: "28", height: "28" }),
                el("code", {}, e.code),
                remove,
              );
            })
          : [el("li", { class: "muted" }, t("emotes.none"))]),
      );
    } catch (err) {
      toast(errorText(err), "error");
    }
  }

  async upload() {
    const code = this.form.elements.code.value.trim();
    const file = this.form.elements.image.files[0];
    if (!code || !file) return;
    try {
      await api("POST", "/me/emotes", undefined, { query: { code }, raw: file });
      this.form.reset();
      toast(t("emotes.added", { code }), "ok");
    } catch (err) {
      toast(errorText(err), "error");
    }
    this.refresh();
  }

  async remove(emoteId) {
    try {
      await api("DELETE", `/me/emotes/${encodeURIComponent(emoteId)}`);
    } catch (err) {
      toast(errorText(err), "error");
    }
    this.refresh();
  }
}
