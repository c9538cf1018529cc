import { UserError } from "../errors.js";

/** `host[:port]/repo/path[:tag][@sha256:hex]`: where an image lives in an OCI registry. */
export interface RegistryRef {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

// The distribution spec's grammar for repository path components and tags.
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Whether `ref` names a registry (its first component is a host), not a store image. */
export function isRegistryRef(ref: string): boolean {
  const first = ref.split("/")[0]!;
  // A host name or address, with an optional port: `./img` and `../img` are paths.
  const host =
    /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?$|^\[[0-9a-fA-F:]+\](?::\d{1,5})?$/;
  return (
    ref.includes("/") &&
    host.test(first) &&
    (first.includes(".") || first.includes(":") || first === "localhost")
  );
}

export function parseRegistryRef(ref: string): RegistryRef {
  const bad = (why: string) =>
    new UserError("BAD_REGISTRY_REF", `"${ref}" is not a registry reference: ${why}.`, {
      hint: "Use HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST], e.g. registry.example.com/sandboxes/minimal:0.1.",
    });
  if (!isRegistryRef(ref)) throw bad("it does not start with a registry host");
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(`"${digest}" is not a sha256 digest`);
  }
  const slash = rest.indexOf("/");
  const registry = rest.slice(0, slash);
  let repository = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = repository.lastIndexOf(":");
  if (colon >= 0) {
    tag = repository.slice(colon + 1);
    repository = repository.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`"${tag}" is not a valid tag`);
  }
  if (!repository.split("/").every((c) => COMPONENT.test(c)))
    throw bad(`"${repository}" is not a valid repository (lowercase letters, digits, . _ -)`);
  if (!tag && !digest) tag = "latest";
  return { registry, repository, tag, digest };
}

export function formatRef(r: RegistryRef): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ""}${r.digest ? `@${r.digest}` : ""}`;
}
