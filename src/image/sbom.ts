import { writeFile } from "node:fs/promises";
import path from "node:path";
import { BuildError } from "../errors.js";

/** The SBOM's file name in an image directory. */
export const SBOM_FILE = "sbom.spdx.json";

export interface SbomPackage {
  name: string;
  version: string;
  arch: string;
  /** The source package it was built from, as dpkg records it. */
  source?: string;
  /** An SPDX license expression, when the package's copyright file gave one. */
  license?: string;
}

export interface SbomInput {
  name: string;
  version: string;
  buildHash: string;
  /** ISO 8601, from the build's epoch. */
  created: string;
  distro: string;
  suite: string;
  packages: SbomPackage[];
  toolVersion: string;
}

const NOASSERTION = "NOASSERTION";

/** Who ships each distro's packages (SPDX `supplier`); another distro gets NOASSERTION. */
const SUPPLIERS: Record<string, string> = {
  debian: "Organization: Debian",
  ubuntu: "Organization: Canonical",
};

/**
 * An SPDX 2.3 document for an image and its installed packages. Deterministic: packages
 * are sorted and nothing but `created` (the build's epoch) depends on time.
 */
export function makeSbom(input: SbomInput): object {
  const created = new Date(input.created);
  if (Number.isNaN(created.getTime()))
    throw new BuildError("sbom", `created is not a date: ${input.created}`);
  const supplier = Object.hasOwn(SUPPLIERS, input.distro) ? SUPPLIERS[input.distro]! : NOASSERTION;

  const seen = new Set<string>();
  const packages = input.packages
    .filter((p) => {
      const key = `${p.name}\0${p.arch}\0${p.version}`;
      return !seen.has(key) && seen.add(key);
    })
    .sort((a, b) => cmp(a.name, b.name) || cmp(a.arch, b.arch) || cmp(a.version, b.version));

  const ids = new Set<string>(["SPDXRef-DOCUMENT", "SPDXRef-Image"]);
  const entries = packages.map((p) => {
    const id = uniqueId(ids, `SPDXRef-Package-deb-${p.name}-${p.arch}-${p.version}`);
    return {
      SPDXID: id,
      name: p.name,
      versionInfo: p.version,
      supplier,
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      ...(p.source ? { sourceInfo: `built from the source package ${p.source}` } : {}),
      licenseConcluded: NOASSERTION,
      licenseDeclared: p.license ?? NOASSERTION,
      copyrightText: NOASSERTION,
      externalRefs: [
        {
          referenceCategory: "PACKAGE-MANAGER",
          referenceType: "purl",
          referenceLocator: purl(input.distro, input.suite, p),
        },
      ],
    };
  });

  const refs = new Set<string>();
  for (const p of packages)
    for (const ref of p.license?.match(/LicenseRef-[A-Za-z0-9.-]+/g) ?? []) refs.add(ref);

  return {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name: `${input.name}-${input.version}`,
    // SPDX wants a namespace URI unique to this document; the build hash makes it so.
    documentNamespace:
      `https://spdx.org/spdxdocs/plinth/${encodeURIComponent(input.name)}-` +
      `${encodeURIComponent(input.version)}-${encodeURIComponent(input.buildHash)}`,
    creationInfo: {
      // SPDX's date pattern has no fractional seconds.
      created: created.toISOString().replace(/\.\d+Z$/, "Z"),
      creators: [`Tool: plinth-${input.toolVersion}`],
    },
    packages: [
      {
        SPDXID: "SPDXRef-Image",
        name: input.name,
        versionInfo: input.version,
        supplier: NOASSERTION,
        downloadLocation: NOASSERTION,
        filesAnalyzed: false,
        description: `A ${input.distro} ${input.suite} VM image built by plinth.`,
        primaryPackagePurpose: "OPERATING-SYSTEM",
        licenseConcluded: NOASSERTION,
        licenseDeclared: NOASSERTION,
        copyrightText: NOASSERTION,
      },
      ...entries,
    ],
    relationships: [
      {
        spdxElementId: "SPDXRef-DOCUMENT",
        relationshipType: "DESCRIBES",
        relatedSpdxElement: "SPDXRef-Image",
      },
      ...entries.map((e) => ({
        spdxElementId: "SPDXRef-Image",
        relationshipType: "CONTAINS",
        relatedSpdxElement: e.SPDXID,
      })),
    ],
    ...(refs.size
      ? {
          hasExtractedLicensingInfos: [...refs].sort(cmp).map((licenseId) => {
            const name = licenseId.slice("LicenseRef-".length);
            return {
              licenseId,
              name,
              extractedText:
                `"${name}" is the license name given in a package's debian/copyright file ` +
                "(/usr/share/doc/<package>/copyright in the image); its text is not reproduced here.",
            };
          }),
        }
      : {}),
  };
}

/** Write the SBOM into `dir` as SBOM_FILE; returns its path. */
export async function writeSbom(dir: string, input: SbomInput): Promise<string> {
  const file = path.join(dir, SBOM_FILE);
  await writeFile(file, `${JSON.stringify(makeSbom(input), null, 2)}\n`);
  return file;
}

/** Code-point order, so the output does not depend on the host's locale. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `wanted` with characters SPDX ids cannot hold replaced, suffixed until unused. */
function uniqueId(used: Set<string>, wanted: string): string {
  const base = wanted.replace(/[^A-Za-z0-9.-]+/g, "-");
  let id = base;
  for (let n = 2; used.has(id); n++) id = `${base}-${n}`;
  used.add(id);
  return id;
}

/**
 * The package URL (purl-spec, type deb): namespace is the vendor, qualifiers sorted by key.
 * `:` (a Debian epoch) may stay literal; `+` and the rest are percent-encoded.
 */
function purl(distro: string, suite: string, p: SbomPackage): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%3A/gi, ":");
  return (
    `pkg:deb/${enc(distro.toLowerCase())}/${enc(p.name.toLowerCase())}@${enc(p.version)}` +
    `?arch=${enc(p.arch)}&distro=${enc(`${distro}-${suite}`)}`
  );
}
