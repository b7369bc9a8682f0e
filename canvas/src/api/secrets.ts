// Secrets (names only: the canvas never reads a value back), workspace tokens, and the
// connection snippets of an external workspace with their token rotation.
import type { components } from "./schema";
import { api, unwrap, unwrapAs } from "./client";

export type SecretKey = components["schemas"]["SecretKey"];
export type TokenCreated = components["schemas"]["TokenCreated"];

export interface TokenRow {
  id: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
}

/** GET .../external/connection: the snippets; `auth_token` is "" except right after a rotation. */
export interface Connection {
  workspace_id: string;
  platform_url: string;
  auth_token: string;
  [snippet: string]: string;
}

const ws = (id: string) => ({ params: { path: { workspace_id: id } } });

/** The workspace's keys and the global ones it inherits (each row says its scope). */
export const listWorkspaceSecrets = (id: string) =>
  unwrapAs<SecretKey[]>(api.GET("/workspaces/{workspace_id}/secrets", ws(id)));

export const setWorkspaceSecret = (id: string, key: string, value: string) =>
  unwrap(api.PUT("/workspaces/{workspace_id}/secrets", { ...ws(id), body: { key, value } }));

export const deleteWorkspaceSecret = (id: string, key: string) =>
  unwrap(api.DELETE("/workspaces/{workspace_id}/secrets/{key}", { params: { path: { workspace_id: id, key } } }));

export const listGlobalSecrets = () => unwrapAs<SecretKey[]>(api.GET("/settings/secrets"));

export const setGlobalSecret = (key: string, value: string) =>
  unwrap(api.PUT("/settings/secrets", { body: { key, value } }));

export const deleteGlobalSecret = (key: string) =>
  unwrap(api.DELETE("/settings/secrets/{key}", { params: { path: { key } } }));

export const listTokens = (id: string) =>
  unwrapAs<{ tokens: TokenRow[]; count: number }>(api.GET("/workspaces/{workspace_id}/tokens", ws(id)));

export const createToken = (id: string) => unwrap(api.POST("/workspaces/{workspace_id}/tokens", ws(id)));

export const revokeToken = (id: string, tokenId: string) =>
  unwrap(
    api.DELETE("/workspaces/{workspace_id}/tokens/{token_id}", {
      params: { path: { workspace_id: id, token_id: tokenId } },
    }),
  );

export const getConnection = (id: string) =>
  unwrapAs<{ connection: Connection }>(api.GET("/workspaces/{workspace_id}/external/connection", ws(id)));

export const rotateConnection = (id: string) =>
  unwrapAs<{ connection: Connection }>(api.POST("/workspaces/{workspace_id}/external/rotate", ws(id)));
