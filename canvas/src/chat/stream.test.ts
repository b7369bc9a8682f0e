import { afterEach, describe, expect, it, vi } from "vitest";
import { readStream, streamMessage } from "../api/chat";
import { ReplyAccumulator, SseParser, eventContent } from "./stream";

const frame = (obj: unknown) => `data: ${JSON.stringify(obj)}\n\n`;
const working = { jsonrpc: "2.0", id: 1, result: { kind: "status-update", taskId: "t", status: { state: "working" }, final: false } };
const final = { jsonrpc: "2.0", id: 1, result: { kind: "message", role: "agent", messageId: "m", parts: [{ kind: "text", text: "echo: hi" }] } };
const artifact = (text: string) => ({ jsonrpc: "2.0", id: 1, result: { kind: "artifact-update", artifact: { parts: [{ kind: "text", text }] } } });

describe("SseParser", () => {
  it("joins a line split across chunks", () => {
    const parser = new SseParser();
    const body = frame(final);
    expect(parser.feed(body.slice(0, 7))).toEqual([]);
    expect(parser.feed(body.slice(7, 30))).toEqual([]);
    expect(parser.feed(body.slice(30))).toEqual([final]);
  });

  it("reads several events from one chunk, CRLF and comments included", () => {
    const parser = new SseParser();
    const body = frame(working) + ": keep-alive\r\n\r\n" + `event: message\r\ndata: ${JSON.stringify(final)}\r\n\r\n`;
    expect(parser.feed(body)).toEqual([working, final]);
  });

  it("waits for the second half of a CRLF split between chunks", () => {
    const parser = new SseParser();
    expect(parser.feed(`data: {"a":1}\r`)).toEqual([]);
    expect(parser.feed(`\n\r\n`)).toEqual([{ a: 1 }]);
  });

  it("joins multi-line data and keeps a non-JSON event as text", () => {
    const parser = new SseParser();
    expect(parser.feed("data: one\ndata:two\n\n")).toEqual([{ text: "one\ntwo" }]);
  });

  it("counts a last event that lacks its blank line when the body ends", () => {
    const parser = new SseParser();
    expect(parser.feed(`data: ${JSON.stringify(final)}`)).toEqual([]);
    expect(parser.end()).toEqual([final]);
    expect(parser.end()).toEqual([]);
  });
});

describe("ReplyAccumulator", () => {
  it("ignores a status update without a message, then takes the final message", () => {
    const reply = new ReplyAccumulator();
    expect(reply.take(working)).toBe(false);
    expect(reply.text).toBe("");
    expect(reply.take(final)).toBe(true);
    expect(reply.reply).toEqual({ text: "echo: hi", files: [], error: null });
  });

  it("appends artifact chunks and does not repeat them when the final message restates them", () => {
    const reply = new ReplyAccumulator();
    reply.take(artifact("Hel"));
    reply.take(artifact("lo, "));
    expect(reply.text).toBe("Hello, ");
    reply.take({ ...final, result: { ...final.result, parts: [{ kind: "text", text: "Hello, world" }] } });
    expect(reply.text).toBe("Hello, world");
  });

  it("adds a message that does not extend the text on a new line", () => {
    const reply = new ReplyAccumulator();
    reply.take({ result: { kind: "status-update", status: { state: "working", message: { parts: [{ kind: "text", text: "thinking" }] } } } });
    reply.take(final);
    expect(reply.text).toBe("thinking\necho: hi");
  });

  it("reads v1.0 wrapped events and collects files once", () => {
    const file = { kind: "file", file: { uri: "workspace:/out/a.txt", name: "a.txt" } };
    const reply = new ReplyAccumulator();
    reply.take({ result: { artifactUpdate: { artifact: { parts: [{ kind: "text", text: "part" }, file] } } } });
    reply.take({ result: { message: { parts: [{ kind: "text", text: "part two" }, file] } } });
    expect(reply.text).toBe("part two");
    expect(reply.files).toEqual([{ uri: "workspace:/out/a.txt", name: "a.txt" }]);
  });

  it("ends as an error on a JSON-RPC error event, keeping what arrived", () => {
    const reply = new ReplyAccumulator();
    reply.take(artifact("partial"));
    expect(reply.take({ jsonrpc: "2.0", id: 1, error: { code: -32603, message: "adapter failed" } })).toBe(true);
    expect(reply.reply).toEqual({ text: "partial", files: [], error: "adapter failed" });
  });

  it("reads a task's artifacts when its status says nothing", () => {
    expect(eventContent({ kind: "task", status: { state: "completed" }, artifacts: [{ parts: [{ kind: "text", text: "done" }] }] }).text).toBe(
      "done",
    );
    expect(eventContent(null).kind).toBe("");
  });
});

