import { build, type Plugin } from "esbuild";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

/**
 * `npm run build` (after tsc): bundles web/ into dist/web with esbuild:
 * index.html and content-hashed assets (the terminal is a chunk of its own,
 * loaded when a console opens), each with .br and .gz copies the daemon sends
 * to clients that take them. Nothing is built when the daemon runs.
 */
const repo = fileURLToPath(new URL("../../", import.meta.url));
const out = `${repo}dist/web/`;
rmSync(out, { recursive: true, force: true });
mkdirSync(`${out}assets`, { recursive: true });

/**
 * zod re-exports every locale's messages (`z.locales`), which a bundler
 * cannot drop from a namespace import: more than half the app. The page
 * uses English only, so the locales index is replaced by English alone.
 */
const englishOnly: Plugin = {
  name: "zod-english-only",
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({ contents: 'export { default as en } from "./en.js";', loader: "js" }));
  },
};

const result = await build({
  absWorkingDir: repo,
  entryPoints: { app: "web/src/main.tsx" },
  outdir: `${out}assets`,
  entryNames: "[name]-[hash]",
  chunkNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  publicPath: "/assets/",
  bundle: true,
  splitting: true,
  format: "esm",
  target: ["es2022", "chrome100", "firefox100", "safari15"],
  minify: true,
  jsx: "automatic",
  jsxImportSource: "preact",
  loader: { ".svg": "file" },
  metafile: true,
  plugins: [englishOnly],
  logLevel: "warning",
});

const outputs = Object.entries(result.metafile.outputs);
const entry = outputs.find(([, o]) => o.entryPoint === "web/src/main.tsx");
if (!entry) throw new Error("esbuild produced no app bundle");
const name = (path: string) => path.slice(path.lastIndexOf("/") + 1);
const icon = outputs.find(([path]) => /\/icon-[A-Z0-9]+\.svg$/.test(path));
const css = entry[1].cssBundle;
if (!icon || !css) throw new Error("the app's stylesheet or icon is missing from the build");

const html = readFileSync(`${repo}web/index.html`, "utf8")
  .replace("{{app.js}}", `/assets/${name(entry[0])}`)
  .replace("{{app.css}}", `/assets/${name(css)}`)
  .replace("{{icon}}", `/assets/${name(icon[0])}`);
writeFileSync(`${out}index.html`, html);

let raw = 0;
let br = 0;
for (const file of readdirSync(`${out}assets`)) {
  const path = `${out}assets/${file}`;
  const body = readFileSync(path);
  const b = brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: body.length } });
  writeFileSync(`${path}.br`, b);
  writeFileSync(`${path}.gz`, gzipSync(body, { level: 9 }));
  raw += statSync(path).size;
  br += b.length;
}
process.stdout.write(`web: dist/web built: ${(raw / 1024).toFixed(0)} KiB of assets, ${(br / 1024).toFixed(0)} KiB with brotli\n`);
