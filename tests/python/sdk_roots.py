"""The official MCP Python SDK against airun with several workspace roots: the server's
instructions name them, reads work in every root, a write in the read-only root is
refused, a write in the second writable root lands there, and the client's roots narrow
the configured roots.

Usage: sdk_roots.py AIRUN_BINARY FIRST DATA DOCS HOME
(DOCS is given read-only.) Exits non-zero, with the reason on stderr, when anything is off.
"""

import asyncio
import pathlib
import sys

from mcp import types
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters


async def main():
    binary, first, data, docs, home = sys.argv[1:6]
    data, docs = pathlib.Path(data), pathlib.Path(docs)

    async def roots(ctx):
        return types.ListRootsResult(
            roots=[
                types.Root(uri=data.as_uri(), name="data"),
                types.Root(uri=docs.as_uri(), name="docs"),
            ]
        )

    server = StdioServerParameters(
        command=binary,
        args=[
            "--workspace", first, "--workspace", str(data), "--workspace", f"{docs}:ro",
            "serve", "--mcp", "--yes",
        ],
        env={"AIRUN_HOME": home, "PATH": "/usr/bin:/bin"},
    )
    async with Client(server, mode="legacy", list_roots_callback=roots) as c:
        instructions = c.instructions or ""
        assert f"{docs} (read-only)" in instructions, instructions

        intro = str(docs / "intro.md")
        read = await c.call_tool("io_fs_read_file", {"path": intro})
        assert not read.is_error, f"read in the read-only root failed: {read.content}"
        assert read.structured_content["content"] == "# Intro\n", read.structured_content

        refused = await c.call_tool("io_fs_write_file", {"path": intro, "content": "pwned"})
        assert refused.is_error, "a write in the read-only root must be refused"
        assert "read-only root" in refused.content[0].text, refused.content
        assert (docs / "intro.md").read_text() == "# Intro\n"

        target = str(data / "from-python.txt")
        wrote = await c.call_tool("io_fs_write_file", {"path": target, "content": "py"})
        assert not wrote.is_error, f"write in the second root failed: {wrote.content}"
        assert wrote.structured_content["path"] == target, wrote.structured_content

        # The client's roots leave the first root out.
        out = await c.call_tool("io_fs_write_file", {"path": "top.txt", "content": "x"})
        assert out.is_error, "a write outside the client's roots must be refused"
        assert not pathlib.Path(first, "top.txt").exists()
        print("roots named, read-only refused, second root written, client roots narrow")


asyncio.run(main())
