import type { Command } from "commander";
import { UserError } from "../../errors.js";
import { RegistryClient, saveCredentials } from "../../registry/index.js";
import { makeContext } from "../context.js";
import { INSECURE_HELP } from "../options.js";

export function registerLogin(program: Command): void {
  program
    .command("login")
    .description("check credentials against a registry and store them for push and pull")
    .argument("<registry>", "HOST[:PORT]")
    .requiredOption("-u, --username <user>", "user name")
    .option(
      "--password-stdin",
      "read the password from stdin (the only way: never on the command line)",
    )
    .option("--insecure", INSECURE_HELP)
    .option("--json", "machine-readable output")
    .action(
      async (
        registry: string,
        opts: { username: string; passwordStdin?: boolean; insecure?: boolean; json?: boolean },
      ) => {
        const ctx = makeContext(!!opts.json);
        if (!opts.passwordStdin)
          throw new UserError(
            "PASSWORD_STDIN",
            "plinth login reads the password from stdin only.",
            {
              hint: `Run \`echo "$PASSWORD" | plinth login ${registry} -u ${opts.username} --password-stdin\`.`,
            },
          );
        const password = (await readStdin()).replace(/\r?\n$/, "");
        const credentials = { username: opts.username, password };
        // A registry that never challenges accepts anyone; one that does must accept these.
        await new RegistryClient(registry, {
          credentials,
          insecure: opts.insecure ? [registry] : [],
          signal: ctx.signal,
        }).ping();
        const file = await saveCredentials(registry, credentials);
        ctx.result([`logged in to ${registry} as ${opts.username} (saved in ${file})`], {
          registry,
          username: opts.username,
          file,
        });
      },
    );
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
