import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { dep5License, licensesOf } from "../../src/builder/customize/licenses.js";
import { tempFiles } from "../helpers.js";

const FORMAT = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n";

/** A doc dir per package in `tree`, holding `copyright`. */
function docs(tree: string, files: Record<string, string>): void {
  for (const [pkg, text] of Object.entries(files)) {
    mkdirSync(path.join(tree, "usr/share/doc", pkg), { recursive: true });
    writeFileSync(path.join(tree, "usr/share/doc", pkg, "copyright"), text);
  }
}

describe("licensesOf", () => {
  it("reads DEP-5 files in the tree, follows links within it and never out of it", async () => {
    const outside = tempFiles({ copyright: `${FORMAT}\nFiles: *\nLicense: MIT\n` });
    const tree = tempFiles({});
    docs(tree, {
      coreutils: [
        FORMAT + "Upstream-Name: coreutils\nSource: https://example.org\n",
        "Files: *\nCopyright: 1984-2023 Free Software Foundation, Inc.\nLicense: GPL-3+\n",
        "Files: src/blake2/*\nCopyright: 2012 Samuel Neves\nLicense: CC0-1.0 or OpenSSL or Apache-2.0\n",
        "Files: debian/*\nCopyright: 2004 Someone\nLicense: GPL-3+\n",
        "License: GPL-3+\n This program is free software; …\n .\n On Debian systems, see\n /usr/share/common-licenses/GPL-3.\n",
        "License: Apache-2.0\n Licensed under the Apache License, Version 2.0.\n",
      ].join("\n"),
      perl: `${FORMAT}\nFiles: *\nCopyright: Larry Wall\nLicense: GPL-1+ or Artistic, and BSD-3-clause and Expat\n`,
      weird: `${FORMAT}\nFiles: *\nCopyright: X\nLicense: Frobnitz-1.0\n\nFiles: y/*\nCopyright: Y\nLicense: GPL-2+ with OpenSSL exception\n`,
      libtool: `${FORMAT}\nFiles: *\nCopyright: Z\nLicense: GPL-2+ with Libtool exception\n`,
      freetext: "This package was debianized by someone.\n\nIt is licensed under the GPL.\n",
    });
    // Debian links a -dev or -common package's doc dir to its main package's.
    symlinkSync("perl", path.join(tree, "usr/share/doc/perl-base"));
    symlinkSync("/usr/share/doc/coreutils", path.join(tree, "usr/share/doc/coreutils-abs"));
    // Links that would leave the tree on the host: absolute, and by `..`.
    symlinkSync(outside, path.join(tree, "usr/share/doc/escape"));
    mkdirSync(path.join(tree, "usr/share/doc/escape2"));
    symlinkSync(
      path.relative(path.join(tree, "usr/share/doc/escape2"), path.join(outside, "copyright")),
      path.join(tree, "usr/share/doc/escape2/copyright"),
    );

    const map = await licensesOf(tree, [
      "coreutils",
      "perl",
      "perl-base",
      "coreutils-abs",
      "weird",
      "libtool:amd64",
      "freetext",
      "missing",
      "escape",
      "escape2",
      "../../etc",
    ]);
    expect(Object.fromEntries(map)).toEqual({
      coreutils: "(CC0-1.0 OR OpenSSL OR Apache-2.0) AND GPL-3.0-or-later",
      "coreutils-abs": "(CC0-1.0 OR OpenSSL OR Apache-2.0) AND GPL-3.0-or-later",
      perl: "(GPL-1.0-or-later OR Artistic-1.0) AND BSD-3-Clause AND MIT",
      "perl-base": "(GPL-1.0-or-later OR Artistic-1.0) AND BSD-3-Clause AND MIT",
      weird: "LicenseRef-Frobnitz-1.0 AND LicenseRef-GPL-2-plus-with-OpenSSL-exception",
      "libtool:amd64": "GPL-2.0-or-later WITH Libtool-exception",
    });
  });
});

describe("dep5License", () => {
  const one = (license: string) =>
    dep5License(`${FORMAT}\nFiles: *\nCopyright: x\nLicense: ${license}\n`);

  it("maps Debian's short names and operators to SPDX", () => {
    expect(one("LGPL-2.1")).toBe("LGPL-2.1-only");
    expect(one("LGPL-2.1+ or GPL-2")).toBe("LGPL-2.1-or-later OR GPL-2.0-only");
    expect(one("GPL-2+ or Artistic and BSD-2-clause")).toBe(
      "GPL-2.0-or-later OR (Artistic-1.0 AND BSD-2-Clause)",
    );
    expect(one("BSD-3-clause and Expat")).toBe("BSD-3-Clause AND MIT");
    expect(one("Apache-2.0+")).toBe("Apache-2.0+");
    expect(one("GPL-2.0-or-later")).toBe("GPL-2.0-or-later");
    expect(one("public-domain")).toBe("LicenseRef-public-domain");
    expect(one("GPL-2+ (see below)")).toBe("LicenseRef-GPL-2-plus-see-below");
    expect(one("MIT or")).toBe("LicenseRef-MIT-or");
  });

  it("takes the header's License too, and answers nothing for a file without one", () => {
    expect(dep5License(`${FORMAT}License: ISC\n\nFiles: *\nCopyright: x\nLicense: Zlib\n`)).toBe(
      "ISC AND Zlib",
    );
    expect(dep5License(`${FORMAT}\nFiles: *\nCopyright: x\n`)).toBeUndefined();
    expect(dep5License("Files: *\nLicense: MIT\n")).toBeUndefined();
  });
});
