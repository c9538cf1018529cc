import { createReadStream, existsSync, statSync, watch } from "node:fs";
import type { Command } from "commander";
import { NotFoundError } from "../../errors.js";
import { readVm, vmPaths, isAlive } from "../../vm/state.js";

export function registerLogs(program: Command): void {
  program
    .command("logs")
    .description("print a VM's serial console log")
    .argument("<vm>", "VM name")
    .option("-f, --follow", "keep printing as the guest writes, until it stops")
    .action(async (name: string, opts: { follow?: boolean }) => {
      const cfg = readVm(name);
      const file = vmPaths(name).consoleLog;
      if (!existsSync(file)) throw new NotFoundError(`VM "${name}" has no console log yet.`);
      let pos = 0;
      const drain = async () => {
        const size = statSync(file).size;
        if (size <= pos) return;
        await new Promise<void>((resolve) =>
          createReadStream(file, { start: pos, end: size - 1 })
            .on("end", resolve)
            .pipe(process.stdout, { end: false }),
        );
        pos = size;
      };
      await drain();
      if (!opts.follow) return;
      const watcher = watch(file, () => void drain());
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (!isAlive(cfg.pid)) {
            clearInterval(timer);
            resolve();
          }
        }, 500);
        process.once("SIGINT", () => (clearInterval(timer), resolve()));
      });
      watcher.close();
      await drain();
    });
}
