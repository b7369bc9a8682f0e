import { describe, expect, it } from "vitest";
import { BACKOFF_MAX_MS, BACKOFF_START_MS, backoffDelay, parseMessage, socketUrl } from "./socket";

describe("the /ws connection", () => {
  it("backs off exponentially with jitter, up to a ceiling", () => {
    const mid = () => 0.5;
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, mid))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffDelay(50, mid)).toBe(BACKOFF_MAX_MS);
    expect(backoffDelay(0, () => 0)).toBe(BACKOFF_START_MS * 0.8);
    expect(backoffDelay(0, () => 1)).toBe(BACKOFF_START_MS * 1.2);
  });

  it("reads batch arrays and single events, and drops garbage", () => {
    const one = { event: "WORKSPACE_ONLINE", workspace_id: "a", timestamp: "t", payload: {} };
    expect(parseMessage(JSON.stringify([one, one]))).toEqual([one, one]);
    expect(parseMessage(JSON.stringify(one))).toEqual([one]);
    expect(parseMessage("not json")).toEqual([]);
    expect(parseMessage(JSON.stringify([{ event: 3 }, { event: "X" }, null]))).toEqual([]);
    expect(parseMessage(new ArrayBuffer(2))).toEqual([]);
  });

  it("uses wss under https", () => {
    expect(socketUrl({ protocol: "https:", host: "m.example:8443" })).toBe("wss://m.example:8443/ws");
    expect(socketUrl({ protocol: "http:", host: "127.0.0.1:8080" })).toBe("ws://127.0.0.1:8080/ws");
  });
});
