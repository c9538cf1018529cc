import type { Command } from "commander";
import { pull, RegistryClient, parseRegistryRef } from "../../registry/index.js";
import { seconds } from "../../ui/progress.js";
import { makeContext } from "../context.js";
import { INSECURE_HELP, insecureFor } from "../options.js";

export function registerPull(program: Command): void {
  program
    .command("pull")
    .description("pull an image into the local store from a registry, or from a metadata.json URL")
    .argument("<ref>", "HOST[:PORT]/REPOSITORY[:TAG][@sha256:…] or https://…/metadata.json")
    .option("--insecure", INSECURE_HELP)
    .option("--json", "JSON events on stdout, the result as the last line")
    .action(async (ref: string, opts: { insecure?: boolean; json?: boolean }) => {
      const ctx = makeContext(!!opts.json);
      const t0 = performance.now();
      const r = await pull(ref, {
        insecure: insecureFor(ref, opts.insecure),
        onEvent: ctx.renderer.onEvent,
        signal: ctx.signal,
      });
      const ms = performance.now() - t0;
      ctx.result(
        [
          `${r.pulled ? "pulled" : "up to date:"} ${r.imageDir}${r.pulled ? ` in ${seconds(ms)}` : ""}`,
        ],
        { ...r, durationMs: Math.round(ms) },
      );
    });

  program
    .command("tags")
    .description("list a registry repository's tags")
    .argument("<repository>", "HOST[:PORT]/REPOSITORY")
    .option("--insecure", INSECURE_HELP)
    .option("--json", "machine-readable output")
    .action(async (repo: string, opts: { insecure?: boolean; json?: boolean }) => {
      const ctx = makeContext(!!opts.json);
      const ref = parseRegistryRef(repo);
      const client = new RegistryClient(ref.registry, {
        insecure: insecureFor(repo, opts.insecure),
        signal: ctx.signal,
      });
      const tags = await client.listTags(ref.repository);
      ctx.result(tags, { repository: `${ref.registry}/${ref.repository}`, tags });
    });
}
