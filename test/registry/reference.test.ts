import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { findCredentials, parseChallenge } from "../../src/registry/auth.js";
import { isRegistryRef, parseRegistryRef } from "../../src/registry/reference.js";
import { isInsecure } from "../../src/registry/transport.js";
import { tempFiles } from "../helpers.js";

const D = `sha256:${"a".repeat(64)}`;

describe("registry references", () => {
  it("parses host, port, nested repository, tag and digest", () => {
    expect(parseRegistryRef("127.0.0.1:5000/sandboxes/minimal:0.1")).toEqual({
      registry: "127.0.0.1:5000",
      repository: "sandboxes/minimal",
      tag: "0.1",
      digest: undefined,
    });
    expect(parseRegistryRef(`ghcr.io/acme/base@${D}`)).toMatchObject({ tag: undefined, digest: D });
    expect(parseRegistryRef("localhost/x")).toMatchObject({ registry: "localhost", tag: "latest" });
  });

  it("tells registry references from store names and directories", () => {
    expect(isRegistryRef("minimal:0.1")).toBe(false);
    expect(isRegistryRef("images/minimal")).toBe(false);
    expect(isRegistryRef("registry.example.com/minimal:1")).toBe(true);
    expect(isRegistryRef("127.0.0.1:5000/a/b")).toBe(true);
    // Relative paths that do not exist (yet) are paths, not hosts.
    for (const p of ["./out/img", "../img", "../../x/y", ".hidden/img"])
      expect(isRegistryRef(p), p).toBe(false);
  });

  it("refuses bad references with one sentence", () => {
    expect(() => parseRegistryRef("r.io/Upper:1")).toThrow(/"Upper" is not a valid repository/);
    expect(() => parseRegistryRef("r.io/x@sha256:12")).toThrow(/is not a sha256 digest/);
    expect(() => parseRegistryRef("r.io/x:bad tag")).toThrow(/is not a valid tag/);
  });
});

describe("registry auth", () => {
  it("parses bearer challenges whose scope holds commas", () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"',
      ),
    ).toEqual({
      scheme: "bearer",
      params: {
        realm: "https://auth.example.com/token",
        service: "registry.example.com",
        scope: "repository:a/b:pull,push",
      },
    });
    expect(parseChallenge('Basic realm="x"')).toEqual({ scheme: "basic", params: { realm: "x" } });
  });

  it("finds credentials in plinth's file first, then docker's config.json", () => {
    const home = tempFiles({});
    const docker = tempFiles({});
    const env = { PLINTH_HOME: home, DOCKER_CONFIG: docker };
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const b64 = (s: string) => Buffer.from(s).toString("base64");
      writeFileSync(
        path.join(docker, "config.json"),
        JSON.stringify({
          auths: { "r.io": { auth: b64("d:pw") }, "https://s.io": { auth: b64("s:p:w") } },
        }),
      );
      expect(findCredentials("r.io")).toEqual({ username: "d", password: "pw" });
      expect(findCredentials("s.io")).toEqual({ username: "s", password: "p:w" });
      mkdirSync(home, { recursive: true });
      writeFileSync(
        path.join(home, "auth.json"),
        JSON.stringify({ auths: { "r.io": { auth: b64("p:x") } } }),
      );
      expect(findCredentials("r.io")).toEqual({ username: "p", password: "x" });
      expect(findCredentials("other.io")).toBeUndefined();
    } finally {
      process.env = saved;
    }
  });

  it("speaks plain HTTP only to registries named for it", () => {
    const saved = process.env.PLINTH_INSECURE_REGISTRIES;
    process.env.PLINTH_INSECURE_REGISTRIES = "a.local:5000, b.local";
    try {
      expect(isInsecure("a.local:5000")).toBe(true);
      expect(isInsecure("b.local")).toBe(true);
      expect(isInsecure("127.0.0.1:5000")).toBe(false);
      expect(isInsecure("127.0.0.1:5000", ["127.0.0.1:5000"])).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.PLINTH_INSECURE_REGISTRIES;
      else process.env.PLINTH_INSECURE_REGISTRIES = saved;
    }
  });
});
