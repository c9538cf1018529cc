import { execa } from "execa";

/** Read a file out of an ext4 image without mounting it. */
export async function debugfsCat(image: string, file: string): Promise<string> {
  const r = await execa("debugfs", ["-R", `cat ${file}`, image], { stripFinalNewline: false });
  return String(r.stdout);
}

/** Names in a directory of an ext4 image. */
export async function debugfsLs(image: string, dir: string): Promise<string[]> {
  const r = await execa("debugfs", ["-R", `ls -p ${dir}`, image]);
  // -p prints /inode/mode/uid/gid/name/size/ per entry.
  return String(r.stdout)
    .split("\n")
    .map((l) => l.split("/")[5])
    .filter((n): n is string => !!n && n !== "." && n !== "..");
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
