// The official Socket.IO client against a live hub: node interop.mjs <base_url> <owner_token> <viewer_token> <stream_id>
// Prints one JSON line with what it saw; exits 0 when every check passed.
import { io } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";

const [base, ownerToken, viewerToken, streamId] = process.argv.slice(2);
const checks = {};
const timer = setTimeout(() => finish("timed out"), 25000);

function connect(token, opts = {}) {
  return io(`${base}/live`, { auth: token ? { token } : {}, reconnection: false, ...opts });
}

function once(socket, event) {
  return new Promise((resolve) => socket.once(event, resolve));
}

// A room event arrives alone or, when others fall into the same tick (a viewer count, likes, a gift), as one entry of
// a `room:batch`: the first `event` whose data passes `test`, whichever way it came.
function roomEvent(socket, event, test = () => true) {
  return new Promise((resolve) => {
    const seen = (data) => {
      if (!test(data)) return;
      socket.off(event, seen);
      socket.off("room:batch", batch);
      resolve(data);
    };
    const batch = (b) => b.events.filter((x) => x.event === event).forEach((x) => seen(x.data));
    socket.on(event, seen);
    socket.on("room:batch", batch);
  });
}

function finish(error) {
  clearTimeout(timer);
  const ok = !error && Object.values(checks).every(Boolean);
  console.log(JSON.stringify({ ok, error: error ?? null, checks }));
  process.exit(ok ? 0 : 1);
}

try {
  // Default transports: long-polling first, then the upgrade to WebSocket, as browsers do.
  const owner = connect(ownerToken);
  const viewer = connect(viewerToken, { transports: ["websocket"] });
  await Promise.all([once(owner, "connect"), once(viewer, "connect")]);

  const joinOwner = await owner.timeout(5000).emitWithAck("stream:join", { stream_id: streamId });
  checks.owner_role = joinOwner.ok === true && joinOwner.role === "owner";
  const joinViewer = await viewer.timeout(5000).emitWithAck("stream:join", { stream_id: streamId });
  checks.viewer_role = joinViewer.ok === true && joinViewer.role === "viewer";

  const received = roomEvent(viewer, "chat:message", (m) => m.text === "hello from node");
  const sent = await owner.timeout(5000).emitWithAck("chat:send", { stream_id: streamId, text: "hello from node", client_id: "js-1" });
  checks.chat_ack = sent.ok === true && sent.message.text === "hello from node";
  const msg = await received;
  checks.chat_delivered = msg.text === "hello from node" && msg.user.badges.includes("owner");

  // A msgpack client (socket.io-msgpack-parser) on the second endpoint shares the room with the JSON clients.
  const mp = connect(viewerToken, { path: "/socket.io-msgpack", parser: msgpackParser, transports: ["websocket"] });
  await once(mp, "connect");
  const joinMp = await mp.timeout(5000).emitWithAck("stream:join", { stream_id: streamId });
  const mpReceived = roomEvent(mp, "chat:message", (m) => m.text === "to msgpack");
  await owner.timeout(5000).emitWithAck("chat:send", { stream_id: streamId, text: "to msgpack" });
  checks.msgpack_client = joinMp.ok === true && (await mpReceived).text === "to msgpack";

  // One packet per tick: a gift's effect goes out as soon as its transfer is applied (alone it is a plain
  // `gift:received`); the leaderboard and the goal follow together in one `room:batch`, whose entries are
  // {event, data} (the same on the JSON and the msgpack endpoint).
  const giftEvents = ["gift:received", "leaderboard:update", "goal:progress"];
  const collect = (socket) => {
    const seen = { events: [], batches: 0 };
    socket.onAny((event, data) => {
      if (event === "room:batch") {
        seen.batches += 1;
        for (const x of data.events) if (giftEvents.includes(x.event)) seen.events.push([x.event, x.data]);
      } else if (giftEvents.includes(event)) {
        seen.events.push([event, data]);
      }
    });
    return seen;
  };
  const seenJson = collect(owner);
  const seenMp = collect(mp);
  const gift = await viewer
    .timeout(5000)
    .emitWithAck("gift:send", { stream_id: streamId, gift_id: "rose", idempotency_key: "js-gift-1" });
  const complete = (seen) => seen.events.some(([e]) => e === "goal:progress");
  for (let i = 0; i < 200 && !(complete(seenJson) && complete(seenMp)); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const order = (seen) => seen.events.map(([e]) => e).join(",");
  const effect = (seen) => (seen.events.find(([e]) => e === "gift:received") ?? [null, {}])[1];
  checks.room_batch =
    gift.ok === true && order(seenJson) === giftEvents.join(",") && seenJson.batches >= 1 &&
    effect(seenJson).transfer_id === gift.transfer_id && effect(seenJson).stream_id === streamId;
  checks.room_batch_msgpack =
    order(seenMp) === order(seenJson) && seenMp.batches >= 1 && effect(seenMp).transfer_id === gift.transfer_id &&
    effect(seenMp).count === 1;

  // A gift with a message: the message rides on `gift:received` to JSON and msgpack clients alike (never merged).
  const giftEffect = (socket) => roomEvent(socket, "gift:received", (data) => data.message !== undefined);
  const msgJson = giftEffect(owner);
  const msgMp = giftEffect(mp);
  const text = "gg \u{1F389} привет";
  const withMsg = await viewer
    .timeout(5000)
    .emitWithAck("gift:send", { stream_id: streamId, gift_id: "rose", idempotency_key: "js-gift-2", message: text });
  const [mj, mm] = await Promise.all([msgJson, msgMp]);
  checks.gift_message =
    withMsg.ok === true && mj.message === text && mm.message === text && mm.transfer_id === withMsg.transfer_id;
  mp.disconnect();

  const bad = await viewer.timeout(5000).emitWithAck("chat:send", { stream_id: streamId, text: 42 });
  checks.error_ack = bad.ok === false && bad.error.code === "invalid_input" && typeof bad.error.message === "string";

  const likes = roomEvent(owner, "likes:update", (u) => u.total === 5);
  const liked = await viewer.timeout(5000).emitWithAck("like:send", { stream_id: streamId, count: 5 });
  checks.like_ack = liked.ok === true;
  checks.likes_update = (await likes).total === 5;

  const guest = connect(null, { transports: ["websocket"] });
  await once(guest, "connect");
  const guestChat = await guest.timeout(5000).emitWithAck("chat:send", { stream_id: streamId, text: "hi" });
  checks.guest_refused = guestChat.ok === false && guestChat.error.code === "unauthenticated";
  guest.disconnect();

  const forged = connect("forged.token.value", { transports: ["websocket"] });
  const err = await once(forged, "connect_error");
  checks.forged_refused = err.data && (err.data.code === "invalid_token" || err.data.code === "unauthenticated");
  forged.disconnect();

  checks.upgraded_to_websocket = owner.io.engine.transport.name === "websocket";
  owner.disconnect();
  viewer.disconnect();
  finish();
} catch (e) {
  finish(String(e));
}
