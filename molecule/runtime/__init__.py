"""The Molecule agent runtime: the program a provisioner starts for each workspace.

It registers with the platform, heartbeats, serves A2A JSON-RPC and the agent card, and
answers the platform's `/internal/*` file routes. It is a separate program: it imports only
the shared wire models (`molecule.models`) and token helpers (`molecule.security.token_material`),
never platform internals. Entry point: `molecule.runtime.main.main`.
"""
