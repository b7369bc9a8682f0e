// Selecting a workspace from outside the chart (search, the slow-start banner): the side panel
// opens on it and the chart centres it, so the person sees what they picked.
import { useReactFlow } from "@xyflow/react";
import { NODE_HEIGHT, NODE_WIDTH } from "../layout/tree";
import { useOrg } from "../store/org";

export function useShowWorkspace(): (id: string) => void {
  const flow = useReactFlow();
  return (id) => {
    useOrg.getState().select(id);
    const node = flow.getNode(id);
    if (node) flow.setCenter(node.position.x + NODE_WIDTH / 2, node.position.y + NODE_HEIGHT / 2, { zoom: 1.2, duration: 300 });
  };
}
