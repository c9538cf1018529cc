import { readFileSync } from "node:fs";
import path from "node:path";
import { Ajv2019 } from "ajv/dist/2019.js";
import { describe, expect, it } from "vitest";
import { makeSbom, SBOM_FILE, writeSbom, type SbomInput } from "../../src/image/sbom.js";
import { tempFiles } from "../helpers.js";

// The official SPDX 2.3 JSON schema (spdx/spdx-spec, schemas/spdx-schema.json), as published.
const schema = JSON.parse(
  readFileSync(path.join(import.meta.dirname, "../fixtures/spdx-schema-2.3.json"), "utf8"),
) as object;
const validate = new Ajv2019({ allErrors: true }).compile(schema);

interface Doc {
  creationInfo: { created: string; creators: string[] };
  documentNamespace: string;
  packages: {
    SPDXID: string;
    name: string;
    versionInfo?: string;
    licenseDeclared?: string;
    externalRefs?: { referenceType: string; referenceLocator: string }[];
  }[];
  relationships: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[];
  hasExtractedLicensingInfos?: { licenseId: string; extractedText: string }[];
}

const input: SbomInput = {
  name: "base",
  version: "1.0.0-20261202-abc1234",
  buildHash: "0123456789abcdef0123",
  created: "2026-12-02T00:00:00.000Z",
  distro: "debian",
  suite: "bookworm",
  toolVersion: "0.1.0",
  packages: [
    { name: "zlib1g", version: "1:1.2.13.dfsg-1", arch: "amd64", source: "zlib", license: "Zlib" },
    {
      name: "bash",
      version: "5.2.15-2+b2",
      arch: "amd64",
      license: "GPL-3.0-or-later AND LicenseRef-public-domain",
    },
    { name: "tzdata", version: "2024a-0+deb12u1", arch: "all" },
  ],
};

describe("makeSbom", () => {
  it("makes a document the SPDX 2.3 schema accepts, with a purl for every package", () => {
    const doc = makeSbom(input) as Doc;
    expect(validate(doc), JSON.stringify(validate.errors, null, 2)).toBe(true);
    expect(doc.creationInfo).toEqual({
      created: "2026-12-02T00:00:00Z",
      creators: ["Tool: plinth-0.1.0"],
    });
    expect(doc.documentNamespace).toContain("0123456789abcdef0123");
    expect(doc.packages.map((p) => p.name)).toEqual(["base", "bash", "tzdata", "zlib1g"]);
    const purls = doc.packages.slice(1).map((p) => p.externalRefs?.[0]?.referenceLocator);
    expect(purls).toEqual([
      "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-bookworm",
      "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-bookworm",
      "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-bookworm",
    ]);
    expect(doc.packages.map((p) => p.licenseDeclared)).toEqual([
      "NOASSERTION",
      "GPL-3.0-or-later AND LicenseRef-public-domain",
      "NOASSERTION",
      "Zlib",
    ]);
    expect(doc.hasExtractedLicensingInfos?.map((l) => l.licenseId)).toEqual([
      "LicenseRef-public-domain",
    ]);
    expect(doc.relationships[0]).toEqual({
      spdxElementId: "SPDXRef-DOCUMENT",
      relationshipType: "DESCRIBES",
      relatedSpdxElement: "SPDXRef-Image",
    });
    expect(doc.relationships.slice(1).map((r) => r.relatedSpdxElement)).toEqual(
      doc.packages.slice(1).map((p) => p.SPDXID),
    );
  });

  it("is deterministic whatever the input order", () => {
    const reversed = { ...input, packages: [...input.packages].reverse() };
    expect(JSON.stringify(makeSbom(reversed))).toBe(JSON.stringify(makeSbom(input)));
  });

  it("sanitizes SPDXIDs and keeps them unique", () => {
    const doc = makeSbom({
      ...input,
      packages: [
        { name: "libfoo++", version: "1:2~rc1", arch: "amd64" },
        { name: "libfoo--", version: "1:2~rc1", arch: "amd64" },
        { name: "libfoo__", version: "1:2~rc1", arch: "amd64" },
      ],
    }) as Doc;
    expect(validate(doc), JSON.stringify(validate.errors, null, 2)).toBe(true);
    const ids = doc.packages.map((p) => p.SPDXID);
    for (const id of ids) expect(id).toMatch(/^SPDXRef-[A-Za-z0-9.-]+$/);
    expect(new Set(ids).size).toBe(ids.length);
    // The schema does enforce the pattern, so the check above is not vacuous.
    const bad = { ...doc, packages: [{ ...doc.packages[0]!, SPDXID: "SPDXRef-libfoo++" }] };
    expect(validate(bad)).toBe(false);
  });

  it("writes sbom.spdx.json with 2-space indentation and a trailing newline", async () => {
    const dir = tempFiles({});
    const file = await writeSbom(dir, input);
    expect(file).toBe(path.join(dir, SBOM_FILE));
    const text = readFileSync(file, "utf8");
    expect(text).toBe(`${JSON.stringify(makeSbom(input), null, 2)}\n`);
  });
});
