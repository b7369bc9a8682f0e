import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { EXTERNAL_RUNTIMES, connectsExternally, restartsOnSave, cronError, editableFiles, newFileError, parseConfigPatch, secretKeyError, splitSecrets } from "./forms";

describe("the config editor", () => {
  it("accepts a JSON object and refuses everything else with a reason", () => {
    expect(parseConfigPatch('{"a": 1, "b": {"c": true}}')).toEqual({ ok: true, value: { a: 1, b: { c: true } } });
    expect(parseConfigPatch("")).toMatchObject({ ok: false });
    expect(parseConfigPatch("[1, 2]")).toEqual({ ok: false, error: "the config must be a JSON object" });
    expect(parseConfigPatch("null")).toEqual({ ok: false, error: "the config must be a JSON object" });
    const bad = parseConfigPatch("{a: 1}");
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error).toMatch(/^not valid JSON/);
  });

  it("offers text files, config.yaml first then prompts, never directories", () => {
    const files = editableFiles([
      { path: "zeta.md", size: 1, dir: false },
      { path: "prompts", size: 0, dir: true },
      { path: "prompts/system.md", size: 1, dir: false },
      { path: "config.yaml", size: 1, dir: false },
      { path: "logo.png", size: 1, dir: false },
    ]);
    expect(files).toEqual(["config.yaml", "prompts/system.md", "zeta.md"]);
  });

  it("checks a new file's path", () => {
    expect(newFileError("prompts/extra.md")).toBeNull();
    expect(newFileError("")).toBe("name the file");
    expect(newFileError("../etc/passwd.txt")).toMatch(/relative/);
    expect(newFileError("/abs.md")).toMatch(/relative/);
    expect(newFileError("a//b.md")).toMatch(/relative/);
    expect(newFileError("run.sh")).toMatch(/text file/);
  });
});

describe("secrets", () => {
  it("names are environment variable names", () => {
    expect(secretKeyError("OPENAI_API_KEY")).toBeNull();
    expect(secretKeyError("_x1")).toBeNull();
    expect(secretKeyError("")).toBe("name the secret");
    expect(secretKeyError("1ABC")).toMatch(/environment variable/);
    expect(secretKeyError("MY-KEY")).toMatch(/environment variable/);
    expect(secretKeyError("A".repeat(257))).toMatch(/256/);
  });

  it("splits own keys from the inherited global ones an own key does not override", () => {
    const row = (key: string, scope: string) => ({ key, scope, has_value: true }) as never;
    expect(splitSecrets([row("B", "workspace"), row("G", "global"), row("B", "global"), row("A", "workspace")])).toEqual({
      own: ["A", "B"],
      inherited: ["G"],
    });
  });
});

describe("schedules", () => {
  it("wants five cron fields or a shorthand", () => {
    expect(cronError("0 9 * * 1-5")).toBeNull();
    expect(cronError("*/5 * * * *")).toBeNull();
    expect(cronError("@daily")).toBeNull();
    expect(cronError("")).toMatch(/write a cron/);
    expect(cronError("0 9 * *")).toBe("five fields (minute hour day month weekday), not 4");
    expect(cronError("0 9 * * 1 2")).toMatch(/not 6/);
    expect(cronError("0 9 * * $")).toMatch(/characters/);
  });
});

describe("a setting's save", () => {
  it("restarts the agents the platform runs, not external or mock ones", () => {
    for (const runtime of ["echo", "langgraph", "claude-code", "openai"]) expect(restartsOnSave(runtime)).toBe(true);
    for (const runtime of ["external", "kimi", "kimi-cli", "mock"]) expect(restartsOnSave(runtime)).toBe(false);
  });
});

describe("the external connection", () => {
  it("is offered for the platform's external runtimes only, not for a platform-run one in poll mode", () => {
    for (const runtime of ["external", "kimi", "kimi-cli"]) expect(connectsExternally(runtime)).toBe(true);
    for (const runtime of ["echo", "langgraph", "mock", "", null, undefined]) expect(connectsExternally(runtime)).toBe(false);
  });

  it("names the same runtimes as the platform (molecule/models.py)", () => {
    const text = readFileSync(resolve(__dirname, "../../../molecule/models.py"), "utf8");
    const line = /^EXTERNAL_RUNTIMES = frozenset\(\{(.*)\}\)$/m.exec(text);
    expect(line, "EXTERNAL_RUNTIMES in molecule/models.py").not.toBeNull();
    const platform = [...line![1]!.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
    expect([...EXTERNAL_RUNTIMES].sort()).toEqual(platform.sort());
  });
});
