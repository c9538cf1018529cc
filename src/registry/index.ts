import type { EventSink } from "../events.js";
import { listSlots } from "../store/images.js";
import { readOrigin } from "./land.js";
import { pullImage, type PullOptions, type PullResult } from "./pull.js";
import { formatRef, isRegistryRef, parseRegistryRef } from "./reference.js";
import { isUrl, pullUrl } from "./url-pull.js";

export { pushImage, type PushResult } from "./push.js";
export { pushContainerDisk } from "./containerdisk.js";
export { pullImage, type PullResult } from "./pull.js";
export { pullUrl, isUrl } from "./url-pull.js";
export { isRegistryRef, parseRegistryRef, formatRef } from "./reference.js";
export { RegistryClient } from "./client.js";
export { saveCredentials } from "./auth.js";

/** Whether `ref` is something `pull` fetches: a registry reference or an http(s) URL. */
export function isRemoteRef(ref: string): boolean {
  return isUrl(ref) || isRegistryRef(ref);
}

/** A registry reference or URL pulled into the store, or a digest-pinned one by the same source. */
export async function pull(ref: string, o: PullOptions = {}): Promise<PullResult> {
  return isUrl(ref) ? pullUrl(ref, o) : pullImage(ref, o);
}

/**
 * The image a remote reference names, from the store when an earlier pull of the same
 * reference (or, pinned by digest, of the same manifest) landed it, else pulled now.
 */
export async function ensurePulled(
  ref: string,
  o: { insecure?: string[]; onEvent?: EventSink; signal?: AbortSignal } = {},
): Promise<{ imageDir: string; reused: boolean }> {
  const want = isUrl(ref) ? { source: ref } : sourceOf(ref);
  for (const slot of await listSlots()) {
    const origin = await readOrigin(slot.dir);
    if (!origin) continue;
    const pinned = want.digest && [origin.digest, origin.pinned].includes(want.digest);
    if (want.digest ? pinned : origin.source === want.source)
      return { imageDir: slot.dir, reused: true };
  }
  const r = await pull(ref, o);
  return { imageDir: r.imageDir, reused: !r.pulled };
}

function sourceOf(ref: string): { source: string; digest?: string } {
  const r = parseRegistryRef(ref);
  return { source: formatRef({ ...r, digest: undefined }), digest: r.digest };
}
