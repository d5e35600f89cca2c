#!/usr/bin/env node
// The examples' server for development, one command for both:
// - tokens: GET /token?userID=U&roomID=R answers {"token": "04..."}, minted by `duet token mint`
//   from the same data folder as `duet serve` (the mini-program and the Web example ask here;
//   your business server does this in production, with its own rules on who may join which room);
// - the Web example: GET / serves examples/web (index.html, its module, config and CSS).
//
//   node examples/dev-server.mjs --duet target/release/duet --data duet-data --app-id N [--port 8081] [--ttl SECS]
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const duet = args.duet || "duet";
const port = Number(args.port || 8081);
if (!args["app-id"]) {
  console.error("usage: node dev-server.mjs --app-id N [--data DIR] [--duet PATH] [--port P] [--ttl SECS]");
  process.exit(2);
}

const WEB = join(dirname(fileURLToPath(import.meta.url)), "web");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };
/** A file of examples/web by its URL path: one name, no folders, a known type (nothing else is served). */
const WEB_FILE = /^\/([\w-]+\.(html|js|css))$/;

const ID = /^[\x21-\x7e]{1,64}$/;

function token(url, answer) {
  const userID = url.searchParams.get("userID") || "";
  if (!ID.test(userID)) return answer(400, { error: "userID must be 1-64 printable ASCII characters" });
  const mint = ["token", "mint", "--app-id", args["app-id"], "--user-id", userID, "--ttl", args.ttl || "3600"];
  if (args.data) mint.push("--data", args.data);
  execFile(duet, mint, (err, stdout, stderr) => {
    if (err) return answer(500, { error: stderr.trim() || err.message });
    answer(200, { token: stdout.trim() });
  });
}

async function webFile(path, res) {
  const name = path === "/" ? "index.html" : (WEB_FILE.exec(path) || [])[1];
  let body;
  try {
    if (!name) throw new Error("not a file of the example");
    body = await readFile(join(WEB, name));
  } catch {
    res.writeHead(404, { "content-type": "text/plain" });
    return res.end("not found: GET / is the Web example, GET /token?userID=U gives a token\n");
  }
  res.writeHead(200, { "content-type": `${TYPES[extname(name)]}; charset=utf-8`, "cache-control": "no-cache" });
  res.end(body);
}

const server = createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname !== "/token") return webFile(url.pathname, res);
  token(url, (status, body) => {
    // No CORS header: only pages this server serves (and mini-programs' wx.request) may ask;
    // any other site a developer visits must not mint tokens of the app.
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  });
});
server.listen(port, "127.0.0.1", () => {
  const at = `127.0.0.1:${server.address().port}`;
  console.log(`dev server listening on ${at}\n  tokens       http://${at}/token?userID=U&roomID=R\n  Web example  http://${at}/?appID=${args["app-id"]}`);
});
