import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, api, errorMessage, onUnauthorized, unwrap } from "./client";

function answer(status: number, body: unknown, type = "application/json"): void {
  vi.stubGlobal(
    "fetch",
    vi.fn(async () => new Response(typeof body === "string" ? body : JSON.stringify(body), { status, headers: { "Content-Type": type } })),
  );
}

// Node has no page origin: the calls name one (the browser resolves "/workspaces" itself).
const BASE = "http://127.0.0.1:8080";
const list = () => unwrap(api.GET("/workspaces", { baseUrl: BASE }));

describe("the API client", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("returns the data of a success", async () => {
    answer(200, [{ id: "a" }]);
    await expect(list()).resolves.toEqual([{ id: "a" }]);
  });

  it("turns the platform's {error} into an ApiError with its message and status", async () => {
    answer(404, { error: "workspace not found" });
    const error = await list().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 404, message: "workspace not found", body: { error: "workspace not found" } });
  });

  it("describes an outage, a plain-text error and a bare status", async () => {
    answer(503, {});
    await expect(list()).rejects.toMatchObject({ status: 503, message: "the platform's database is unavailable; try again shortly" });
    answer(502, "Bad gateway from the proxy", "text/plain");
    await expect(list()).rejects.toMatchObject({ status: 502, message: "Bad gateway from the proxy" });
    expect(errorMessage(418, null)).toBe("request failed (HTTP 418)");
  });

  it("a network failure is an ApiError of status 0", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    await expect(list()).rejects.toMatchObject({ status: 0, message: "the platform cannot be reached" });
  });

  it("a 401 tells the listeners (the page goes to sign-in), other refusals do not", async () => {
    const heard = vi.fn();
    const off = onUnauthorized(heard);
    answer(403, { error: "forbidden" });
    await expect(list()).rejects.toMatchObject({ status: 403 });
    expect(heard).not.toHaveBeenCalled();
    answer(401, { error: "admin auth required" });
    const error = (await list().catch((e: unknown) => e)) as ApiError;
    expect(error.unauthorized).toBe(true);
    expect(heard).toHaveBeenCalledTimes(1);
    off();
    await list().catch(() => undefined);
    expect(heard).toHaveBeenCalledTimes(1);
  });

  it("sends the session cookie (same origin) and the typed path", async () => {
    const fetch = vi.fn(async (_: Request) => new Response("{}", { status: 200, headers: { "Content-Type": "application/json" } }));
    vi.stubGlobal("fetch", fetch);
    await unwrap(api.POST("/workspaces/{workspace_id}/restart", { baseUrl: BASE, params: { path: { workspace_id: "w 1" } } }));
    const request = fetch.mock.calls[0]![0];
    expect(request.method).toBe("POST");
    expect(new URL(request.url).pathname).toBe("/workspaces/w%201/restart");
  });
});
