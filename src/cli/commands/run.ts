import type { Command } from "commander";
import { seconds } from "../../ui/progress.js";
import { Machine } from "../../vm/machine.js";
import { makeContext } from "../context.js";
import { accelOption, collect, positiveInt, publishOption } from "../options.js";
import type { PortForward } from "../../vm/qemu-argv.js";
import { resolveImage } from "../../builder/build.js";
import { exitCodeOf } from "../exit-code.js";

interface RunOptions {
  rm?: boolean;
  detach?: boolean;
  name?: string;
  accel: "auto" | "kvm" | "tcg";
  mem: number;
  cpus: number;
  set: string[];
  json?: boolean;
  append?: string;
  net?: boolean;
  publish: PortForward[];
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .description(
      "boot an image (building a spec first if needed); run a command in it, or just show it comes up",
    )
    .argument("<image>", "image directory, name[:version] in the store, or a plinth.yaml")
    .argument("[command...]", "command to run through the agent (after --)")
    .option("--rm", "remove the VM's state (overlay, console log) when it stops")
    .option("-d, --detach", "leave the VM running in the background; print its name")
    .option("--name <name>", "VM name (default: image name + random suffix)")
    .option("--accel <accel>", "auto, kvm or tcg", accelOption, "auto")
    .option("--mem <MiB>", "guest memory", positiveInt, 1024)
    .option("--cpus <n>", "guest vCPUs", positiveInt, 1)
    .option("--append <args>", "more kernel command-line arguments (plinth.ip=…, plinth.ssh_key=…)")
    .option("--net", "give the guest a NIC on QEMU's user-mode network (10.0.2.0/24)")
    .option(
      "-p, --publish <host:guest>",
      "forward a TCP port on 127.0.0.1 to the guest (implies --net; repeatable)",
      publishOption,
      [],
    )
    .option(
      "--set <key=value>",
      "when <image> is a spec: override a value (repeatable)",
      collect,
      [],
    )
    .option("--json", "JSON events on stdout, the result as the last line")
    .action(async (ref: string, command: string[], opts: RunOptions) => {
      const ctx = makeContext(!!opts.json);
      const emit = ctx.renderer.onEvent;
      const t0 = performance.now();
      const image = await resolveImage(ref, { sets: opts.set, onEvent: emit, signal: ctx.signal });
      const imageMs = performance.now() - t0;
      emit({ type: "stage:start", stage: "boot", title: "boot" });
      const vm = await Machine.start({
        image: image.imageDir,
        name: opts.name,
        accel: opts.accel,
        memMiB: opts.mem,
        cpus: opts.cpus,
        detach: opts.detach,
        append: opts.append,
        net: opts.net || opts.publish.length ? { forwards: opts.publish } : undefined,
        onEvent: emit,
        signal: ctx.signal,
      });
      const boot = vm.boot!;
      emit({
        type: "stage:end",
        stage: "boot",
        durationMs: boot.readyMs,
        detail: `${vm.config.accel}, ${vm.hasAgent ? "agent ready" : "ready marker"}`,
      });
      const timings: Record<string, number> = {
        imageMs: Math.round(imageMs),
        bootMs: Math.round(boot.readyMs),
      };
      if (opts.detach) {
        ctx.result([vm.name], { name: vm.name, ...timings, attempts: boot.attempts });
        return;
      }
      let exitCode = 0;
      try {
        if (command.length) {
          const client = await vm.agent();
          const tExec = performance.now();
          const r = await client.exec(command, {
            onStdout: (b) => (opts.json ? undefined : process.stdout.write(b)),
            onStderr: (b) => (opts.json ? undefined : process.stderr.write(b)),
            buffer: !!opts.json,
            signal: ctx.signal,
          });
          timings.execMs = Math.round(performance.now() - tExec);
          exitCode = exitCodeOf(r);
          if (opts.json) Object.assign(timings, { stdout: r.stdout, stderr: r.stderr });
        }
      } finally {
        const tStop = performance.now();
        await vm.stop();
        timings.stopMs = Math.round(performance.now() - tStop);
        if (opts.rm) await vm.remove();
      }
      const line = [
        `image ${seconds(timings.imageMs!)}${image.reused ? " (up to date)" : ""}`,
        `boot-to-${vm.hasAgent ? "agent-ready" : "ready"} ${seconds(timings.bootMs!)} (${vm.config.accel}${boot.attempts > 1 ? `, ${boot.attempts - 1} retried` : ""})`,
        ...(timings.execMs !== undefined ? [`exec ${timings.execMs} ms`] : []),
        `stop ${seconds(timings.stopMs!)}`,
      ].join(", ");
      ctx.renderer.close();
      if (opts.json)
        ctx.result([], { name: vm.name, exitCode, attempts: boot.attempts, ...timings });
      else process.stderr.write(`plinth: ${vm.name}: ${line}\n`);
      process.exitCode = exitCode;
    });
}