describe("readStream", () => {
  function body(chunks: string[]): ReadableStream<Uint8Array> {
    const bytes = new TextEncoder();
    return new ReadableStream({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(bytes.encode(chunk));
        controller.close();
      },
    });
  }

  it("tells each growth of the reply and returns the final one", async () => {
    const frames = [frame(working), frame(artifact("é")), frame(artifact("t")), frame({ ...final, result: { ...final.result, parts: [{ kind: "text", text: "ét" }] } })];
    const cut = frames.flatMap((f) => [f.slice(0, 9), f.slice(9)]); // every event split mid-line
    const seen: string[] = [];
    const reply = await readStream(body(cut), (r) => seen.push(r.text));
    expect(seen).toEqual(["é", "ét"]);
    expect(reply).toEqual({ text: "ét", files: [], error: null });
  });

  it("decodes a character split across byte chunks", async () => {
    const bytes = new TextEncoder().encode(frame(artifact("ü")));
    const at = bytes.indexOf(0xc3) + 1; // between the two bytes of "ü"
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, at));
        controller.enqueue(bytes.slice(at));
        controller.close();
      },
    });
    expect((await readStream(stream, () => {}))?.text).toBe("ü");
  });

  it("returns null when the stream said nothing", async () => {
    expect(await readStream(body([frame(working)]), () => {})).toBeNull();
  });
});

describe("streamMessage", () => {
  afterEach(() => vi.unstubAllGlobals());

  function answers(...replies: Response[]) {
    const calls: { method: string; accept: string | null }[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (input: Request | string, init?: RequestInit) => {
        const request = new Request(typeof input === "string" ? `http://canvas${input}` : input, init);
        calls.push({ method: (await request.json()).method, accept: request.headers.get("accept") });
        return replies.shift()!;
      }),
    );
    return calls;
  }
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

  it("asks for a stream and shows the events as they come", async () => {
    const calls = answers(new Response(frame(working) + frame(final), { headers: { "Content-Type": "text/event-stream" } }));
    const seen: string[] = [];
    expect(await streamMessage("w", "hi", [], (r) => seen.push(r.text))).toEqual({ text: "echo: hi", files: [], error: null });
    expect(seen).toEqual(["echo: hi"]);
    expect(calls).toEqual([{ method: "message/stream", accept: "text/event-stream, application/json" }]);
  });

  it("takes a plain JSON answer whole, and a JSON-RPC error as an error reply", async () => {
    answers(json(final), json({ jsonrpc: "2.0", id: 1, error: { code: -32603, message: "boom" } }));
    const seen: unknown[] = [];
    expect(await streamMessage("w", "hi", [], (r) => seen.push(r))).toEqual({ text: "echo: hi", files: [], error: null });
    expect(await streamMessage("w", "hi", [], (r) => seen.push(r))).toEqual({ text: "boom", files: [], error: "boom" });
    expect(seen).toEqual([]);
  });

  it("asks again with message/send when the agent does not know the streaming method", async () => {
    const calls = answers(json({ jsonrpc: "2.0", id: 1, error: { code: -32601, message: "Method not found" } }), json(final));
    expect((await streamMessage("w", "hi", [], () => {}))?.text).toBe("echo: hi");
    expect(calls.map((c) => c.method)).toEqual(["message/stream", "message/send"]);
  });

  it("throws the platform's refusal, and returns null for a queued message", async () => {
    answers(json({ error: "workspace not found" }, 404), json({ queued: true, queue_id: "q" }, 202));
    await expect(streamMessage("w", "hi", [], () => {})).rejects.toThrow("workspace not found");
    expect(await streamMessage("w", "hi", [], () => {})).toBeNull();
  });
});
