// Recordings on the viewer page: the streamer's past broadcasts (GET /users/{id}/recordings, the profile's list)
// and playback of one (?recording=<id>) in a <video> with native controls. The media URL answers HTTP Range
// requests (or redirects to the S3 store, which does), so the browser seeks without downloading the whole file.

import { api } from "./api.js";
import { formatTime, t } from "./i18n.js";
import { $, el } from "./ui.js";

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}

export class RecordingsPanel {
  constructor(root, streamId) {
    this.root = root;
    this.streamId = streamId;
    this.list = $("#recordings-list");
    this.player = $("#recording-player");
    this.title = $("#recording-title");
  }

  /** List the streamer's recordings; play the one named in the address, if any. */
  async show(ownerId) {
    const wanted = new URLSearchParams(window.location.search).get("recording");
    let items = [];
    try {
      items = (await api("GET", `/users/${encodeURIComponent(ownerId)}/recordings`, undefined, { auth: false })).items;
    } catch {
      return;
    }
    this.root.hidden = items.length === 0 && !wanted;
    this.list.replaceChildren(
      ...items.map((r) =>
        el(
          "li",
          { "data-recording-id": r.id },
          el("a", { href: `/watch/${encodeURIComponent(r.stream_id)}?recording=${encodeURIComponent(r.id)}` }, r.title),
          " ",
          el("span", { class: "muted" }, `${formatTime(r.started_at)} · ${duration(r.duration_s)}`),
        ),
      ),
    );
    if (items.length === 0) this.list.replaceChildren(el("li", { class: "muted" }, t("recordings.none")));
    if (wanted) await this.play(wanted);
  }

  async play(recordingId) {
    const recording = await api("GET", `/recordings/${encodeURIComponent(recordingId)}`, undefined, { auth: false });
    if (!recording.media_url) return;
    this.title.textContent = recording.title;
    this.player.hidden = false;
    this.player.src = recording.media_url;
    this.player.dataset.recordingId = recording.id;
  }
}
