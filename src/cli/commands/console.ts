import net from "node:net";
import type { Command } from "commander";
import { sandboxConsoleSocket } from "../../sdk/index.js";

export function registerConsole(program: Command): void {
  program
    .command("console")
    .description("attach this terminal to a VM's serial console (detach with Ctrl-])")
    .argument("<vm>", "VM name")
    .action(async (name: string) => {
      const sock = net.connect(sandboxConsoleSocket(name));
      await new Promise<void>((resolve, reject) => {
        sock.once("connect", resolve);
        sock.once("error", reject);
      });
      process.stderr.write(`plinth: connected to ${name}'s console; Ctrl-] detaches\n`);
      const raw = process.stdin.isTTY;
      if (raw) process.stdin.setRawMode(true);
      process.stdin.on("data", (b: Buffer) => {
        if (b.includes(0x1d)) sock.end();
        else sock.write(b);
      });
      sock.pipe(process.stdout);
      await new Promise<void>((resolve) => sock.once("close", () => resolve()));
      if (raw) process.stdin.setRawMode(false);
      process.stdin.pause();
    });
}
