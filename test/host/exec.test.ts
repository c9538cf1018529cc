import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ToolError } from "../../src/errors.js";
import { lastUpdate, run } from "../../src/host/exec.js";

const SCRIPT = "printf 'one\\n'; printf 'two\\n' >&2; printf 'a\\rb\\r\\n'; printf 'last'";

describe("run: lines as they are printed", () => {
  it("passes every line of stdout and stderr to onLine, and returns stdout as before", async () => {
    const lines: string[] = [];
    const out = await run(["sh", "-c", SCRIPT], { stage: "t", onLine: (l) => lines.push(l) });
    expect(lines.sort()).toEqual(["b", "last", "one", "two"]);
    expect(out).toBe(await run(["sh", "-c", SCRIPT], { stage: "t" }));
    expect(out).toBe("one\na\rb\r\nlast");
  });

  it("keeps a failure's output tail, stderr included", async () => {
    const lines: string[] = [];
    const failing = run(["sh", "-c", "echo fetching; echo 'E: no such package' >&2; exit 3"], {
      stage: "bootstrap",
      onLine: (l) => lines.push(l),
    });
    await expect(failing).rejects.toBeInstanceOf(ToolError);
    await failing.catch((e: ToolError) => {
      expect(e.exitCode).toBe(3);
      // Two pipes: their lines interleave in whatever order they arrive.
      expect(e.stderrTail.split("\n").sort()).toEqual(["E: no such package", "fetching"]);
    });
    expect(lines.sort()).toEqual(["E: no such package", "fetching"]);
  });

  it("lastUpdate: a line without its newline, and of a redrawn line what shows last", () => {
    expect(lastUpdate("I: extracting archives...\n")).toBe("I: extracting archives...");
    expect(lastUpdate("10%\r50%\r100%\r\n")).toBe("100%");
    expect(lastUpdate("\n")).toBe("");
  });
});

describe("run: stdout to a file", () => {
  it("writes binary stdout byte for byte, and a failure still carries stderr", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-exec-"));
    const file = path.join(dir, "out");
    const script = "printf '\\000\\377\\177ELF\\n'; echo 'trailing garbage' >&2; exit 2";
    const failing = run(["sh", "-c", script], { stage: "t", stdoutFile: file });
    await expect(failing).rejects.toMatchObject({ exitCode: 2, stderrTail: "trailing garbage" });
    expect(readFileSync(file)).toEqual(Buffer.from([0, 0xff, 0x7f, 0x45, 0x4c, 0x46, 0x0a]));
    expect(await run(["printf", "\\001"], { stage: "t", stdoutFile: file })).toBe("");
    expect(readFileSync(file)).toEqual(Buffer.from([1])); // truncated, not appended
  });
});
