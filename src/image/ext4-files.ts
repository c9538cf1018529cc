import { execa } from "execa";

/**
 * Reading an ext4 image without mounting it (debugfs, read-only): for checks on what an
 * image holds, and for tests.
 */

/** A file's bytes as text; "" when it is missing. */
export async function debugfsCat(image: string, file: string): Promise<string> {
  const r = await execa("debugfs", ["-R", `cat ${file}`, image], { stripFinalNewline: false });
  return String(r.stdout);
}

export interface Ext4Entry {
  name: string;
  /** st_mode, e.g. 0o100644. */
  mode: number;
}

/** The entries of a directory (without . and ..); none when it is missing. */
export async function debugfsEntries(image: string, dir: string): Promise<Ext4Entry[]> {
  const r = await execa("debugfs", ["-R", `ls -p ${dir}`, image]);
  // -p prints /inode/mode/uid/gid/name/size/ per entry.
  return String(r.stdout)
    .split("\n")
    .map((l) => l.split("/"))
    .filter((f) => f.length >= 7 && f[5] !== "." && f[5] !== "..")
    .map((f) => ({ name: f[5]!, mode: parseInt(f[2]!, 8) }));
}

/** Names in a directory of an ext4 image. */
export async function debugfsLs(image: string, dir: string): Promise<string[]> {
  return (await debugfsEntries(image, dir)).map((e) => e.name);
}

/** Mode (octal string, permission bits), uid and gid of a path in an ext4 image. */
export async function debugfsStat(
  image: string,
  file: string,
): Promise<{ mode: string; uid: number; gid: number; type: string }> {
  const out = String((await execa("debugfs", ["-R", `stat ${file}`, image])).stdout);
  const mode = /Mode:\s+0?(\d+)/.exec(out)?.[1] ?? "";
  return {
    type: /Type:\s+(\S+)/.exec(out)?.[1] ?? "",
    mode: mode.padStart(4, "0"),
    uid: Number(/User:\s+(\d+)/.exec(out)?.[1]),
    gid: Number(/Group:\s+(\d+)/.exec(out)?.[1]),
  };
}
