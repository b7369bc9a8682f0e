// The typed API client: openapi-fetch over the generated `paths` (schema.d.ts), plus the one
// rule every caller shares: a refusal becomes an ApiError carrying the platform's message.
import createClient from "openapi-fetch";
import type { paths } from "./schema";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown = undefined,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** The platform answered 401: the session expired or was never there. */
  get unauthorized(): boolean {
    return this.status === 401;
  }
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

/** Called whenever any API call answers 401 (the app shows the sign-in page). */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** The message a person reads: the platform's `{"error": ...}` or a plain description. */
export function errorMessage(status: number, body: unknown): string {
  if (body && typeof body === "object" && "error" in body) {
    const error = (body as { error: unknown }).error;
    if (typeof error === "string" && error) return error;
  }
  if (typeof body === "string" && body.trim()) return body.trim().slice(0, 300);
  if (status === 0) return "the platform cannot be reached";
  if (status === 503) return "the platform's database is unavailable; try again shortly";
  return `request failed (HTTP ${status})`;
}

export function toApiError(status: number, body: unknown): ApiError {
  const error = new ApiError(status, errorMessage(status, body), body);
  if (error.unauthorized) unauthorizedListeners.forEach((listener) => listener());
  return error;
}

/** fetch, with a network failure turned into an ApiError of status 0. */
export async function safeFetch(input: Request | string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(input, { credentials: "same-origin", ...init });
  } catch (cause) {
    const error = new ApiError(0, errorMessage(0, undefined));
    (error as { cause?: unknown }).cause = cause;
    throw error;
  }
}

export const api = createClient<paths>({ baseUrl: "", fetch: (request) => safeFetch(request) });

interface Result<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of a successful call, else the ApiError it deserves. */
export async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw toApiError(response.status, error);
  return data as T;
}

/** For routes whose answer the API description leaves open (`AnyObject`, arrays): the
 * caller names the shape it reads. Paths, parameters and bodies stay checked. */
export async function unwrapAs<T>(call: Promise<Result<unknown>>): Promise<T> {
  return (await unwrap(call)) as T;
}
