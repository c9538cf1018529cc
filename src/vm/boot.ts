import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { BootError } from "../errors.js";
import { noEvents, type EventSink } from "../events.js";
import { run } from "../host/exec.js";
import { requireTools } from "../host/tools.js";
import { readMetadata } from "../image/metadata.js";
import { plinthHome } from "../paths.js";
import { READY_MARKER } from "../build/customize/index.js";
import { chooseAccel, type Accel, type AccelRequest } from "./accel.js";
import { hostTscKhz, qemuArgv } from "./qemu-argv.js";

export interface BootOptions {
  imageDir: string;
  accel?: AccelRequest;
  memMiB?: number;
  cpus?: number;
  /** Give up on one attempt after this long without reaching ready. */
  readyTimeoutMs?: number;
  /** Kill and retry an attempt whose console is silent this long before ready. */
  silenceMs?: number;
  retries?: number;
  onEvent?: EventSink;
  signal?: AbortSignal;
}

export interface BootResult {
  accel: Accel;
  /** Host wall time from starting QEMU to the ready marker, for the attempt that succeeded. */
  readyMs: number;
  /** The guest's own uptime when it printed the marker. */
  guestUptimeS?: number;
  attempts: number;
  consoleTail: string;
}

/**
 * Boot an image until it reports ready on its serial console, then power it off. The
 * image is never written: the VM runs on a throwaway qcow2 overlay. A watchdog retries
 * guests that stall (console silent) before they come up, and reports the retries.
 */
export async function bootToReady(o: BootOptions): Promise<BootResult> {
  requireTools(["qemu-system-x86_64", "qemu-img"]);
  const emit = o.onEvent ?? noEvents;
  const meta = await readMetadata(o.imageDir);
  const kernel = path.join(o.imageDir, "vmlinuz");
  const accel = await chooseAccel(o.accel ?? "auto", kernel);
  const retries = o.retries ?? 2;
  const vmsDir = path.join(plinthHome(), "vms");
  await mkdir(vmsDir, { recursive: true });
  const state = await mkdtemp(path.join(vmsDir, `${meta.name}-`));
  try {
    const disk = path.join(state, "overlay.qcow2");
    await run(
      [
        "qemu-img",
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "raw",
        "-b",
        path.join(o.imageDir, "rootfs.ext4"),
        disk,
      ],
      { stage: "boot" },
    );
    const argv = qemuArgv({
      accel,
      kernel,
      initrd: meta.artifacts.some((a) => a.kind === "initrd")
        ? path.join(o.imageDir, "initrd.img")
        : undefined,
      cmdline: meta.kernel.cmdline,
      disk,
      memMiB: o.memMiB ?? 1024,
      cpus: o.cpus ?? 1,
      tscKhz: hostTscKhz(),
    });
    let last = "";
    for (let attempt = 1; attempt <= retries + 1; attempt++) {
      const r = await attemptBoot(argv, path.join(state, "console.log"), o);
      last = r.consoleTail;
      if (r.ok)
        return {
          accel,
          readyMs: r.readyMs,
          guestUptimeS: r.guestUptimeS,
          attempts: attempt,
          consoleTail: r.consoleTail,
        };
      if (o.signal?.aborted) break;
      emit({
        type: "log",
        level: "warn",
        message: `boot attempt ${attempt} failed (${r.why}); ${attempt <= retries ? "retrying" : "giving up"}`,
      });
    }
    throw new BootError(
      `The guest did not reach ready after ${retries + 1} attempts.`,
      `Last console lines:\n${last}`,
    );
  } finally {
    await rm(state, { recursive: true, force: true });
  }
}

type Attempt =
  | { ok: true; readyMs: number; guestUptimeS?: number; consoleTail: string }
  | { ok: false; why: string; consoleTail: string };

async function attemptBoot(argv: string[], consoleLog: string, o: BootOptions): Promise<Attempt> {
  const readyTimeoutMs = o.readyTimeoutMs ?? 180_000;
  const silenceMs = o.silenceMs ?? 45_000;
  const log = createWriteStream(consoleLog);
  const t0 = performance.now();
  // Killed with the signal, and with us: QEMU never outlives this call.
  const child = execa(argv[0]!, argv.slice(1), {
    reject: false,
    cancelSignal: o.signal,
    cleanup: true,
    stdin: "ignore",
  });
  let buf = "";
  let lastOutput = performance.now();
  const tail = () => buf.split("\n").slice(-15).join("\n");
  try {
    return await new Promise<Attempt>((resolve) => {
      const watchdog = setInterval(() => {
        const now = performance.now();
        if (now - lastOutput > silenceMs)
          resolve({
            ok: false,
            why: `console silent for ${silenceMs / 1000} s`,
            consoleTail: tail(),
          });
        else if (now - t0 > readyTimeoutMs)
          resolve({
            ok: false,
            why: `not ready after ${readyTimeoutMs / 1000} s`,
            consoleTail: tail(),
          });
      }, 500);
      child.stdout?.on("data", (chunk: Buffer) => {
        lastOutput = performance.now();
        log.write(chunk);
        buf = (buf + chunk.toString("utf8")).slice(-64 * 1024);
        const m = new RegExp(`${READY_MARKER} ([\\d.]+)`).exec(buf);
        if (m) {
          clearInterval(watchdog);
          resolve({
            ok: true,
            readyMs: performance.now() - t0,
            guestUptimeS: Number(m[1]),
            consoleTail: tail(),
          });
        }
      });
      void child.then((r) => {
        clearInterval(watchdog);
        resolve({
          ok: false,
          why: `qemu exited (${r.exitCode ?? r.signal}): ${String(r.stderr).split("\n")[0]}`,
          consoleTail: tail(),
        });
      });
    });
  } finally {
    child.kill("SIGTERM");
    await child;
    log.end();
  }
}
