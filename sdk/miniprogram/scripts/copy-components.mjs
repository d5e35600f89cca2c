// Copies the duet-pusher and duet-player components next to the compiled SDK, so WeChat
// DevTools' "build npm" (which takes the `miniprogram` folder, dist/) ships them together.
import { cpSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
mkdirSync(join(root, "dist"), { recursive: true });
cpSync(join(root, "components"), join(root, "dist", "components"), { recursive: true });
