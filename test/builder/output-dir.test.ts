import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { checkOutputDir, replaceDir, tempBeside } from "../../src/builder/output-dir.js";
import { UserError } from "../../src/errors.js";
import { cli, fakeMetadata, ROOT, tempFiles } from "../helpers.js";

const specFile = path.join(ROOT, "examples/minimal.yaml");

describe("build output directories", () => {
  it("accepts a new path or an empty dir; refuses a non-empty non-image dir unless --force", async () => {
    const parent = tempFiles({});
    await expect(checkOutputDir(path.join(parent, "new"), { specFile })).resolves.toBeUndefined();
    mkdirSync(path.join(parent, "empty"));
    await expect(checkOutputDir(path.join(parent, "empty"), { specFile })).resolves.toBeUndefined();
    const full = tempFiles({ "thesis.tex": "years of work" });
    await expect(checkOutputDir(full, { specFile })).rejects.toThrow(
      /not empty and holds no plinth image/,
    );
    await expect(checkOutputDir(full, { specFile, force: true })).resolves.toBeUndefined();
  });

  it("refuses, even with --force, a dir that holds the spec, the store or the working dir", async () => {
    for (const dest of ["/", ROOT, path.dirname(specFile), process.cwd()])
      await expect(checkOutputDir(dest, { specFile, force: true })).rejects.toBeInstanceOf(
        UserError,
      );
    const file = path.join(tempFiles({ f: "x" }), "f");
    await expect(checkOutputDir(file, { specFile, force: true })).rejects.toThrow(
      /not a directory/,
    );
  });

  it("refuses, even with --force, the store's own dirs and a protected dir reached through a link", async () => {
    const saved = process.env.PLINTH_HOME;
    const home = tempFiles({});
    process.env.PLINTH_HOME = home;
    try {
      for (const dest of ["images", "vms", "images/demo", "vms/dev"].map((d) => path.join(home, d)))
        await expect(checkOutputDir(dest, { specFile, force: true })).rejects.toThrow(
          /inside plinth's store/,
        );
      await expect(
        checkOutputDir(path.join(home, "images/demo/0.1.0+abc"), { specFile }),
      ).resolves.toBeUndefined();
      const link = path.join(tempFiles({}), "link");
      symlinkSync(path.dirname(home), link);
      await expect(
        checkOutputDir(path.join(link, path.basename(home)), { specFile, force: true }),
      ).rejects.toThrow(/it holds/);
    } finally {
      if (saved === undefined) delete process.env.PLINTH_HOME;
      else process.env.PLINTH_HOME = saved;
    }
  });

  it("checks again at the end: files that appeared during the build are not replaced", async () => {
    const dest = path.join(tempFiles({}), "out");
    await checkOutputDir(dest, { specFile }); // new: fine at the start
    const tmp = await tempBeside(dest);
    mkdirSync(dest);
    writeFileSync(path.join(dest, "notes"), "mine"); // written while the build ran
    await expect(replaceDir(tmp, dest)).rejects.toThrow(/not empty and holds no plinth image/);
    expect(readFileSync(path.join(dest, "notes"), "utf8")).toBe("mine");
  });

  it("replaces an image dir whole, from a temp dir beside it", async () => {
    const parent = tempFiles({});
    const dest = path.join(parent, "img");
    mkdirSync(dest);
    writeFileSync(path.join(dest, "old"), "1");
    const meta = fakeMetadata({ name: "img", version: "0.1.0", buildHash: "a".repeat(64) });
    writeFileSync(path.join(dest, "metadata.json"), JSON.stringify(meta));
    const tmp = await tempBeside(dest);
    writeFileSync(path.join(tmp, "new"), "2");
    await replaceDir(tmp, dest);
    expect(readFileSync(path.join(dest, "new"), "utf8")).toBe("2");
    expect(existsSync(path.join(dest, "old"))).toBe(false);
    expect(existsSync(tmp)).toBe(false);
  });

  it("plinth build -o on a directory of the user's exits 2 and leaves it as it was", async () => {
    const dir = tempFiles({ "thesis.tex": "years of work" });
    const r = await cli(["build", specFile, "-o", dir], {
      PATH: process.env.PATH ?? "",
      PLINTH_HOME: tempFiles({}),
    });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(
      /Refusing to build into .*: it is not empty and holds no plinth image/,
    );
    expect(readFileSync(path.join(dir, "thesis.tex"), "utf8")).toBe("years of work");
  });
});
