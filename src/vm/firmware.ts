import { existsSync } from "node:fs";
import { MissingToolError } from "../errors.js";

/** OVMF's code and variable-store templates, as Debian's `ovmf` (and Fedora's edk2) ship them. */
const OVMF_PAIRS = [
  ["/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"],
  ["/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"],
  ["/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"],
] as const;

/** UEFI firmware for booting a disk image: a matching code/vars pair. */
export function findOvmf(): { code: string; vars: string } {
  const pair = OVMF_PAIRS.find(([code, vars]) => existsSync(code) && existsSync(vars));
  if (!pair) throw new MissingToolError(["ovmf"]);
  return { code: pair[0], vars: pair[1] };
}
