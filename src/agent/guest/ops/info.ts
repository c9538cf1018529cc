import { readdir, readFile } from "node:fs/promises";
import os from "node:os";
import { PROTOCOL_VERSION } from "../../protocol/constants.js";
import type { AgentInfo } from "../../protocol/messages.js";
import type { Args } from "../args.js";
import type { AgentEnv } from "../env.js";
import type { Request } from "../request.js";

/** KEY=value lines, values optionally quoted (os-release(5)). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let value = m[2]!;
    const q = value[0];
    if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) {
      value = value.slice(1, -1);
      if (q === '"') value = value.replace(/\\(["\\`$])/g, "$1");
    }
    out[m[1]!] = value;
  }
  return out;
}

async function readFirst(files: string[]): Promise<string> {
  for (const file of files) {
    try {
      return await readFile(file, "utf8");
    } catch {
      // Try the next one.
    }
  }
  return "";
}

/** MemAvailable from /proc/meminfo: what the kernel can give without swapping. */
async function memAvailable(fallback: number): Promise<number> {
  const text = await readFirst(["/proc/meminfo"]);
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(text);
  return m ? Number(m[1]) * 1024 : fallback;
}

/** Zombie children of this process: /proc/<pid>/stat with state Z and our pid as parent. */
async function countZombies(): Promise<number> {
  let count = 0;
  let pids: string[];
  try {
    pids = (await readdir("/proc")).filter((name) => /^\d+$/.test(name));
  } catch {
    return 0;
  }
  await Promise.all(
    pids.map(async (pid) => {
      try {
        const stat = await readFile(`/proc/${pid}/stat`, "utf8");
        // The command may contain spaces and parentheses; fields resume after the last ")".
        const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (state === "Z" && Number(ppid) === process.pid) count++;
      } catch {
        // Exited meanwhile.
      }
    }),
  );
  return count;
}

export async function info(_request: Request, _args: Args, env: AgentEnv): Promise<AgentInfo> {
  const free = os.freemem();
  return {
    agent: {
      version: env.version,
      protocol: { ...PROTOCOL_VERSION },
      node: process.version,
      pid: process.pid,
      pid1: process.pid === 1,
      uptimeS: (performance.now() - env.startedAt) / 1000,
    },
    hostname: os.hostname(),
    kernel: { release: os.release(), version: os.version(), arch: os.arch() },
    uptimeS: os.uptime(),
    cpus: os.cpus().length,
    memory: {
      totalBytes: os.totalmem(),
      freeBytes: free,
      availableBytes: await memAvailable(free),
    },
    loadavg: os.loadavg(),
    osRelease: parseOsRelease(await readFirst(env.osReleaseFiles)),
    zombies: await countZombies(),
  };
}
