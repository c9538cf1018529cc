import type { Spec } from "./schema.js";

/**
 * How spec values read once resolved, shared by the builder (which writes them into the
 * image) and the checks (which verify them in the guest), so both agree by construction.
 */

export type Scalar = string | number | boolean;

/** A spec value as config files spell it: booleans as yes/no (sshd, systemd, journald). */
export const yesNo = (v: Scalar): string =>
  typeof v === "boolean" ? (v ? "yes" : "no") : String(v);

/** A unit name as a file name: `ssh` is `ssh.service`. */
export function unitFileName(name: string): string {
  return name.includes(".") ? name : `${name}.service`;
}

/** The /etc/locale.gen line for a locale (undefined: built into glibc). */
export function localeGenLine(locale: string): string | undefined {
  if (/^C\.UTF-8$/i.test(locale)) return undefined;
  const charset = /\.([^@]+)/.exec(locale)?.[1] ?? "ISO-8859-1";
  return `${locale} ${charset.toUpperCase() === "UTF8" ? "UTF-8" : charset}`;
}

export interface Trim {
  docs: boolean;
  man: boolean;
  locales: boolean;
  apt_lists: boolean;
}

export function trimOptions(trim: Spec["trim"]): Trim | undefined {
  if (trim === undefined || trim === false) return undefined;
  if (trim === true) return { docs: true, man: true, locales: true, apt_lists: true };
  return trim;
}
