"""The official MCP Python SDK against airun: list tools, write and read a file, read
several files at once, and read an image (the workspace holds `pixel.png`).

Usage: sdk_roundtrip.py stdio AIRUN_BINARY WORKSPACE HOME
       sdk_roundtrip.py http URL
Exits non-zero, with the reason on stderr, when anything is off.
"""

import asyncio
import base64
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
        m = await c.call_tool(
            "io_fs_read_many", {"paths": [f"py/{mode}.txt", "py/missing.txt"]}
        )
        assert not m.is_error, f"{mode}: read_many failed: {m.content}"
        files = (m.structured_content or {}).get("files") or []
        assert [f.get("ok") for f in files] == [True, False], f"{mode}: {files}"
        assert files[0].get("content") == text, f"{mode}: read_many gave {files[0]}"
        assert files[1].get("error_kind") == "not_found", f"{mode}: {files[1]}"
        img = await c.call_tool("io_fs_read_media", {"path": "pixel.png"})
        assert not img.is_error, f"{mode}: read_media failed: {img.content}"
        block = img.content[0]
        assert isinstance(block, types.ImageContent), f"{mode}: not image content: {block}"
        assert block.mime_type == "image/png", f"{mode}: image type {block.mime_type}"
        raw = base64.b64decode(block.data)
        assert raw.startswith(b"\x89PNG\r\n\x1a\n"), f"{mode}: not a PNG: {raw[:8]!r}"
        size = (img.structured_content or {}).get("size_bytes")
        assert size == len(raw), f"{mode}: size_bytes {size}, image has {len(raw)} bytes"
        print(f"{mode}: {len(tools)} tools, write -> read, read_many, read_media ok")


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
