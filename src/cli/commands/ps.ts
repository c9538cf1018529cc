import type { Command } from "commander";
import { listSandboxes } from "../../sdk/index.js";
import { makeContext } from "../context.js";

export function registerPs(program: Command): void {
  program
    .command("ps")
    .description("list running VMs (with -a also stopped ones whose state was kept)")
    .option("-a, --all", "include stopped VMs")
    .option("--json", "machine-readable output")
    .action(async (opts: { all?: boolean; json?: boolean }) => {
      const ctx = makeContext(!!opts.json);
      const vms = await listSandboxes({ all: !!opts.all });
      const rows = vms.map((v) =>
        [
          v.name.padEnd(24),
          `${v.imageName}:${v.imageVersion}`.padEnd(36),
          (v.running ? "running" : "exited").padEnd(8),
          v.accel.padEnd(5),
          (v.network?.ip ?? "").padEnd(15),
          String(v.pid ?? "").padEnd(8),
          v.created,
        ].join(" "),
      );
      ctx.result(
        [
          [
            "NAME".padEnd(24),
            "IMAGE".padEnd(36),
            "STATUS".padEnd(8),
            "ACCEL",
            "ADDRESS".padEnd(15),
            "PID".padEnd(8),
            "CREATED",
          ].join(" "),
          ...rows,
        ],
        vms,
      );
    });
}
