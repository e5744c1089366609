// Minifies the tracking scripts, static/tracking/<name>.js -> static/build/<name>.js, and
// prints each one's gzipped size against its budget (shared/DESIGN.md: 1.5, 1.2 and 0.6 KB).
// count-counter.js, count.js's companion (goatcounter.visit_count(), loaded on first use),
// has no budget of its own: moving it out is what keeps count.js within 1.5 KB.
// Run through `npm run build:tracking`; the Makefile's `static` target does. A script over
// budget is reported, not refused: tests/tracking/test_scripts.py is the gate.
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { minify } from "terser";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const sourceDir = join(root, "static", "tracking");
const buildDir = join(root, "static", "build");
const budgets = { "count.js": 1536, "umami.js": 1228, "track.js": 614 }; // gzipped bytes

await mkdir(buildDir, { recursive: true });
for (const name of (await readdir(sourceDir)).filter((n) => n.endsWith(".js")).sort()) {
  const source = await readFile(join(sourceDir, name), "utf8");
  // ES5 in, ES5 out: the scripts run unmodified in old browsers, nothing is transpiled.
  const { code } = await minify(source, {
    ecma: 5,
    compress: { passes: 2 },
    mangle: true,
    format: { comments: false },
  });
  await writeFile(join(buildDir, name), code + "\n");
  const gzipped = gzipSync(code + "\n", { level: 9 }).length;
  const budget = budgets[name];
  const verdict = budget === undefined ? "" : gzipped <= budget ? `, budget ${budget}` : `, OVER BUDGET ${budget}`;
  console.log(`static/build/${name}: ${code.length + 1} bytes, ${gzipped} gzipped${verdict}`);
}
