#!/usr/bin/env node
// Builds the Web SDK: type-checks it with the shared core (tsc, declarations into dist/types),
// then bundles it with the core into one ES module, dist/duet-web.js, which `duet serve`
// embeds and serves at /sdk/duet-web.js. The bundle is committed (the server's build must not
// need Node.js); `--check` builds it to memory and fails when the committed one differs.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const out = join(root, "dist", "duet-web.js");

execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", root], { stdio: "inherit" });

const result = await build({
  entryPoints: [join(root, "src", "index.ts")],
  bundle: true,
  format: "esm",
  target: "es2019",
  platform: "browser",
  write: false,
  legalComments: "none",
  charset: "utf8",
  banner: { js: `// duet-web ${pkg.version}: Duet's Web SDK (MIT). Built from sdk/web and sdk/miniprogram/src/core; do not edit.` },
});
const text = result.outputFiles[0].text;

if (check) {
  let committed = "";
  try {
    committed = readFileSync(out, "utf8");
  } catch {
    // Missing counts as stale.
  }
  if (committed !== text) {
    console.error("sdk/web/dist/duet-web.js is not what the sources build: run `npm run build` in sdk/web and commit it");
    process.exit(1);
  }
  console.log(`sdk/web: dist/duet-web.js is up to date (${text.length} bytes)`);
} else {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, text);
  console.log(`sdk/web: wrote dist/duet-web.js (${text.length} bytes)`);
}
