// Workspace calls the chart and panels make.
import { api, unwrap, unwrapAs } from "./client";
import type { Template, Workspace } from "./types";

export const listWorkspaces = () => unwrapAs<Workspace[]>(api.GET("/workspaces"));

export const getWorkspace = (id: string) =>
  unwrapAs<Workspace>(api.GET("/workspaces/{workspace_id}", { params: { path: { workspace_id: id } } }));

export const listTemplates = () => unwrapAs<Template[]>(api.GET("/templates"));

export interface NewWorkspace {
  name: string;
  runtime?: string;
  template?: string;
  parent_id?: string | null;
  x?: number;
  y?: number;
}

export const createWorkspace = (body: NewWorkspace) =>
  unwrapAs<{ id: string; status: string }>(api.POST("/workspaces", { body }));

export const savePosition = (id: string, x: number, y: number) =>
  unwrap(api.PATCH("/workspaces/{workspace_id}", { params: { path: { workspace_id: id } }, body: { x, y } }));

export type LifecycleAction = "restart" | "pause" | "resume" | "hibernate";

export function lifecycle(id: string, action: LifecycleAction) {
  const params = { params: { path: { workspace_id: id } } };
  switch (action) {
    case "restart":
      return unwrap(api.POST("/workspaces/{workspace_id}/restart", params));
    case "pause":
      return unwrap(api.POST("/workspaces/{workspace_id}/pause", params));
    case "resume":
      return unwrap(api.POST("/workspaces/{workspace_id}/resume", params));
    case "hibernate":
      return unwrap(api.POST("/workspaces/{workspace_id}/hibernate", params));
  }
}

export const deleteWorkspace = (id: string, confirm: boolean) =>
  unwrap(
    api.DELETE("/workspaces/{workspace_id}", {
      params: { path: { workspace_id: id }, query: confirm ? { confirm: true } : {} },
    }),
  );

export const setCollapsed = (id: string, collapsed: boolean) =>
  unwrap(api.PATCH("/workspaces/{workspace_id}", { params: { path: { workspace_id: id } }, body: { collapsed } }));
