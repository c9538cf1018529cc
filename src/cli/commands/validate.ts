import type { Command } from "commander";
import { SpecError } from "../../errors.js";
import { loadSpec } from "../../spec/load.js";
import { planBuild } from "../../builder/plan.js";
import { plural } from "../../util/plural.js";
import { makeContext } from "../context.js";
import { collect } from "../options.js";

export function registerValidate(program: Command): void {
  program
    .command("validate")
    .description("check a spec and report every problem with file:line:col")
    .argument("<spec>", "plinth.yaml to check")
    .option("--set <key=value>", "override a spec value (repeatable)", collect, [])
    .option("--json", "machine-readable output")
    .action((specFile: string, opts: { set: string[]; json?: boolean }) => {
      const ctx = makeContext(!!opts.json);
      const r = loadSpec(specFile, { sets: opts.set });
      if (!r.spec) throw new SpecError(r.diagnostics);
      const plan = planBuild(r.spec, { specFile });
      ctx.result(
        [
          `${specFile}: ok (${r.spec.name} ${r.spec.version}, ${plural(plan.bootstrap.packages.length, "package")})`,
        ],
        {
          ok: true,
          name: r.spec.name,
          version: r.spec.version,
          files: r.files,
          // Offline, a container base's digest is unknown: so is the build's hash.
          ...(plan.container
            ? {}
            : { buildHash: plan.buildHash, bootstrapHash: plan.bootstrap.hash }),
        },
      );
    });
}
