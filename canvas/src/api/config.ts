// Configuring a workspace: its files (config.yaml, prompts), its stored config object, and the
// model / provider settings (each save restarts the workspace's agent, the platform's rule).
import type { components } from "./schema";
import { api, unwrap, unwrapAs } from "./client";

type Schemas = components["schemas"];
export type FileEntry = Schemas["FileEntry"];
export type FileContent = Schemas["FileContent"];
export type ModelSetting = Schemas["ModelSetting"];
export type ProviderSetting = Schemas["ProviderSetting"];

const ws = (id: string) => ({ params: { path: { workspace_id: id } } });

/** The files under the workspace's /configs root (config.yaml, prompt files), a few levels deep. */
export const listFiles = (id: string) =>
  unwrapAs<FileEntry[]>(
    api.GET("/workspaces/{workspace_id}/files", {
      params: { path: { workspace_id: id }, query: { root: "/configs", depth: 3 } },
    }),
  );

export const readFile = (id: string, path: string) =>
  unwrap(
    api.GET("/workspaces/{workspace_id}/files/{path}", {
      params: { path: { workspace_id: id, path }, query: { root: "/configs" } },
    }),
  );

export const writeFile = (id: string, path: string, content: string) =>
  unwrap(
    api.PUT("/workspaces/{workspace_id}/files/{path}", {
      params: { path: { workspace_id: id, path }, query: { root: "/configs" } },
      body: { content },
    }),
  );

export const getConfig = (id: string) =>
  unwrapAs<{ data: Record<string, unknown> }>(api.GET("/workspaces/{workspace_id}/config", ws(id)));

export const patchConfig = (id: string, patch: Record<string, unknown>) =>
  unwrap(api.PATCH("/workspaces/{workspace_id}/config", { ...ws(id), body: patch }));

export const getModel = (id: string) => unwrap(api.GET("/workspaces/{workspace_id}/model", ws(id)));
export const getProvider = (id: string) => unwrap(api.GET("/workspaces/{workspace_id}/provider", ws(id)));
export const putModel = (id: string, model: string) =>
  unwrap(api.PUT("/workspaces/{workspace_id}/model", { ...ws(id), body: { model } }));
export const putProvider = (id: string, provider: string) =>
  unwrap(api.PUT("/workspaces/{workspace_id}/provider", { ...ws(id), body: { provider } }));
