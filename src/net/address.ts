import { UserError } from "../errors.js";

/** An IPv4 network: its base address (as a number) and prefix length. */
export interface Cidr {
  base: number;
  prefix: number;
}

export function parseIpv4(s: string): number | undefined {
  const parts = s.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) < 256))
    return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

/** `A.B.C.D[/P]` (no prefix: a single address, /32); undefined when it is not one. */
export function tryCidr(s: string): Cidr | undefined {
  const [addr, len, ...rest] = s.split("/");
  const ip = parseIpv4(addr ?? "");
  const prefix = len === undefined ? 32 : /^\d{1,2}$/.test(len) ? Number(len) : NaN;
  if (ip === undefined || rest.length || !(prefix >= 0 && prefix <= 32)) return undefined;
  return { base: (ip & mask(prefix)) >>> 0, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

/** Whether two networks share an address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  const m = mask(Math.min(a.prefix, b.prefix));
  return (a.base & m) >>> 0 === (b.base & m) >>> 0;
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
}

/**
 * A bridge's address pool: the bridge (the VMs' gateway) takes the first host address,
 * VMs the rest up to the broadcast address.
 */
export interface Pool {
  subnet: Cidr;
  gateway: number;
  first: number;
  last: number;
}

export function parsePool(s: string): Pool {
  const subnet = tryCidr(s);
  if (!subnet || !s.includes("/") || subnet.prefix < 16 || subnet.prefix > 29)
    throw new UserError("BAD_SUBNET", `The subnet "${s}" is not an IPv4 network from /16 to /29.`, {
      hint: "Give one like 10.213.0.0/24.",
    });
  const size = 2 ** (32 - subnet.prefix);
  return { subnet, gateway: subnet.base + 1, first: subnet.base + 2, last: subnet.base + size - 2 };
}

/** A locally administered MAC derived from the address: readable, and unique on the bridge. */
export function macFor(ip: number): string {
  const b = [16, 8, 0].map((s) => ((ip >>> s) & 255).toString(16).padStart(2, "0"));
  return `02:70:6c:${b.join(":")}`;
}

/** The TAP device of the VM holding `ip`: `pt` + the address in hex (10 of IFNAMSIZ's 15). */
export function tapFor(ip: number): string {
  return `pt${(ip >>> 0).toString(16).padStart(8, "0")}`;
}
