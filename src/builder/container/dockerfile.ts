import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { run } from "../../host/exec.js";
import { requireTools } from "../../host/tools.js";
import { insecureRegistries } from "../../registry/transport.js";
import { sha256 } from "../../util/hash.js";

/**
 * A Dockerfile built with buildah, no Docker daemon: the result is pushed to an OCI
 * layout at `out` and its local tag removed again. `chroot` isolation needs no container
 * runtime or cgroups. Registries listed as insecure (PLINTH_INSECURE_REGISTRIES) are
 * marked so in a registries.conf of this build's own, each by name: TLS stays on for all
 * others. With `noCache` buildah rebuilds every step and pulls `FROM` again.
 */
export async function buildDockerfile(
  { file, context, args }: { file: string; context: string; args: Record<string, string> },
  out: string,
  o: { insecure?: string[]; noCache?: boolean; signal?: AbortSignal },
): Promise<string> {
  requireTools(["buildah"]);
  // Two builds at once (another arch, another epoch) must not share a tag.
  const tag = `localhost/plinth-base-${sha256(file, context).slice(0, 12)}:${process.pid}`;
  const conf = path.join(path.dirname(out), "registries.conf");
  const insecure = insecureRegistries(o.insecure);
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(
    conf,
    [
      'unqualified-search-registries = ["docker.io"]',
      ...insecure.map((r) => `[[registry]]\nlocation = ${JSON.stringify(r)}\ninsecure = true`),
      "",
    ].join("\n"),
  );
  const sh = (argv: string[]) =>
    run(["buildah", ...argv], {
      stage: "bootstrap",
      signal: o.signal,
      env: { BUILDAH_FORMAT: "oci", CONTAINERS_REGISTRIES_CONF: conf },
    });
  const buildArgs = Object.entries(args).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]);
  const fresh = o.noCache ? ["--no-cache", "--pull=always"] : [];
  // prettier-ignore
  await sh(["bud", "--isolation", "chroot", "--layers", ...fresh, ...buildArgs, "-f", file, "-t", tag, context]);
  try {
    await sh(["push", "--quiet", tag, `oci:${out}`]);
  } finally {
    await sh(["rmi", tag]).catch(() => undefined);
  }
  return out;
}
