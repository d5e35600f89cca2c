// The one file to edit before running the example on a phone or in WeChat DevTools.
module.exports = {
  // The AppID `duet serve` printed (or `duet app list`).
  appID: 1234567890,
  // The signaling address `duet serve` printed: wss:// with a registered domain on a phone.
  server: "wss://rtc.example.com/ws",
  // Where pages get tokens: GET <tokenURL>?userID=..&roomID=.. answering {"token": "04..."}.
  // Your business server in production; `node ../dev-server.mjs` while developing.
  tokenURL: "https://rtc.example.com:8081/token",
  // Or fixed tokens per userID for a quick try (`duet token mint --app-id N --user-id U`).
  tokens: {},
  // The room every page joins unless the page is opened with ?roomID=.
  roomID: "duet-demo",
};
