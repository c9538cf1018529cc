import type { Command } from "commander";
import { doctor, fixMissing } from "../../doctor/doctor.js";
import { makeContext } from "../context.js";

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("check the host tools plinth drives and whether KVM works")
    .option("--fix", "install what is missing with apt (as root)")
    .option("--json", "machine-readable output")
    .action(async (opts: { fix?: boolean; json?: boolean }) => {
      const ctx = makeContext(!!opts.json);
      let report = await doctor();
      if (opts.fix && report.missingPackages.length) {
        ctx.renderer.onEvent({
          type: "log",
          level: "info",
          message: `installing: ${report.missingPackages.join(" ")}`,
        });
        await fixMissing(report, (line) =>
          ctx.renderer.onEvent({ type: "log", level: "debug", message: line }),
        );
        report = await doctor();
      }
      const lines = report.tools.map(
        (t) =>
          `${t.found ? "ok      " : t.optional ? "optional" : "MISSING "} ${t.name.padEnd(20)} ${(t.found ? (t.version ?? t.path ?? "") : `apt: ${t.pkg}`).slice(0, 60).padEnd(60)} ${t.usedFor}`,
      );
      const kvm =
        report.kvm.status === "usable"
          ? "KVM usable: VMs run with hardware acceleration."
          : `KVM ${report.kvm.status} (${report.kvm.reason}): TCG will be used.`;
      lines.push(kvm);
      lines.push(
        `Firecracker ${report.firecracker.usable ? "usable" : "not usable"}: ${report.firecracker.reason}${report.firecracker.path ? ` (${report.firecracker.path})` : ""}.`,
      );
      lines.push(
        `Bridge networking ${report.bridge.usable ? "usable" : "not usable"}: ${report.bridge.reason}.`,
      );
      if (report.missingPackages.length) {
        lines.push(
          `missing packages: ${report.missingPackages.join(" ")} — run \`plinth doctor --fix\` as root`,
        );
      }
      ctx.result(lines, report);
      if (report.missingPackages.length) process.exitCode = 2;
    });
}
