// Whole teams: the org templates, their import, and the global secrets a 412 asks for.
import { ApiError, api, unwrap, unwrapAs } from "./client";

export interface OrgTemplate {
  dir: string;
  name: string;
  description?: string;
  workspaces?: number;
  required_env?: string[];
  recommended_env?: string[];
}

export const listOrgTemplates = () => unwrapAs<OrgTemplate[]>(api.GET("/org/templates"));

export const importOrg = (dir: string) => unwrapAs<Record<string, unknown>>(api.POST("/org/import", { body: { dir } }));

/** What an import's answer (201, or 207 when some could not be created) says went wrong:
 * the workspaces that failed (not created, or created but not fully set up), and what was
 * left out of the created ones (channels, plugins). */
export interface ImportNotes {
  failed: string[];
  skipped: string[];
}

const text = (v: unknown) => (typeof v === "string" ? v : "");
const objects = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is Record<string, unknown> => !!x && typeof x === "object") : []);

export function importNotes(body: Record<string, unknown>): ImportNotes {
  const failed = objects(body.failed).map((f) => `${text(f.name)}: ${text(f.error)}`);
  const skipped: string[] = [];
  for (const ws of objects(body.workspaces)) {
    for (const c of objects(ws.channels_skipped)) skipped.push(`${text(c.workspace)}: channel ${text(c.type)}: ${text(c.reason)}`);
    for (const p of objects(ws.plugins_skipped)) skipped.push(`${text(p.workspace)}: plugin ${text(p.plugin)}: ${text(p.reason)}`);
  }
  return { failed, skipped };
}

export const setGlobalSecret = (key: string, value: string) => unwrap(api.POST("/settings/secrets", { body: { key, value } }));

/** The variables a 412 from POST /org/import names (`missing_env`), else null. */
export function missingEnv(error: unknown): string[] | null {
  if (!(error instanceof ApiError) || error.status !== 412) return null;
  const body = error.body as { missing_env?: unknown } | undefined;
  const names = Array.isArray(body?.missing_env) ? body.missing_env.filter((n): n is string => typeof n === "string") : [];
  return names.length ? names : null;
}
