import { once } from "node:events";
import { StringDecoder } from "node:string_decoder";
import { createReadStream, existsSync, readFileSync, statSync, watch } from "node:fs";
import type { Command } from "commander";
import { NotFoundError } from "../../errors.js";
import { isSandboxRunning, sandboxLogPath } from "../../sdk/index.js";
import { makeContext } from "../context.js";

export function registerLogs(program: Command): void {
  program
    .command("logs")
    .description("print a VM's serial console log")
    .argument("<vm>", "VM name")
    .option("-f, --follow", "keep printing as the guest writes, until it stops")
    .option("--json", "print {name, log}; with -f, one {name, line} per console line")
    .action(async (name: string, opts: { follow?: boolean; json?: boolean }) => {
      const ctx = makeContext(!!opts.json);
      const file = sandboxLogPath(name);
      if (!existsSync(file)) throw new NotFoundError(`VM "${name}" has no console log yet.`);
      if (opts.json && !opts.follow) {
        ctx.result([], { name, log: readFileSync(file, "utf8") });
        return;
      }
      const write = async (text: string | Buffer) => {
        if (!process.stdout.write(text)) await once(process.stdout, "drain");
      };
      // --json -f: whole lines only (a partial one waits for its end, or for the VM to stop).
      const decoder = new StringDecoder("utf8");
      let partial = "";
      const line = (text: string) => JSON.stringify({ name, line: text.replace(/\r$/, "") }) + "\n";
      const emit = async (chunk: Buffer) => {
        if (!opts.json) return write(chunk);
        const lines = (partial + decoder.write(chunk)).split("\n");
        partial = lines.pop()!;
        for (const l of lines) await write(line(l));
      };
      let pos = 0;
      const drain = async () => {
        let size: number;
        try {
          size = statSync(file).size;
        } catch {
          return; // removed with the VM's state
        }
        if (size <= pos) return;
        for await (const chunk of createReadStream(file, { start: pos, end: size - 1 }))
          await emit(chunk as Buffer);
        pos = size;
      };
      // Drains run one after the other, however fast the watcher fires.
      let queue = drain();
      const kick = () => (queue = queue.then(drain));
      await queue;
      if (!opts.follow) return;
      const watcher = watch(file, kick).on("error", () => undefined);
      await new Promise<void>((resolve) => {
        const done = () => (clearInterval(timer), resolve());
        const timer = setInterval(() => !isSandboxRunning(name) && done(), 500);
        ctx.signal.addEventListener("abort", done, { once: true }); // Ctrl-C
      });
      watcher.close();
      await kick();
      partial += decoder.end();
      if (opts.json && partial) await write(line(partial));
    });
}
