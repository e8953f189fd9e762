"""The official MCP Python SDK against airun: list tools, then write and read a file.

Usage: sdk_roundtrip.py stdio AIRUN_BINARY WORKSPACE HOME
       sdk_roundtrip.py http URL
Exits non-zero, with the reason on stderr, when anything is off.
"""

import asyncio
import sys

from mcp import types
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters


async def accept(ctx, params):
    return types.ElicitResult(action="accept", content={})


async def round_trip(server, mode):
    async with Client(server, mode=mode, elicitation_callback=accept) as c:
        tools = {t.name for t in (await c.list_tools()).tools}
        for name in ("io_fs_write_file", "io_fs_read_file", "sys_undo"):
            assert name in tools, f"{mode}: tool {name} is missing from {sorted(tools)}"
        text = f"written by the python sdk ({mode})"
        w = await c.call_tool(
            "io_fs_write_file",
            {"path": f"py/{mode}.txt", "content": text, "create_dirs": True},
        )
        assert not w.is_error, f"{mode}: write failed: {w.content}"
        r = await c.call_tool("io_fs_read_file", {"path": f"py/{mode}.txt"})
        assert not r.is_error, f"{mode}: read failed: {r.content}"
        got = (r.structured_content or {}).get("content")
        assert got == text, f"{mode}: read back {got!r}, wrote {text!r}"
        print(f"{mode}: {len(tools)} tools, write -> read ok")


async def main():
    kind = sys.argv[1]
    for mode in ("auto", "legacy"):
        if kind == "http":
            await round_trip(sys.argv[2], mode)
        else:
            binary, ws, home = sys.argv[2], sys.argv[3], sys.argv[4]
            server = StdioServerParameters(
                command=binary,
                args=["--workspace", ws, "serve", "--mcp"],
                env={"AIRUN_HOME": home, "PATH": "/usr/bin:/bin"},
            )
            await round_trip(server, mode)


asyncio.run(main())
