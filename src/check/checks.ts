import { bakedIdentity } from "../image/identity.js";
import { unitFileName, yesNo } from "../spec/normalize.js";
import { parseMode, type Spec } from "../spec/schema.js";
import {
  equals,
  limitCheck,
  norm,
  q,
  type Check,
  type CheckContext,
  type Scalar,
} from "./check.js";
import { configChecks } from "./config-checks.js";

export type { Check, CheckContext, CheckOutcome } from "./check.js";

/** sshd -T prints booleans as yes/no and lowercases keywords. */
const sshdValue = (v: Scalar | string[]) => (Array.isArray(v) ? v.join(" ") : yesNo(v));

type FileType = "file" | "dir" | "symlink";

/** stat's %F, as a spec names file types. */
const fileType = (f: string): string =>
  f.startsWith("regular")
    ? "file"
    : f === "directory"
      ? "dir"
      : f === "symbolic link"
        ? "symlink"
        : f;

/** A path that exists, and has the type, mode and owner asked for (only those asked for). */
function fileCheck(
  group: string,
  path: string,
  want: { type?: FileType; mode?: number; owner?: string },
): Check {
  const described = (type?: string, mode?: string, owner?: string) =>
    [type, mode, owner].filter(Boolean).join(" ") || "exists";
  const expected = described(want.type, want.mode?.toString(8).padStart(3, "0"), want.owner);
  return equals(group, path, expected, `stat -c '%F|%a|%U:%G' ${q(path)}`, (out) => {
    const [type = "", mode, owner = ""] = out.trim().split("|");
    return described(
      want.type && fileType(type),
      want.mode === undefined ? undefined : mode,
      want.owner && (want.owner.includes(":") ? owner : owner.split(":")[0]),
    );
  });
}

/** Keywords sshd -T prints under another name, and ones it no longer prints at all. */
const SSHD_ALIASES: Record<string, string | null> = {
  challengeresponseauthentication: "kbdinteractiveauthentication",
  protocol: null, // SSH protocol 1 was removed in OpenSSH 7.4; the keyword is ignored
};

/** Values sshd -T prints under their older name. */
const SSHD_VALUE_ALIASES: Record<string, string> = { "prohibit-password": "without-password" };

function sshdChecks(group: string, settings: Record<string, Scalar | string[]>): Check[] {
  const effective = Object.entries(settings).flatMap(([key, value]) => {
    const alias = SSHD_ALIASES[key.toLowerCase()];
    return alias === null ? [] : [[alias ?? key, value] as const];
  });
  return effective.map(([key, value]) => {
    const expected = norm(sshdValue(value)).toLowerCase();
    const canonical = (v: string) => SSHD_VALUE_ALIASES[v] ?? v;
    return equals(
      group,
      `sshd ${key}`,
      canonical(expected),
      // sshd -T needs its privilege separation dir, which only its service creates.
      `mkdir -p /run/sshd && /usr/sbin/sshd -T`,
      // List keywords (AllowUsers, …) come out one line per item.
      (out) =>
        canonical(
          out
            .split("\n")
            .filter((l) => l.startsWith(`${key.toLowerCase()} `))
            .map((l) => l.slice(key.length + 1))
            .join(" ")
            .toLowerCase(),
        ),
    );
  });
}

function sysctlChecks(group: string, values: Record<string, Scalar>): Check[] {
  return Object.entries(values).map(([key, value]) =>
    equals(
      group,
      `sysctl ${key}`,
      norm(String(typeof value === "boolean" ? Number(value) : value)),
      `cat /proc/sys/${key.replaceAll(".", "/")}`,
    ),
  );
}

function listening(ports: string): Set<number> {
  const out = new Set<number>();
  for (const line of ports.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[3] === "0A") out.add(parseInt(f[1]!.split(":").pop()!, 16)); // 0A: LISTEN
  }
  return out;
}

function portCheck(port: number, open: boolean): Check {
  return {
    group: "ports",
    name: `port ${port}`,
    expected: open ? "listening" : "closed",
    async run(ctx) {
      const r = await ctx.sh("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null");
      const actual = listening(r.stdout).has(port) ? "listening" : "closed";
      return { ok: actual === (open ? "listening" : "closed"), actual };
    },
  };
}

function ufwChecks(fw: NonNullable<Spec["firewall"]>): Check[] {
  const status = "ufw status verbose";
  const checks = [
    equals("firewall", "ufw", "active", status, (o) => /^Status: (\w+)/m.exec(o)?.[1] ?? o),
    equals(
      "firewall",
      "default policies",
      `${fw.incoming} (incoming), ${fw.outgoing} (outgoing)`,
      status,
      (o) => /^Default: (.*?)(, \w+ \(routed\))?$/m.exec(o)?.[1] ?? o,
    ),
  ];
  for (const a of fw.allow) {
    const port = `${String(a.port).replace("-", ":")}/${a.proto}`;
    checks.push({
      group: "firewall",
      name: `allow ${port}${a.from ? ` from ${a.from}` : ""}`,
      expected: "rule present",
      async run(ctx) {
        const r = await ctx.sh(status);
        // "8080/tcp   ALLOW IN   10.0.0.0/8" (the IPv6 twin says "(v6)" after both)
        const from = a.from ?? "Anywhere";
        const ok = r.stdout
          .split("\n")
          .some((l) => l.startsWith(`${port} `) && / ALLOW IN /.test(l) && l.trim().endsWith(from));
        return { ok, actual: ok ? "rule present" : "no such rule" };
      },
    });
  }
  return checks;
}

