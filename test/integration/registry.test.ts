import { execa } from "execa";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { open } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Ajv2019 } from "ajv/dist/2019.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, cli, integrationSkipReason, ROOT } from "../helpers.js";
import { slowProxy, startRegistry, staticServer, type Registry } from "./servers.js";

const skip = integrationSkipReason();
const tmp = (p: string) => mkdtempSync(path.join(os.tmpdir(), `plinth-ship-${p}-`));
const home = () => ({ PLINTH_HOME: tmp("home"), PLINTH_CACHE: tmp("cache") });
const builder = { PLINTH_HOME: tmp("builder") };

/** The store's images: every slot dir holding metadata.json, under `home`. */
function slots(env: { PLINTH_HOME: string }): string[] {
  const images = path.join(env.PLINTH_HOME, "images");
  if (!existsSync(images)) return [];
  return readdirSync(images)
    .filter((n) => !n.startsWith("."))
    .flatMap((n) => readdirSync(path.join(images, n)).map((s) => path.join(images, n, s)))
    .filter((d) => existsSync(path.join(d, "metadata.json")));
}

const sums = (dir: string) => readFileSync(path.join(dir, "SHA256SUMS"), "utf8");
const json = (stdout: string) =>
  JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, unknown>;

describe.skipIf(!!skip)("shipping images through a real registry", () => {
  let plain: Registry;
  let image: string;

  beforeAll(async () => {
    // The minimal image with a qcow2, for the containerDisk.
    const spec = path.join(tmp("spec"), "ship.yaml");
    writeFileSync(
      spec,
      `extends: ${path.join(ROOT, "examples", "minimal.yaml")}\noutputs: [ext4, qcow2]\n`,
    );
    const b = await cli(["build", spec, "--json"], builder);
    expect(b.exitCode, b.stderr).toBe(0);
    image = json(b.stdout).imageDir as string;
    plain = await startRegistry();
  }, 900_000);
  afterAll(async () => plain?.stop());

  it("every build writes an SPDX 2.3 SBOM that validates and lists every installed package; it is pushed and `plinth sbom` prints it", async () => {
    const schema = JSON.parse(
      readFileSync(path.join(ROOT, "test/fixtures/spdx-schema-2.3.json"), "utf8"),
    ) as object;
    const validate = new Ajv2019({ allErrors: true }).compile(schema);
    const printed = await cli(["sbom", image], builder);
    expect(printed.exitCode, printed.stderr).toBe(0);
    const doc = JSON.parse(printed.stdout) as {
      packages: {
        name: string;
        versionInfo?: string;
        licenseDeclared?: string;
        externalRefs?: { referenceLocator: string }[];
      }[];
    };
    expect(validate(doc), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    const meta = JSON.parse(readFileSync(path.join(image, "metadata.json"), "utf8")) as {
      packages: { name: string; version: string; arch: string }[];
      artifacts: { name: string; kind: string }[];
    };
    expect(meta.artifacts).toContainEqual(
      expect.objectContaining({ name: "sbom.spdx.json", kind: "sbom" }),
    );
    const purls = new Set(
      doc.packages.flatMap((p) => p.externalRefs?.map((r) => r.referenceLocator) ?? []),
    );
    for (const p of meta.packages)
      expect(
        [...purls].some((u) => u.startsWith(`pkg:deb/debian/${encodeURIComponent(p.name)}@`)),
        p.name,
      ).toBe(true);
    // Most Debian packages say their license in a machine-readable copyright file.
    const bash = doc.packages.find((p) => p.name === "bash");
    expect(bash?.licenseDeclared).toMatch(/GPL-3\.0-or-later/);
  });

  it("push, then pull into an empty store, gives the same artifacts; pushing again uploads nothing; the pulled image boots", async () => {
    const ref = `${plain.addr}/sandboxes/minimal:0.1`;
    const first = await cli(["push", image, ref, "--insecure", "--json"], builder);
    expect(first.exitCode, first.stderr).toBe(0);
    const pushed = json(first.stdout);
    expect(pushed.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((pushed.blobs as Record<string, number>).uploaded).toBeGreaterThan(2);
    const again = json((await cli(["push", image, ref, "--insecure", "--json"], builder)).stdout);
    expect(again.blobs).toEqual({
      exists: (pushed.blobs as Record<string, number>).uploaded,
      mounted: 0,
      uploaded: 0,
    });
    expect(again.digest).toBe(pushed.digest);
    // Recorded beside the image.
    expect(readFileSync(path.join(image, "pushed.json"), "utf8")).toContain(
      pushed.digest as string,
    );

    const clean = home();
    const p = await cli(["pull", ref, "--insecure", "--json"], clean);
    expect(p.exitCode, p.stderr).toBe(0);
    const [slot] = slots(clean);
    expect(sums(slot!)).toBe(sums(image));
    // Sparse on arrival as it was when built: zstd writes the zeros as holes.
    const rootfs = statSync(path.join(slot!, "rootfs.ext4"));
    expect(rootfs.blocks * 512).toBeLessThan(rootfs.size);
    // Pinned by digest, the same image; `run` finds it in the store rather than pulling.
    const byDigest = await cli(["pull", `${ref}@${pushed.digest}`, "--insecure", "--json"], clean);
    expect(json(byDigest.stdout)).toMatchObject({ pulled: false, imageDir: slot });
    const run = await cli(["run", "-d", "--name", "keeper", ref, "--insecure"], clean);
    expect(run.exitCode, run.stderr).toBe(0);
    try {
      const exec = await cli(["exec", "keeper", "--", "cat", "/etc/plinth-release"], clean);
      expect(exec.stdout).toMatch(/^PLINTH_IMAGE=minimal$/m);

      // Prune under a cap with the VM running: the cache goes (the blobs a push from this
      // store compressed), the image the VM boots from stays.
      const copy = await cli(
        ["push", slot!, `${plain.addr}/copies/minimal:0.1`, "--insecure"],
        clean,
      );
      expect(copy.exitCode, copy.stderr).toBe(0);
      const blobs = path.join(clean.PLINTH_CACHE, "blobs");
      expect(readdirSync(blobs).filter((f) => f.endsWith(".zst")).length).toBeGreaterThan(0);
      const pruned = await cli(["prune", "--all", "--json"], { ...clean, PLINTH_CACHE_MAX: "1M" });
      expect(pruned.exitCode, pruned.stderr).toBe(0);
      const r = json(pruned.stdout) as {
        images: { removed: unknown[]; inUse: { dir: string; vms: string[] }[] };
        cache: { totalBytes: number; removed: unknown[] };
      };
      expect(r.images.removed).toEqual([]);
      expect(r.images.inUse).toEqual([expect.objectContaining({ dir: slot, vms: ["keeper"] })]);
      expect(r.cache.removed.length).toBeGreaterThan(0);
      expect(r.cache.totalBytes).toBeLessThanOrEqual(1024 ** 2);
      expect(readdirSync(blobs)).toEqual([]);
      expect(sums(slot!)).toBe(sums(image));
    } finally {
      await cli(["stop", "keeper"], clean);
    }
    // Stopped (its state gone), the image is no longer kept.
    const after = await cli(["prune", "--all"], clean);
    expect(after.stdout).toMatch(/^removed minimal:/m);
    expect(slots(clean)).toEqual([]);
  }, 600_000);

  it("skopeo reads the pushed manifest and copies it to another repository, which plinth pulls", async () => {
    const ref = `${plain.addr}/sandboxes/minimal:0.1`;
    const raw = await execa("skopeo", [
      "inspect",
      "--tls-verify=false",
      "--raw",
      `docker://${ref}`,
    ]);
    const manifest = JSON.parse(raw.stdout) as {
      artifactType: string;
      layers: { annotations: Record<string, string> }[];
    };
    expect(manifest.artifactType).toBe("application/vnd.plinth.image.v1");
    const meta = JSON.parse(readFileSync(path.join(image, "metadata.json"), "utf8")) as {
      artifacts: { name: string }[];
    };
    expect(
      manifest.layers.map((l) => l.annotations["org.opencontainers.image.title"]).sort(),
    ).toEqual(meta.artifacts.map((a) => a.name).sort());
    const config = await execa("skopeo", [
      "inspect",
      "--tls-verify=false",
      "--config",
      "--raw",
      `docker://${ref}`,
    ]);
    expect(config.stdout.trim()).toBe(
      readFileSync(path.join(image, "metadata.json"), "utf8").trim(),
    );
    const copy = `${plain.addr}/elsewhere/copied:1`;
    await execa("skopeo", [
      "copy",
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      `docker://${ref}`,
      `docker://${copy}`,
    ]);
    const clean = home();
    const p = await cli(["pull", copy, "--insecure"], clean);
    expect(p.exitCode, p.stderr).toBe(0);
    expect(sums(slots(clean)[0]!)).toBe(sums(image));
    // The other repository holds the blobs now: a push there mounts or finds every one.
    const tags = await cli(["tags", `${plain.addr}/elsewhere/copied`, "--insecure", "--json"]);
    expect(json(tags.stdout).tags).toEqual(["1"]);
  }, 300_000);

  it("a pull killed with SIGKILL half-way leaves the store as it was; the rerun resumes and completes", async () => {
    const ref = `sandboxes/minimal:0.1`;
    const proxy = await slowProxy(plain.addr, 8 * 1024 ** 2);
    const clean = home();
    try {
      const child = execa("node", [...CLI, "pull", `${proxy.addr}/${ref}`], {
        env: { ...clean, PLINTH_INSECURE_REGISTRIES: proxy.addr },
        reject: false,
      });
      const downloads = path.join(clean.PLINTH_CACHE, "downloads");
      const partBytes = () =>
        existsSync(downloads)
          ? readdirSync(downloads)
              .filter((f) => f.endsWith(".part"))
              .reduce((n, f) => n + statSync(path.join(downloads, f)).size, 0)
          : 0;
      while (partBytes() < 20 * 1024 ** 2) {
        expect(child.exitCode).toBeNull(); // still pulling
        await new Promise((r) => setTimeout(r, 100));
      }
      child.kill("SIGKILL");
      await child;
    } finally {
      proxy.close();
    }
    expect(slots(clean)).toEqual([]);
    const rerun = await cli(["pull", `${plain.addr}/${ref}`, "--insecure", "--json"], clean);
    expect(rerun.exitCode, rerun.stderr).toBe(0);
    expect(json(rerun.stdout).resumedBytes).toBeGreaterThanOrEqual(20 * 1024 ** 2);
    expect(sums(slots(clean)[0]!)).toBe(sums(image));
  }, 300_000);

  it("a blob altered in the registry's storage is refused with a digest error, and nothing lands", async () => {
    const own = await startRegistry();
    try {
      const ref = `${own.addr}/sandboxes/minimal:0.1`;
      expect((await cli(["push", image, ref, "--insecure"], builder)).exitCode).toBe(0);
      const kernel = JSON.parse(
        readFileSync(path.join(image, "metadata.json"), "utf8"),
      ).artifacts.find((a: { kind: string }) => a.kind === "kernel") as { sha256: string };
      const data = path.join(
        own.storage,
        "docker/registry/v2/blobs/sha256",
        kernel.sha256.slice(0, 2),
        kernel.sha256,
        "data",
      );
      const fh = await open(data, "r+");
      await fh.write(Buffer.from("plinth"), 0, 6, 4096);
      await fh.close();
      const clean = home();
      const r = await cli(["pull", ref, "--insecure"], clean);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`sha256 is [0-9a-f]{64}, expected ${kernel.sha256}`));
      expect(slots(clean)).toEqual([]);
      const images = path.join(clean.PLINTH_HOME, "images");
      expect(existsSync(images) ? readdirSync(images) : []).toEqual([]);
    } finally {
      await own.stop();
    }
  }, 300_000);

  it("basic auth: no credentials and a wrong password are one clear sentence and exit 2; login, then push and pull", async () => {
    const reg = await startRegistry({ user: "ci", password: "s3cret" });
    const ref = `${reg.addr}/team/minimal:0.1`;
    const env = { ...home(), DOCKER_CONFIG: tmp("docker") };
    try {
      const anon = await cli(["push", image, ref, "--insecure"], env);
      expect(anon.exitCode).toBe(2);
      expect(anon.stderr).toContain(
        `${reg.addr} requires credentials, and none are stored for it.`,
      );
      const login = (password: string) =>
        execa("node", [...CLI, "login", reg.addr, "-u", "ci", "--password-stdin", "--insecure"], {
          input: `${password}\n`,
          env,
          reject: false,
        });
      const wrong = await login("nope");
      expect(wrong.exitCode).toBe(2);
      expect(wrong.stderr).toContain(`${reg.addr} refused the credentials of user "ci".`);
      expect(existsSync(path.join(env.PLINTH_HOME, "auth.json"))).toBe(false);
      const right = await login("s3cret");
      expect(right.exitCode, right.stderr).toBe(0);
      expect(statSync(path.join(env.PLINTH_HOME, "auth.json")).mode & 0o777).toBe(0o600);
      expect(
        (
          await cli(["push", image, ref, "--insecure"], {
            ...builder,
            PLINTH_HOME: env.PLINTH_HOME,
          })
        ).exitCode,
      ).toBe(0);
      // Credentials from docker's config.json serve as well.
      const other = { ...home(), DOCKER_CONFIG: tmp("docker") };
      mkdirSync(other.DOCKER_CONFIG, { recursive: true });
      const auth = Buffer.from("ci:s3cret").toString("base64");
      writeFileSync(
        path.join(other.DOCKER_CONFIG, "config.json"),
        JSON.stringify({ auths: { [reg.addr]: { auth } } }),
      );
      const p = await cli(["pull", ref, "--insecure"], other);
      expect(p.exitCode, p.stderr).toBe(0);
      expect(sums(slots(other)[0]!)).toBe(sums(image));
    } finally {
      await reg.stop();
    }
  }, 300_000);

  it("--as containerdisk pushes an OCI image with the qcow2 at /disk/, owned by 107", async () => {
    const ref = `${plain.addr}/sandboxes/minimal-disk:0.1`;
    const r = await cli(["push", image, ref, "--as", "containerdisk", "--insecure"], builder);
    expect(r.exitCode, r.stderr).toBe(0);
    const inspect = JSON.parse(
      (await execa("skopeo", ["inspect", "--tls-verify=false", `docker://${ref}`])).stdout,
    ) as {
      Os: string;
      Architecture: string;
      Layers: string[];
    };
    expect(inspect).toMatchObject({ Os: "linux", Architecture: "amd64" });
    expect(inspect.Layers).toHaveLength(1);
    const layout = path.join(tmp("oci"), "layout");
    await execa("skopeo", [
      "copy",
      "--src-tls-verify=false",
      `docker://${ref}`,
      `oci:${layout}:disk`,
    ]);
    const layer = path.join(layout, "blobs", "sha256", inspect.Layers[0]!.replace("sha256:", ""));
    const listing = (await execa("tar", ["-tvzf", layer, "--numeric-owner"])).stdout;
    expect(listing).toMatch(/^-r--r----- 107\/107 .* disk\/disk\.qcow2$/m);
    const out = tmp("unpacked");
    await execa("tar", ["-xzf", layer, "-C", out]);
    expect(sums(image)).toContain(
      `${(await execa("sha256sum", [path.join(out, "disk", "disk.qcow2")])).stdout.split(" ")[0]}  disk.qcow2`,
    );
    // Without a qcow2 output: one sentence.
    const noDisk = tmp("nodisk");
    for (const f of readdirSync(image))
      if (f !== "disk.qcow2") cpSync(path.join(image, f), path.join(noDisk, f));
    const meta = JSON.parse(readFileSync(path.join(noDisk, "metadata.json"), "utf8"));
    meta.artifacts = meta.artifacts.filter((a: { kind: string }) => a.kind !== "qcow2");
    writeFileSync(path.join(noDisk, "metadata.json"), JSON.stringify(meta));
    const refused = await cli(
      ["push", noDisk, ref, "--as", "containerdisk", "--insecure"],
      builder,
    );
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/has no qcow2 output, which a containerDisk carries/);
  }, 300_000);

  it("pulls by URL from a web server: verified, resumed after a cut, a checksum mismatch refused", async () => {
    const served = await staticServer(image, { cutOnce: ["rootfs.ext4"] });
    try {
      const clean = home();
      const r = await cli(["pull", `${served.url}/metadata.json`, "--json"], clean);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(sums(slots(clean)[0]!)).toBe(sums(image));
      // The cut GET of rootfs.ext4 was followed by one from where it stopped.
      const gets = served.requests.filter((q) => q.path === "rootfs.ext4");
      expect(gets).toHaveLength(2);
      expect(gets[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
    } finally {
      served.close();
    }
    const tampered = tmp("tampered");
    for (const f of readdirSync(image)) cpSync(path.join(image, f), path.join(tampered, f));
    const fh = await open(path.join(tampered, "vmlinuz"), "r+");
    await fh.write(Buffer.from("x"), 0, 1, 1000);
    await fh.close();
    const bad = await staticServer(tampered);
    try {
      const clean = home();
      const r = await cli(["pull", `${bad.url}/metadata.json`], clean);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/vmlinuz: sha256 is [0-9a-f]{64}, expected [0-9a-f]{64}\./);
      expect(slots(clean)).toEqual([]);
    } finally {
      bad.close();
    }
  }, 300_000);
});
