// The service worker for Web Push (served at /sw.js so its scope is the whole site): shows a go-live notification
// the hub pushed, one per notification id (a repeated delivery replaces the shown one), and opens the stream on click.

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { title: event.data ? event.data.text() : "" };
  }
  event.waitUntil(
    self.registration.showNotification(data.title || "LiveHub", {
      body: data.body || "",
      tag: data.id || undefined,
      icon: "/static/favicon.svg",
      data: { url: data.url || "/" },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = event.notification.data?.url || "/";
  event.waitUntil(self.clients.openWindow(url));
});
