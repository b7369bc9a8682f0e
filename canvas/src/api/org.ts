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

export const setGlobalSecret = (key: string, value: string) => unwrap(api.POST("/settings/secrets", { body: { key, value } }));

/** The variables a 412 from POST /org/import names (`missing_env`), else null. */
export function missingEnv(error: unknown): string[] | null {
  if (!(error instanceof ApiError) || error.status !== 412) return null;
  const body = error.body as { missing_env?: unknown } | undefined;
  const names = Array.isArray(body?.missing_env) ? body.missing_env.filter((n): n is string => typeof n === "string") : [];
  return names.length ? names : null;
}
