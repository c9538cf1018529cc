#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { registerBuild } from "./commands/build.js";
import { registerDoctor } from "./commands/doctor.js";
import { registerRun } from "./commands/run.js";
import { registerExec } from "./commands/exec.js";
import { registerCp } from "./commands/cp.js";
import { registerPs } from "./commands/ps.js";
import { registerStop } from "./commands/stop.js";
import { registerLogs } from "./commands/logs.js";
import { registerConsole } from "./commands/console.js";
import { registerCheck } from "./commands/check.js";
import { registerValidate } from "./commands/validate.js";
import { registerSchema } from "./commands/schema.js";
import { registerImages } from "./commands/images.js";
import { registerRm } from "./commands/rm.js";
import { registerPrune } from "./commands/prune.js";
import { registerPush } from "./commands/push.js";
import { registerPull } from "./commands/pull.js";
import { registerLogin } from "./commands/login.js";
import { registerSbom } from "./commands/sbom.js";
import { registerSnapshot } from "./commands/snapshot.js";
import { registerNet } from "./commands/net.js";
import { reportError } from "./context.js";
import { presetOptionalValues } from "./options.js";
import { exitStatusOf } from "./exit-status.js";
import { PLINTH_VERSION } from "../version.js";

const program = new Command("plinth")
  .description("Build, check, ship and boot VM base images for AI-agent sandboxes.")
  .version(PLINTH_VERSION)
  .showHelpAfterError()
  .exitOverride();

registerDoctor(program);
registerValidate(program);
registerBuild(program);
registerRun(program);
registerExec(program);
registerCp(program);
registerPs(program);
registerStop(program);
registerLogs(program);
registerConsole(program);
registerCheck(program);
registerSchema(program);
registerImages(program);
registerRm(program);
registerPrune(program);
registerLogin(program);
registerPush(program);
registerPull(program);
registerSbom(program);
registerSnapshot(program);
registerNet(program);

try {
  await program.parseAsync(presetOptionalValues(process.argv));
} catch (error) {
  // Commander printed its usage error already (help and --version exit 0).
  process.exitCode =
    error instanceof CommanderError
      ? exitStatusOf(error)
      : reportError(error, process.argv.includes("--json"));
}
// Pending timers (progress) must not keep the process alive after the command is done.
process.exit(process.exitCode ?? 0);
