import net from "node:net";
import { PlinthError } from "../../errors.js";

/**
 * A minimal QMP client: QEMU's JSON control protocol on a Unix socket. One command at a
 * time is all plinth needs (power-off, quit, status).
 */
export class Qmp {
  private buf = "";
  private waiters: ((msg: Record<string, unknown>) => void)[] = [];

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf("\n")) >= 0) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as Record<string, unknown>;
        if ("event" in msg) continue;
        this.waiters.shift()?.(msg);
      }
    });
    sock.on("error", () => this.flush());
    sock.on("close", () => this.flush());
  }

  static async connect(path: string, timeoutMs = 5000): Promise<Qmp> {
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(path);
      const t = setTimeout(
        () => (s.destroy(), reject(new PlinthError("QMP", `QMP at ${path} did not answer`))),
        timeoutMs,
      );
      s.once("connect", () => (clearTimeout(t), resolve(s)));
      s.once("error", (e) => (clearTimeout(t), reject(e)));
    });
    const qmp = new Qmp(sock);
    await qmp.next(); // greeting
    await qmp.execute("qmp_capabilities");
    return qmp;
  }

  private next(): Promise<Record<string, unknown>> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private flush(): void {
    for (const w of this.waiters.splice(0)) w({ error: { desc: "QMP connection closed" } });
  }

  async execute(command: string, args?: object): Promise<unknown> {
    const reply = this.next();
    this.sock.write(
      JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) }) + "\n",
    );
    const msg = await reply;
    if (msg.error)
      throw new PlinthError("QMP", `QMP ${command}: ${(msg.error as { desc: string }).desc}`);
    return msg.return;
  }

  close(): void {
    this.sock.destroy();
  }
}
