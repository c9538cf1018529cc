import { execFileSync } from "node:child_process";
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { applyLayers } from "../../../src/builder/container/unpack.js";

const work = () => mkdtempSync(path.join(os.tmpdir(), "plinth-layers-"));

/** A layer tar of the tree `make` builds, as a container build writes one (gzip'd or not). */
function layer(dir: string, name: string, make: (root: string) => void, gzip = false): string {
  const root = path.join(dir, `${name}.src`);
  mkdirSync(root);
  make(root);
  const file = path.join(dir, `${name}.tar${gzip ? ".gz" : ""}`);
  execFileSync("tar", [gzip ? "-czf" : "-cf", file, "--xattrs", "-C", root, "."]);
  return file;
}

describe("applyLayers: OCI layers into one tree", () => {
  it("applies whiteouts and opaque directories, and keeps links, owners, modes and xattrs", async () => {
    const dir = work();
    const lower = layer(
      dir,
      "lower",
      (r) => {
        mkdirSync(path.join(r, "etc/old"), { recursive: true });
        writeFileSync(path.join(r, "etc/old/a"), "a");
        writeFileSync(path.join(r, "etc/old/b"), "b");
        writeFileSync(path.join(r, "etc/gone"), "x");
        mkdirSync(path.join(r, "srv"));
        writeFileSync(path.join(r, "srv/data"), "data");
        execFileSync("chown", ["1234:2345", path.join(r, "srv/data")]);
        execFileSync("chmod", ["4751", path.join(r, "srv/data")]);
        execFileSync("setfattr", ["-n", "user.plinth", "-v", "kept", path.join(r, "srv/data")]);
        linkSync(path.join(r, "srv/data"), path.join(r, "srv/hard"));
        symlinkSync("data", path.join(r, "srv/soft"));
      },
      true,
    );
    const upper = layer(dir, "upper", (r) => {
      mkdirSync(path.join(r, "etc/old"), { recursive: true });
      writeFileSync(path.join(r, "etc/old/.wh..wh..opq"), "");
      writeFileSync(path.join(r, "etc/old/new"), "new");
      writeFileSync(path.join(r, "etc/.wh.gone"), "");
      writeFileSync(path.join(r, "etc/added"), "added");
      // A whiteout for something no lower layer has is fine, and leaves no trace.
      writeFileSync(path.join(r, "etc/.wh.never-there"), "");
      execFileSync("chmod", ["0700", path.join(r, "etc")]);
    });
    const tree = path.join(dir, "rootfs");
    await applyLayers([lower, upper], tree, {});
    expect(readdirSync(path.join(tree, "etc")).sort()).toEqual(["added", "old"]);
    expect(readdirSync(path.join(tree, "etc/old"))).toEqual(["new"]);
    expect(statSync(path.join(tree, "etc")).mode & 0o7777).toBe(0o700); // the upper's metadata
    const data = lstatSync(path.join(tree, "srv/data"));
    expect([data.uid, data.gid, data.mode & 0o7777]).toEqual([1234, 2345, 0o4751]);
    expect(lstatSync(path.join(tree, "srv/hard")).ino).toBe(data.ino);
    expect(data.nlink).toBe(2);
    expect(readlinkSync(path.join(tree, "srv/soft"))).toBe("data");
    expect(
      execFileSync(
        "getfattr",
        ["--only-values", "-n", "user.plinth", path.join(tree, "srv/data")],
        {
          encoding: "utf8",
        },
      ),
    ).toBe("kept");
    expect(readdirSync(dir).filter((n) => n.startsWith(".layer-"))).toEqual([]);
  });

  it("never writes through a symlink a lower layer planted to a host path", async () => {
    const dir = work();
    const host = mkdtempSync(path.join(os.tmpdir(), "plinth-host-"));
    const lower = layer(dir, "lower", (r) => symlinkSync(host, path.join(r, "escape")));
    const upper = layer(dir, "upper", (r) => {
      mkdirSync(path.join(r, "escape"));
      writeFileSync(path.join(r, "escape/owned"), "x");
      writeFileSync(path.join(r, ".wh.nothing"), "");
    });
    const tree = path.join(dir, "rootfs");
    await applyLayers([lower, upper], tree, {});
    expect(readdirSync(host)).toEqual([]);
    // The upper directory replaces the link, as a container runtime does.
    expect(lstatSync(path.join(tree, "escape")).isDirectory()).toBe(true);
    expect(readFileSync(path.join(tree, "escape/owned"), "utf8")).toBe("x");
    expect(existsSync(path.join(tree, ".wh.nothing"))).toBe(false);
  });

  it("never whites out through a link: an upper directory replaces a lower link to a host path", async () => {
    const dir = work();
    const host = mkdtempSync(path.join(os.tmpdir(), "plinth-host-"));
    writeFileSync(path.join(host, "precious"), "keep");
    const lower = layer(dir, "lower", (r) => {
      symlinkSync(host, path.join(r, "link"));
      symlinkSync(host, path.join(r, "opaque"));
    });
    const upper = layer(dir, "upper", (r) => {
      mkdirSync(path.join(r, "link"));
      writeFileSync(path.join(r, "link/.wh.precious"), "");
      mkdirSync(path.join(r, "opaque"));
      writeFileSync(path.join(r, "opaque/.wh..wh..opq"), "");
      // Names that would be the directory itself or its parent are no whiteouts.
      for (const n of [".wh.", ".wh..", ".wh..."]) writeFileSync(path.join(r, n), "");
    });
    const tree = path.join(dir, "rootfs");
    await applyLayers([lower, upper], tree, {});
    expect(readFileSync(path.join(host, "precious"), "utf8")).toBe("keep");
    expect(readdirSync(host)).toEqual(["precious"]);
    for (const d of ["link", "opaque"]) {
      expect(lstatSync(path.join(tree, d)).isDirectory()).toBe(true);
      expect(readdirSync(path.join(tree, d))).toEqual([]);
    }
    expect(readdirSync(tree).sort()).toEqual(["link", "opaque"]);
  });

  it("keeps a lower directory's mode when the layer only adds a file below it", async () => {
    const dir = work();
    const lower = layer(dir, "lower", (r) => {
      mkdirSync(path.join(r, "tmp"));
      execFileSync("chmod", ["1777", path.join(r, "tmp")]);
    });
    // A tar with the file and no entry for its directory, as some layer builders write.
    const src = path.join(dir, "upper.src");
    mkdirSync(path.join(src, "tmp"), { recursive: true });
    writeFileSync(path.join(src, "tmp/x"), "x");
    const upper = path.join(dir, "upper.tar");
    execFileSync("tar", ["-cf", upper, "-C", src, "tmp/x"]);
    const tree = path.join(dir, "rootfs");
    await applyLayers([lower, upper], tree, {});
    expect(statSync(path.join(tree, "tmp")).mode & 0o7777).toBe(0o1777);
    expect(readFileSync(path.join(tree, "tmp/x"), "utf8")).toBe("x");
  });
});
