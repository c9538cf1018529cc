#!/usr/bin/env node
// bench/agent: what the agent costs an image and a guest, in one run:
//   - the stripped agent binary (both architectures);
//   - used blocks of examples/minimal.yaml's rootfs.ext4, against the same spec with the
//     runtime the Node.js agent needed (nodejs, tini) added back: the difference is what
//     every image paid for the agent before it was one static binary;
//   - the agent's resident memory in the booted guest, idle.
//
//   sudo npm run bench:agent
import { statSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { privateHome, root } from "./lib.mjs";

privateHome();
const { ensureImage, Sandbox } = await import("../dist/index.js");
const MiB = 1024 ** 2;
const minimal = path.join(root, "examples/minimal.yaml");

/** Used bytes of an ext4 image: (block count - free blocks) x block size. */
async function usedBytes(ext4) {
  const { stdout } = await execa("dumpe2fs", ["-h", ext4]);
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(stdout)[1]);
  return (field("Block count") - field("Free blocks")) * field("Block size");
}

for (const arch of ["amd64", "arm64"]) {
  const bytes = statSync(path.join(root, "dist/guest", `plinth-agent-linux-${arch}`)).size;
  console.log(
    `agent binary linux/${arch}`.padEnd(40),
    `${(bytes / MiB).toFixed(2)} MiB (target <= 6 MiB)`,
  );
}

const now = await ensureImage({ specFile: minimal });
const withNode = await ensureImage({
  specFile: minimal,
  sets: ["packages=[ca-certificates, nodejs, tini]"],
});
const [a, b] = await Promise.all(
  [now, withNode].map((i) => usedBytes(path.join(i.imageDir, "rootfs.ext4"))),
);
console.log("minimal rootfs.ext4 used".padEnd(40), `${(a / MiB).toFixed(1)} MiB`);
console.log(
  "  with the Node agent's runtime".padEnd(40),
  `${(b / MiB).toFixed(1)} MiB   ${((b - a) / MiB).toFixed(1)} MiB smaller now (target >= 90 MB)`,
);

const sb = await Sandbox.start(now.imageDir);
try {
  await new Promise((r) => setTimeout(r, 3000)); // idle: past the boot's own work
  const rss = (await sb.exec("grep VmRSS /proc/1/status")).stdout.trim();
  const kib = Number(/(\d+)/.exec(rss)[1]);
  console.log(
    "agent idle RSS in the guest (PID 1)".padEnd(40),
    `${(kib / 1024).toFixed(1)} MiB (target <= 10 MiB)`,
  );
} finally {
  await sb.stop();
}
