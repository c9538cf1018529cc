import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { checkImage } from "../../check/run.js";
import { formatTable, toJUnit } from "../../check/report.js";
import { makeContext } from "../context.js";
import { accelOption, BOOT_HELP, bootOption, collect, positiveInt } from "../options.js";
import { resolveImage } from "../../builder/build.js";

export function registerCheck(program: Command): void {
  program
    .command("check")
    .description(
      "boot an image and verify, through its agent, everything its spec declares and its validate: section",
    )
    .argument("<image>", "image directory, name[:version] in the store, or a plinth.yaml")
    .option("--accel <accel>", "auto, kvm or tcg", accelOption, "auto")
    .option("--boot <how>", BOOT_HELP, bootOption, "kernel")
    .option("--mem <MiB>", "guest memory (default: the spec's validate.vm, else 1024)", positiveInt)
    .option("--cpus <n>", "guest vCPUs (default: the spec's validate.vm, else 1)", positiveInt)
    .option(
      "--set <key=value>",
      "when <image> is a spec: override a value (repeatable)",
      collect,
      [],
    )
    .option("--junit <file>", "also write the results as JUnit XML")
    .option("--json", "JSON events on stdout, the report as the last line")
    .action(
      async (
        ref: string,
        opts: {
          accel: "auto" | "kvm" | "tcg";
          boot: "kernel" | "disk";
          mem?: number;
          cpus?: number;
          set: string[];
          junit?: string;
          json?: boolean;
        },
      ) => {
        const ctx = makeContext(!!opts.json);
        const { imageDir } = await resolveImage(ref, {
          sets: opts.set,
          onEvent: ctx.renderer.onEvent,
          signal: ctx.signal,
        });
        const report = await checkImage({
          imageDir,
          accel: opts.accel,
          boot: opts.boot,
          memMiB: opts.mem,
          cpus: opts.cpus,
          onEvent: ctx.renderer.onEvent,
          signal: ctx.signal,
        });
        if (opts.junit) await writeFile(opts.junit, toJUnit(report));
        ctx.result(formatTable(report), report);
        if (report.failed) process.exitCode = 1;
      },
    );
}
