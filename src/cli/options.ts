import { InvalidArgumentError } from "commander";
import { UserError } from "../errors.js";
import { isRegistryRef, parseRegistryRef } from "../registry/index.js";
import type { NetOptions } from "../vm/machine.js";

/** Commander helper for repeatable options. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

export function accelOption(value: string): "auto" | "kvm" | "tcg" {
  if (value !== "auto" && value !== "kvm" && value !== "tcg")
    throw new InvalidArgumentError("expected auto, kvm or tcg");
  return value;
}

export function bootOption(value: string): "kernel" | "disk" {
  if (value !== "kernel" && value !== "disk")
    throw new InvalidArgumentError("expected kernel or disk");
  return value;
}

export function vmmOption(value: string): "qemu" | "firecracker" {
  if (value !== "qemu" && value !== "firecracker")
    throw new InvalidArgumentError("expected qemu or firecracker");
  return value;
}

/** `--boot`'s help, shared by run and check. */
export const BOOT_HELP =
  "kernel (the image's kernel on microvm) or disk (its UEFI disk under OVMF on q35)";

/** A TCP port on the host's 127.0.0.1 forwarded to the guest. */
export interface Forward {
  host: number;
  guest: number;
}

/** Repeatable `-p 2222:22`. */
export function publishOption(value: string, previous: Forward[]): Forward[] {
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(value);
  const ok = (n: number) => n >= 1 && n <= 65535;
  if (!m || !ok(Number(m[1])) || !ok(Number(m[2])))
    throw new InvalidArgumentError("expected HOST:GUEST ports, e.g. 2222:22");
  return [...previous, { host: Number(m[1]), guest: Number(m[2]) }];
}

/** `--insecure`'s help: it names no registry; it applies to the one in the command's reference. */
export const INSECURE_HELP =
  "speak plain HTTP to the registry this reference names (no other registry is affected)";

/** The registry `--insecure` applies to: the one `ref` names, if it names one. */
export function insecureFor(ref: string, insecure: boolean | undefined): string[] {
  if (!insecure || !isRegistryRef(ref)) return [];
  return [parseRegistryRef(ref).registry];
}

/** `--net`, `-p` and the bridge options of `run`, as Machine's NetOptions. */
export interface NetFlags {
  net?: string | boolean;
  publish: Forward[];
  bridge?: string;
  subnet?: string;
  dns?: string;
  allowEgress: string[];
  denyEgress?: string | boolean;
}

export function netFromFlags(f: NetFlags): NetOptions | undefined {
  const mode = f.net === true ? "user" : f.net || undefined;
  const bridgeFlags = [
    f.bridge && "--bridge",
    f.subnet && "--subnet",
    f.dns && "--dns",
    f.allowEgress.length && "--allow-egress",
    f.denyEgress && "--deny-egress",
  ].filter(Boolean);
  if (mode !== undefined && mode !== "user" && mode !== "bridge")
    throw new UserError("BAD_NET", `--net takes user or bridge, not "${mode}".`, {
      hint: "Use --net (user-mode) or --net bridge.",
    });
  if (mode === "bridge" || (mode === undefined && bridgeFlags.length)) {
    if (f.publish.length)
      throw new UserError(
        "PUBLISH_ON_BRIDGE",
        "-p forwards ports of QEMU's user-mode network, not a bridge's.",
        {
          hint: "On --net bridge, reach the VM at its own address (`plinth ps` shows it).",
        },
      );
    const deny = f.denyEgress === true ? "other" : f.denyEgress || undefined;
    if (deny !== undefined && deny !== "other" && deny !== "all")
      throw new UserError("BAD_DENY", `--deny-egress takes other or all, not "${deny}".`, {
        hint: "--deny-egress refuses all but --allow-egress and DNS; --deny-egress all refuses DNS too.",
      });
    return {
      mode: "bridge",
      bridge: f.bridge,
      subnet: f.subnet,
      dns: f.dns?.split(",").filter(Boolean),
      allowEgress: f.allowEgress,
      denyEgress: deny,
    };
  }
  if (bridgeFlags.length)
    throw new UserError("BRIDGE_FLAGS", `${bridgeFlags.join(", ")} need --net bridge.`, {
      hint: "Drop --net user: the bridge options imply --net bridge.",
    });
  return mode || f.publish.length ? { forwards: f.publish } : undefined;
}

/** Options whose value is optional, with the value a bare one means, and all it may be. */
const OPTIONAL_VALUES: Record<string, string[]> = {
  "--net": ["user", "bridge"],
  "--deny-egress": ["other", "all"],
};

/**
 * Commander takes the word after an option with an optional value as that value, so
 * `plinth run --net IMAGE` would lose its image. A bare one (no value of its own next)
 * becomes `--opt=<default>` here, before commander sees it.
 */
export function presetOptionalValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") return [...out, ...argv.slice(i)];
    const values = OPTIONAL_VALUES[a];
    out.push(values && !values.includes(argv[i + 1] ?? "") ? `${a}=${values[0]}` : a);
  }
  return out;
}
