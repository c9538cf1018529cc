import type { Command } from "commander";
import { readVm, removeVm } from "../../vm/state.js";
import { Machine } from "../../vm/machine.js";
import { makeContext } from "../context.js";

export function registerStop(program: Command): void {
  program
    .command("stop")
    .description("stop a VM (agent shutdown, then ACPI power-off, then kill) and remove its state")
    .argument("<vm...>", "VM names")
    .option("--keep", "keep the VM's state (overlay, console log) for `plinth logs` / `ps -a`")
    .option("-t, --timeout <seconds>", "time for a clean shutdown before killing", "30")
    .action(async (names: string[], opts: { keep?: boolean; timeout: string }) => {
      const ctx = makeContext(false);
      const lines: string[] = [];
      for (const name of names) {
        readVm(name); // a clear error for an unknown name
        let how = "gone";
        try {
          const vm = await Machine.attach(name);
          how = await vm.stop(Number(opts.timeout) * 1000);
        } catch {
          // not running any more: only its state is left
        }
        if (!opts.keep) await removeVm(name);
        lines.push(`${name}: ${how === "gone" ? "was not running" : `stopped (${how})`}`);
      }
      ctx.result(lines, {});
    });
}
