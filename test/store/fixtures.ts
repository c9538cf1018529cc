import { spawn, type ChildProcess } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  openSync,
  truncateSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import { isAlive } from "../../src/vm/state.js";
import { slotDir } from "../../src/store/images.js";
import { fakeMetadata, tempFiles } from "../helpers.js";

/** Temp PLINTH_HOME and PLINTH_CACHE for one test; returns a restore function. */
export function tempStore(): { home: string; cache: string; restore: () => void } {
  const saved = { home: process.env.PLINTH_HOME, cache: process.env.PLINTH_CACHE };
  const [home, cache] = [tempFiles({}), tempFiles({})];
  Object.assign(process.env, { PLINTH_HOME: home, PLINTH_CACHE: cache });
  const put = (k: string, v: string | undefined) =>
    v === undefined ? delete process.env[k] : (process.env[k] = v);
  return {
    home,
    cache,
    restore: () => (put("PLINTH_HOME", saved.home), put("PLINTH_CACHE", saved.cache)),
  };
}

/**
 * A store slot as a build leaves it: metadata.json, SHA256SUMS, and a sparse rootfs of
 * 64 MiB apparent size with `dataKiB` written. `age` seconds old (listSlots' tie-break).
 */
export function slot(
  name: string,
  version: string,
  hashChar: string,
  o: { age?: number; dataKiB?: number } = {},
) {
  const buildHash = hashChar.repeat(64);
  const dir = slotDir(name, version, buildHash);
  mkdirSync(dir, { recursive: true });
  const rootfs = path.join(dir, "rootfs.ext4");
  const fd = openSync(rootfs, "w");
  writeSync(fd, Buffer.alloc((o.dataKiB ?? 8) * 1024, 1));
  closeSync(fd);
  truncateSync(rootfs, 64 * 1024 * 1024);
  const meta = fakeMetadata({ name, version, buildHash });
  writeFileSync(path.join(dir, "SHA256SUMS"), `${"a".repeat(64)}  rootfs.ext4\n`);
  const file = path.join(dir, "metadata.json");
  writeFileSync(file, JSON.stringify(meta));
  const t = Date.now() / 1000 - (o.age ?? 0);
  utimesSync(file, t, t);
  return dir;
}

/** A VM's state: running (a live pid whose cmdline says qemu-system) or stopped and kept. */
export function vm(home: string, name: string, image: string, pid?: number): void {
  const dir = path.join(home, "vms", name);
  mkdirSync(dir, { recursive: true });
  const config = {
    name,
    image,
    imageName: path.basename(path.dirname(image)),
    imageVersion: "0.1.0",
    accel: "tcg",
    memMiB: 512,
    cpus: 1,
    detached: true,
    created: "2026-12-02T00:00:00.000Z",
    ...(pid ? { pid, status: "running" } : { status: "exited" }),
  };
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
}

/** A process isAlive() takes for QEMU. Kill it after. */
export async function fakeQemu(): Promise<ChildProcess & { pid: number }> {
  const child = spawn("bash", ["-c", "exec -a qemu-system-fake sleep 60"], { stdio: "ignore" });
  await new Promise((r) => child.once("spawn", r));
  // Until bash has exec'd, the cmdline is bash's.
  for (let i = 0; i < 100 && !isAlive(child.pid); i++) await new Promise((r) => setTimeout(r, 20));
  return child as ChildProcess & { pid: number };
}
