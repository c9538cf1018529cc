import type { Command } from "commander";
import { ensureImage } from "../../build/build.js";
import { resolveImageRef } from "../../store/images.js";
import { bootToReady } from "../../vm/boot.js";
import { seconds } from "../../ui/progress.js";
import { makeContext } from "../context.js";
import { accelOption, collect, positiveInt } from "../options.js";

const isSpec = (ref: string) => /\.ya?ml$/.test(ref);

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("boot an image (or build a spec, then boot it) until it is up, then power it off")
    .argument("<image>", "image directory, name[:version] in the store, or a plinth.yaml")
    .option("--accel <accel>", "auto, kvm or tcg", accelOption, "auto")
    .option("--mem <MiB>", "guest memory", positiveInt, 1024)
    .option("--cpus <n>", "guest vCPUs", positiveInt, 1)
    .option(
      "--set <key=value>",
      "when <image> is a spec: override a value (repeatable)",
      collect,
      [],
    )
    .option("--json", "JSON events on stdout, the result as the last line")
    .action(
      async (
        ref: string,
        opts: {
          accel: "auto" | "kvm" | "tcg";
          mem: number;
          cpus: number;
          set: string[];
          json?: boolean;
        },
      ) => {
        const ctx = makeContext(!!opts.json);
        const tBuild = performance.now();
        const imageDir = isSpec(ref)
          ? (
              await ensureImage({
                specFile: ref,
                sets: opts.set,
                onEvent: ctx.renderer.onEvent,
                signal: ctx.signal,
              })
            ).imageDir
          : resolveImageRef(ref);
        const buildMs = performance.now() - tBuild;
        ctx.renderer.onEvent({ type: "stage:start", stage: "boot", title: "boot to ready" });
        const r = await bootToReady({
          imageDir,
          accel: opts.accel,
          memMiB: opts.mem,
          cpus: opts.cpus,
          onEvent: ctx.renderer.onEvent,
          signal: ctx.signal,
        });
        ctx.renderer.onEvent({
          type: "stage:end",
          stage: "boot",
          durationMs: r.readyMs,
          detail: r.accel,
        });
        ctx.result(
          [
            `${imageDir} came up (${r.accel}${r.attempts > 1 ? `, after ${r.attempts - 1} retried boot(s)` : ""})`,
            `timings: image ${seconds(buildMs)}, boot-to-ready ${seconds(r.readyMs)} (guest uptime ${r.guestUptimeS ?? "?"} s)`,
          ],
          {
            imageDir,
            accel: r.accel,
            buildMs: Math.round(buildMs),
            readyMs: Math.round(r.readyMs),
            guestUptimeS: r.guestUptimeS,
            attempts: r.attempts,
          },
        );
      },
    );
}
