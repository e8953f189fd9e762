"""The official MCP Python SDK against airun's operator features: the policy's `tools`
list shrinks the tool list, the history and audit are resources, and the client's roots
narrow the workspace.

Usage: sdk_operator.py AIRUN_BINARY WORKSPACE HOME POLICY
The policy must turn sys.exec.run off. Exits non-zero, with the reason on stderr, when
anything is off.
"""

import asyncio
import json
import pathlib
import sys

from mcp import types
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters


async def main():
    binary, ws, home, policy = sys.argv[1:5]
    app = pathlib.Path(ws, "app")
    app.mkdir(exist_ok=True)

    async def roots(ctx):
        return types.ListRootsResult(roots=[types.Root(uri=app.as_uri(), name="app")])

    server = StdioServerParameters(
        command=binary,
        args=["--workspace", ws, "--policy", policy, "serve", "--mcp", "--yes"],
        env={"AIRUN_HOME": home, "PATH": "/usr/bin:/bin"},
    )
    async with Client(server, mode="legacy", list_roots_callback=roots) as c:
        tools = {t.name for t in (await c.list_tools()).tools}
        assert "io_fs_write_file" in tools, sorted(tools)
        assert "sys_exec_run" not in tools, "the policy turned sys.exec.run off"

        # Roots: inside app/ is reachable, the rest of the workspace is not.
        ok = await c.call_tool("io_fs_write_file", {"path": "app/in.txt", "content": "in"})
        assert not ok.is_error, f"write inside the root failed: {ok.content}"
        out = await c.call_tool("io_fs_write_file", {"path": "out.txt", "content": "out"})
        assert out.is_error, "a write outside the client's roots must be refused"
        assert not pathlib.Path(ws, "out.txt").exists()

        # Resources: the history holds the write, the audit both calls.
        uris = {str(r.uri) for r in (await c.list_resources()).resources}
        assert {"airun://history", "airun://audit"} <= uris, uris
        history = json.loads((await c.read_resource("airun://history")).contents[0].text)
        assert history[0]["capability"] == "io.fs.write_file", history
        audit = json.loads((await c.read_resource("airun://audit")).contents[0].text)
        outcomes = [r["outcome"] for r in audit if r["capability"] == "io.fs.write_file"]
        assert outcomes == ["ok", "denied_sandbox"], audit
        # io.fs.tree inside the root: the structured tree and its counts.
        pathlib.Path(app, "src").mkdir(exist_ok=True)
        pathlib.Path(app, "src", "main.rs").write_text("fn main() {}\n")
        tree = await c.call_tool("io_fs_tree", {"path": "app"})
        assert not tree.is_error, f"tree failed: {tree.content}"
        entries = {e["path"] for e in tree.structured_content["entries"]}
        assert {"app/in.txt", "app/src", "app/src/main.rs"} <= entries, entries
        print(f"{len(tools)} tools, roots narrow, resources readable, tree listed")


asyncio.run(main())
