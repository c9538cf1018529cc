#!/usr/bin/env node
// Bundle the guest agent (src/agent/guest/main.ts) into one file that the guest's own
// Node.js (>= 18) runs with no node_modules: dist/plinth-agent.cjs (.cjs because this
// package is ESM; in the guest it is installed as plinth-agent.js, plain CommonJS).
// Usage: node scripts/bundle-agent.mjs [--outfile PATH]
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const at = args.indexOf("--outfile");
const outfile =
  at >= 0 && args[at + 1]
    ? path.resolve(args[at + 1])
    : path.join(root, "dist", "plinth-agent.cjs");
const { version } = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));

const result = await build({
  entryPoints: [path.join(root, "src", "agent", "guest", "main.ts")],
  outfile,
  bundle: true,
  platform: "node",
  target: "node18",
  // CommonJS: the guest's Node 18 runs a .js (or extensionless) file with no package.json
  // beside it as CommonJS.
  format: "cjs",
  banner: { js: "#!/usr/bin/env node" },
  define: { __PLINTH_AGENT_VERSION__: JSON.stringify(version) },
  // Only node: builtins may remain as imports; anything else must be bundled or fail.
  external: [],
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
});

const inputs = Object.keys(result.metafile.inputs);
const foreign = inputs.filter((file) => file.includes("node_modules"));
if (foreign.length > 0) {
  console.error(`bundle-agent: the agent must not depend on packages: ${foreign.join(", ")}`);
  process.exit(1);
}
const bytes = result.metafile.outputs[path.relative(process.cwd(), outfile)]?.bytes;
console.error(`bundle-agent: ${path.relative(root, outfile)} (${version}, ${bytes ?? "?"} bytes)`);
