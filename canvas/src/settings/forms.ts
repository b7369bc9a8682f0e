// What the configuration tabs check before they call the platform (the platform checks again
// and its message is shown when it refuses): config JSON, secret names, cron, prompt files.
import type { FileEntry } from "../api/config";
import type { SecretKey } from "../api/secrets";

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** The config editor's text: a JSON object whose top-level keys replace the stored ones. */
export function parseConfigPatch(text: string): Parsed<Record<string, unknown>> {
  if (!text.trim()) return { ok: false, error: "write a JSON object, e.g. {\"key\": \"value\"}" };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `not valid JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    return { ok: false, error: "the config must be a JSON object" };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

export const formatConfig = (data: Record<string, unknown>): string => JSON.stringify(data, null, 2);

const EDITABLE = /\.(ya?ml|md|txt|json|toml)$/i;

/** The text files of /configs the editor offers: config.yaml first, then the rest by path. */
export function editableFiles(entries: readonly FileEntry[]): string[] {
  const paths = entries.filter((e) => !e.dir && EDITABLE.test(e.path)).map((e) => e.path);
  return paths.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

const rank = (path: string) => (path === "config.yaml" ? 0 : /prompt|system/i.test(path) ? 1 : 2);

/** A new prompt file's path: relative, no "..", a text extension. */
export function newFileError(path: string): string | null {
  const p = path.trim();
  if (!p) return "name the file";
  if (p.startsWith("/") || p.split("/").some((part) => part === ".." || part === "")) return "use a relative path without '..'";
  if (!EDITABLE.test(p)) return "use a text file (.md, .txt, .yaml, .json, .toml)";
  return null;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Secret names are environment variable names (the platform's own rule). */
export function secretKeyError(key: string): string | null {
  if (!key) return "name the secret";
  if (key.length > 256) return "at most 256 characters";
  if (!KEY.test(key)) return "an environment variable name: letters, digits and _, not starting with a digit";
  return null;
}

/** The workspace's own keys, and the global ones it inherits without overriding them. */
export function splitSecrets(rows: readonly SecretKey[]): { own: string[]; inherited: string[] } {
  const own = rows.filter((r) => r.scope !== "global").map((r) => r.key);
  const mine = new Set(own);
  const inherited = rows.filter((r) => r.scope === "global" && !mine.has(r.key)).map((r) => r.key);
  return { own: own.sort(), inherited: inherited.sort() };
}

const FIELD = /^[\d*,/\-A-Za-z?LW#]+$/;

/** Five cron fields (minute hour day month weekday), or one of the @ shorthands. */
export function cronError(expr: string): string | null {
  const text = expr.trim();
  if (!text) return "write a cron expression, e.g. 0 9 * * 1-5";
  if (text.startsWith("@")) return null;
  const fields = text.split(/\s+/);
  if (fields.length !== 5) return `five fields (minute hour day month weekday), not ${fields.length}`;
  if (!fields.every((f) => FIELD.test(f))) return "a field holds characters cron does not use";
  return null;
}

/** The person's own time zone, the default for a new schedule. */
export function localTimezone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/** "restart" in the save messages: model, provider and secrets apply on the agent's restart. */
export const RESTART_NOTE = "Saving restarts the workspace's agent so it picks the change up.";
export const SELF_RUN_NOTE = "The platform does not run this agent: it reads the change itself, nothing is restarted.";

/** The runtimes whose agent runs elsewhere and connects with the snippets of
 * `/external/connection` (molecule/models.py EXTERNAL_RUNTIMES; the platform answers 400 for
 * any other runtime, whatever its delivery mode). */
export const EXTERNAL_RUNTIMES: readonly string[] = ["external", "kimi", "kimi-cli"];

export const connectsExternally = (runtime: string | null | undefined): boolean => EXTERNAL_RUNTIMES.includes(runtime ?? "");

/** Does the platform restart this workspace's agent when a setting changes? Not an agent it
 * does not run: an external one, or the mock runtime it answers for itself. */
export const restartsOnSave = (runtime: string | null | undefined): boolean =>
  !connectsExternally(runtime) && runtime !== "mock";
