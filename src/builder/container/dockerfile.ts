import { mkdir } from "node:fs/promises";
import path from "node:path";
import { run } from "../../host/exec.js";
import { requireTools } from "../../host/tools.js";
import { insecureRegistries } from "../../registry/transport.js";
import { sha256 } from "../../util/hash.js";

/**
 * A Dockerfile built with buildah, no Docker daemon: the result is pushed to an OCI
 * layout at `out` and its local tag removed again. `chroot` isolation needs no container
 * runtime or cgroups. With any registry listed as insecure (PLINTH_INSECURE_REGISTRIES)
 * buildah skips TLS verification for all: it has no per-registry switch on its command line.
 */
export async function buildDockerfile(
  { file, context, args }: { file: string; context: string; args: Record<string, string> },
  out: string,
  o: { insecure?: string[]; signal?: AbortSignal },
): Promise<string> {
  requireTools(["buildah"]);
  const tag = `localhost/plinth-base-${sha256(file, context).slice(0, 12)}:build`;
  const sh = (argv: string[]) =>
    run(["buildah", ...argv], {
      stage: "bootstrap",
      signal: o.signal,
      env: { BUILDAH_FORMAT: "oci" },
    });
  const tls = insecureRegistries(o.insecure).length ? ["--tls-verify=false"] : [];
  await mkdir(path.dirname(out), { recursive: true });
  const buildArgs = Object.entries(args).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]);
  // prettier-ignore
  await sh(["bud", "--isolation", "chroot", "--layers", ...tls, ...buildArgs, "-f", file, "-t", tag, context]);
  try {
    await sh(["push", "--quiet", tag, `oci:${out}`]);
  } finally {
    await sh(["rmi", tag]).catch(() => undefined);
  }
  return out;
}
