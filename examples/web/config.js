// The one file to edit before opening the page. appID, roomID and server can also be given as
// query parameters, which win (server only on this machine or the page's own host):
// index.html?appID=N&server=ws://127.0.0.1:8080/ws&roomID=R
export default {
  // The AppID `duet serve` printed (or `duet app list`). The dev server prints a link with it.
  appID: 0,
  // Duet's signaling address as `duet serve` printed it (wss://host/ws behind TLS).
  server: "ws://127.0.0.1:8080/ws",
  // Where the page loads the Web SDK from; empty: the server's own copy, http(s)://host/sdk/duet-web.js.
  sdkURL: "",
  // Where the page gets tokens: GET <tokenURL>?userID=..&roomID=.. answering {"token": "04..."}.
  // Your business server in production; the dev server (examples/dev-server.mjs), which also
  // serves this page, while developing.
  tokenURL: "/token",
  // The room the form proposes (the mini-program example's default too, so both sides meet).
  roomID: "duet-demo",
};