const exists = (group: string, db: "passwd" | "group", name: string): Check =>
  equals(
    group,
    `${db === "passwd" ? "user" : "group"} ${name}`,
    "exists",
    `getent ${db} ${q(name)} >/dev/null && echo exists || echo missing`,
  );

/**
 * Everything the spec declares, plus its `validate:` section, as checks to run in the
 * booted guest through the agent.
 */
export function planChecks(spec: Spec): Check[] {
  const checks: Check[] = [];
  const v = spec.validate;
  const systemd = spec.init === "systemd";

  // Boot and idle limits.
  const bootTimes = [
    ["agent_ready_ms", "boot-to-agent-ready", (c: CheckContext) => [c.bootMs, ""]],
    ["all_services_ms", "boot-to-all-services", (c) => [c.allServicesMs, `, ${c.systemState}`]],
  ] as const satisfies readonly [string, string, (c: CheckContext) => [number, string]][];
  for (const [key, name, measure] of bootTimes) {
    const limit = v?.boot?.[key];
    if (limit === undefined) continue;
    const o = {
      limit,
      tcgLimit: v?.boot?.tcg?.[key],
      unit: " ms",
      tcgKey: `validate.boot.tcg.${key}`,
    };
    checks.push(
      limitCheck("boot", name, o, async (ctx) => {
        const [ms, more] = measure(ctx);
        return { value: ms, actual: `${Math.round(ms)} ms${more}` };
      }),
    );
  }
  if (v?.boot?.all_services_ms !== undefined) {
    // Whether every unit came up is not a matter of speed: judged on any accelerator.
    checks.push({
      group: "boot",
      name: "system state",
      expected: "running",
      run: async (ctx) => ({ ok: ctx.systemState === "running", actual: ctx.systemState }),
    });
  }
  checks.push({
    group: "image",
    name: "per-machine identity (SSH host keys, machine id, seeds)",
    expected: "none in the image",
    async run(ctx) {
      const found = await bakedIdentity(ctx.rootfsFile);
      return {
        ok: found.length === 0,
        actual: found.length ? found.join(", ") : "none in the image",
      };
    },
  });
  if (v?.rootfs_max_mib !== undefined) {
    const limit = v.rootfs_max_mib;
    checks.push({
      group: "image",
      name: "rootfs.ext4 size",
      expected: `<= ${limit} MiB`,
      run: async (ctx) => ({
        ok: ctx.rootfsBytes <= limit * 1024 * 1024,
        actual: `${Math.round(ctx.rootfsBytes / 1024 / 1024)} MiB`,
      }),
    });
  }
  if (v?.idle?.memory_mib !== undefined) {
    const limit = v.idle.memory_mib;
    checks.push({
      group: "idle",
      name: "memory in use",
      expected: `<= ${limit} MiB`,
      async run(ctx) {
        const r = await ctx.sh("sleep 2; cat /proc/meminfo");
        const kb = (k: string) =>
          Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(r.stdout)?.[1] ?? NaN);
        const used = (kb("MemTotal") - kb("MemAvailable")) / 1024;
        return { ok: used <= limit, actual: `${used.toFixed(0)} MiB` };
      },
    });
  }
  if (v?.idle?.cpu_percent !== undefined) {
    const o = {
      limit: v.idle.cpu_percent,
      tcgLimit: v.idle.tcg?.cpu_percent,
      unit: "%",
      tcgKey: "validate.idle.tcg.cpu_percent",
    };
    checks.push(
      limitCheck("idle", "CPU use over 10 s", o, async (ctx) => {
        // After 5 s of quiet, over 10 s; `read` is a builtin, so the only process the
        // measurement adds is the sleep (a fork costs tens of ms under TCG).
        const r = await ctx.sh(
          "sleep 5; read -r a < /proc/stat; sleep 10; read -r b < /proc/stat; " +
            'echo "$a"; echo "$b"',
        );
        const [a, b] = r.stdout
          .trim()
          .split("\n")
          .map((l) => l.split(/\s+/).slice(1).map(Number));
        const total = (x: number[]) => x.reduce((s, n) => s + n, 0);
        const idle = (x: number[]) => x[3]! + (x[4] ?? 0);
        const busy = 100 * (1 - (idle(b!) - idle(a!)) / (total(b!) - total(a!)));
        return { value: busy, actual: `${busy.toFixed(1)}%` };
      }),
    );
  }

  // What the spec declares.
  for (const u of spec.users) {
    checks.push(exists("users", "passwd", u.name));
    if (u.uid !== undefined)
      checks.push(equals("users", `${u.name} uid`, String(u.uid), `id -u ${q(u.name)}`));
  }
  for (const g of spec.groups) checks.push(exists("groups", "group", g.name));
  // A directory that something is mounted on shows the mount's mode, not its own.
  const mountTargets = new Set((spec.mounts ?? []).map((m) => m.target));
  for (const d of spec.directories.filter((d) => !mountTargets.has(d.path))) {
    checks.push(
      fileCheck("directories", d.path, { mode: parseMode(d.mode, 0o755), owner: d.owner }),
    );
  }
  for (const f of spec.files)
    checks.push(fileCheck("files", f.path, { mode: parseMode(f.mode, 0o644), owner: f.owner }));
  if (spec.hostname)
    checks.push(equals("system", "hostname", spec.hostname, "cat /proc/sys/kernel/hostname"));
  if (spec.timezone) checks.push(equals("system", "timezone", spec.timezone, "cat /etc/timezone"));
  if (systemd) {
    const states: [string[] | undefined, string][] = [
      [spec.services.enable, "enabled"],
      [spec.services.disable, "disabled"],
      [spec.services.mask, "masked"],
    ];
    for (const [names, state] of states) {
      for (const n of names ?? [])
        checks.push(
          equals(
            "services",
            `${unitFileName(n)} ${state}`,
            state,
            // A unit the image does not have cannot start: as good as disabled.
            `systemctl is-enabled ${q(unitFileName(n))} || true`,
            (out) => (state === "disabled" && /not-found|^$/.test(out.trim()) ? "disabled" : out),
          ),
        );
    }
  }
  checks.push(...configChecks(spec));
  if (spec.ssh) checks.push(...sshdChecks("ssh", spec.ssh));
  if (spec.sysctl) checks.push(...sysctlChecks("sysctl", spec.sysctl));
  if (spec.firewall?.backend === "ufw") checks.push(...ufwChecks(spec.firewall));
  else if (spec.firewall) {
    const fw = spec.firewall;
    checks.push({
      group: "firewall",
      name: "input policy",
      expected: fw.incoming === "deny" ? "drop" : "accept",
      async run(ctx) {
        const r = await ctx.sh("nft list chain inet plinth input");
        const actual = /policy (\w+);/.exec(r.stdout)?.[1] ?? `(no ruleset: ${norm(r.stderr)})`;
        return { ok: actual === (fw.incoming === "deny" ? "drop" : "accept"), actual };
      },
    });
    for (const a of fw.allow) {
      const port = String(a.port).replace(":", "-");
      checks.push({
        group: "firewall",
        name: `allow ${a.proto}/${port}`,
        expected: "rule present",
        async run(ctx) {
          const r = await ctx.sh("nft list chain inet plinth input");
          const ok = new RegExp(`${a.proto} dport ${port} accept`).test(r.stdout);
          return { ok, actual: ok ? "rule present" : "no such rule" };
        },
      });
    }
  }
  for (const m of spec.mounts ?? []) {
    checks.push(
      equals(
        "mounts",
        m.target,
        m.type,
        "cat /proc/mounts",
        (out) =>
          out
            .split("\n")
            .map((l) => l.split(" "))
            .find((f) => f[1] === m.target)?.[2] ?? "not mounted",
      ),
    );
  }

  // The validate: section.
  for (const c of v?.commands ?? []) {
    const { run: cmd, expect } = typeof c === "string" ? { run: c, expect: undefined } : c;
    checks.push({
      group: "commands",
      name: cmd,
      expected: expect ? `exit 0, prints "${expect}"` : "exit 0",
      async run(ctx) {
        const r = await ctx.sh(cmd);
        const out = norm(r.stdout || r.stderr).slice(0, 80);
        return {
          ok: r.exitCode === 0 && (!expect || (r.stdout + r.stderr).includes(expect)),
          actual: `exit ${r.exitCode}: ${out}`,
        };
      },
    });
  }
  for (const f of v?.files ?? [])
    checks.push(
      fileCheck("validate files", f.path, {
        type: f.type,
        mode: f.mode === undefined ? undefined : parseMode(f.mode, 0),
        owner: f.owner,
      }),
    );
  for (const n of v?.services?.active ?? [])
    checks.push(
      equals("validate services", `${n} active`, "active", `systemctl is-active ${q(n)}`),
    );
  for (const n of v?.services?.inactive ?? [])
    checks.push(
      equals(
        "validate services",
        `${n} inactive`,
        "inactive",
        `systemctl is-active ${q(n)} || true`,
      ),
    );
  if (v?.sshd) checks.push(...sshdChecks("validate sshd", v.sshd));
  if (v?.sysctl) checks.push(...sysctlChecks("validate sysctl", v.sysctl));
  for (const p of v?.ports?.listening ?? []) checks.push(portCheck(p, true));
  for (const p of v?.ports?.closed ?? []) checks.push(portCheck(p, false));
  for (const u of v?.users ?? []) checks.push(exists("validate users", "passwd", u));
  for (const g of v?.groups ?? []) checks.push(exists("validate groups", "group", g));
  return checks;
}
