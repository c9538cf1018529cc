import { InvalidArgumentError } from "commander";
import { isRegistryRef, parseRegistryRef } from "../registry/index.js";

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
