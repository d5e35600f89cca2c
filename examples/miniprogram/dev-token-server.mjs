#!/usr/bin/env node
// A token server for development: GET /token?userID=U&roomID=R answers {"token": "04..."},
// minted by `duet token mint` from the same data folder as `duet serve`. Your business server
// does this in production (with its own rules on who may join which room).
//
//   node dev-token-server.mjs --duet ../../target/release/duet --data ../../duet-data --app-id N [--port 8081]
import { execFile } from "node:child_process";
import { createServer } from "node:http";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const duet = args.duet || "duet";
const port = Number(args.port || 8081);
if (!args["app-id"]) {
  console.error("usage: node dev-token-server.mjs --app-id N [--data DIR] [--duet PATH] [--port P] [--ttl SECS]");
  process.exit(2);
}

const ID = /^[\x21-\x7e]{1,64}$/;
const server = createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  const userID = url.searchParams.get("userID") || "";
  const answer = (status, body) => {
    res.writeHead(status, { "content-type": "application/json", "access-control-allow-origin": "*" });
    res.end(JSON.stringify(body));
  };
  if (url.pathname !== "/token") return answer(404, { error: "GET /token?userID=U" });
  if (!ID.test(userID)) return answer(400, { error: "userID must be 1-64 printable ASCII characters" });
  const mint = ["token", "mint", "--app-id", args["app-id"], "--user-id", userID, "--ttl", args.ttl || "3600"];
  if (args.data) mint.push("--data", args.data);
  execFile(duet, mint, (err, stdout, stderr) => {
    if (err) return answer(500, { error: stderr.trim() || err.message });
    answer(200, { token: stdout.trim() });
  });
});
server.listen(port, "127.0.0.1", () => console.log(`dev token server listening on 127.0.0.1:${server.address().port}`));
