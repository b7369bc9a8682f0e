DROP TABLE IF EXISTS workflow_checkpoints, platform_instructions, workspace_memory,
    agent_memories;
