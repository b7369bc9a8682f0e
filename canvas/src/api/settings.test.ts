// The configuration calls: the paths, queries and bodies they send (through the typed client)
// and the platform's refusal reaching the person as its own message.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

// Node has no page origin: before the client is created (it keeps the Request class it finds),
// requests to "/..." are made to resolve against this one, as the browser does.
vi.hoisted(() => {
  const Base = globalThis.Request;
  globalThis.Request = class extends Base {
    constructor(input: RequestInfo | URL, init?: RequestInit) {
      super(typeof input === "string" && input.startsWith("/") ? `http://canvas.test${input}` : input, init);
    }
  };
});
import { readFile, writeFile, patchConfig, putModel } from "./config";
import { decideApproval, filteredActivity, searchMemories } from "./memories";
import { createSchedule, updateSchedule } from "./schedules";
import { deleteGlobalSecret, setWorkspaceSecret } from "./secrets";

let sent: Request[] = [];
let reply: { status: number; body: unknown } = { status: 200, body: {} };

beforeEach(() => {
  sent = [];
  reply = { status: 200, body: {} };
  vi.stubGlobal(
    "fetch",
    vi.fn(async (request: Request) => {
      sent.push(request);
      return new Response(JSON.stringify(reply.body), { status: reply.status, headers: { "Content-Type": "application/json" } });
    }),
  );
});
afterEach(() => vi.unstubAllGlobals());

const url = (i = 0) => new URL(sent[i]!.url);
const json = async (i = 0) => JSON.parse(await sent[i]!.text()) as unknown;

describe("the configuration calls", () => {
  it("read and write a prompt file under /configs, the nested path as one segment", async () => {
    reply.body = { path: "prompts/system.md", content: "hi", size: 2 };
    await expect(readFile("w1", "prompts/system.md")).resolves.toMatchObject({ content: "hi" });
    expect(url().pathname).toBe("/workspaces/w1/files/prompts%2Fsystem.md");
    expect(url().searchParams.get("root")).toBe("/configs");
    await writeFile("w1", "config.yaml", "name: x\n");
    expect(sent[1]!.method).toBe("PUT");
    expect(await json(1)).toEqual({ content: "name: x\n" });
  });

  it("a refused config patch carries the platform's message", async () => {
    reply = { status: 400, body: { error: "config must be a JSON object" } };
    await expect(patchConfig("w1", { a: 1 })).rejects.toMatchObject({ status: 400, message: "config must be a JSON object" });
    expect(sent[0]!.method).toBe("PATCH");
    expect(await json()).toEqual({ a: 1 });
  });

  it("model, secrets: the bodies the platform reads", async () => {
    await putModel("w1", "gpt-x");
    expect([sent[0]!.method, url().pathname, await json()]).toEqual(["PUT", "/workspaces/w1/model", { model: "gpt-x" }]);
    await setWorkspaceSecret("w1", "API_KEY", "s3cret");
    expect([sent[1]!.method, url(1).pathname, await json(1)]).toEqual(["PUT", "/workspaces/w1/secrets", { key: "API_KEY", value: "s3cret" }]);
    await deleteGlobalSecret("API_KEY");
    expect([sent[2]!.method, url(2).pathname]).toEqual(["DELETE", "/settings/secrets/API_KEY"]);
  });

  it("schedules: create and enable/disable", async () => {
    await createSchedule("w1", { cron_expr: "0 9 * * *", timezone: "Europe/Paris", prompt: "report" });
    expect(await json()).toEqual({ cron_expr: "0 9 * * *", timezone: "Europe/Paris", prompt: "report" });
    await updateSchedule("w1", "s1", { enabled: false });
    expect([sent[1]!.method, url(1).pathname, await json(1)]).toEqual(["PATCH", "/workspaces/w1/schedules/s1", { enabled: false }]);
  });
});

describe("the watching calls", () => {
  it("memories: q and scope only when given", async () => {
    reply.body = [];
    await searchMemories("w1", "  ", "");
    expect(url().search).toBe("");
    await searchMemories("w1", " deploy notes ", "TEAM");
    expect(Object.fromEntries(url(1).searchParams)).toEqual({ q: "deploy notes", scope: "TEAM" });
  });

  it("activity: type and source filters reach the query", async () => {
    reply.body = [];
    await filteredActivity("w1", { type: "a2a_send", source: "agent" });
    expect(Object.fromEntries(url().searchParams)).toEqual({ type: "a2a_send", source: "agent", limit: "100" });
  });

  it("approvals: the decision body", async () => {
    await decideApproval("w1", "a1", "denied");
    expect([url().pathname, await json()]).toEqual(["/workspaces/w1/approvals/a1/decide", { decision: "denied" }]);
  });
});
