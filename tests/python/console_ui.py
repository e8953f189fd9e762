"""The operator's console in a real headless Chromium, driven by Playwright with the
system browser, against a running `airun serve --port`; MCP calls are made with the
official MCP Python SDK over HTTP.

Usage: console_ui.py CONFIG_JSON
CONFIG_JSON: {"chromium", "base", "token", "workspace", "read_only_base",
"read_only_token", "team_base", "team_workspace", "viewer_token", "agent_token",
"team_token", "own_lane_token", "screenshots"}.
Exits non-zero, with the reason, when anything is off.
"""

import asyncio
import json
import pathlib
import sys
import urllib.error
import urllib.request

from mcp.client import Client
from mcp.types import Implementation
from playwright.async_api import async_playwright, expect

TIMEOUT_MS = 20_000


def step(text):
    print(f"- {text}", flush=True)


async def login(page, base, token):
    await page.goto(base + "/")
    assert page.url == base + "/login", f"not sent to the login form: {page.url}"
    await page.fill("#token", token)
    await page.click("#login-button")
    await page.wait_for_url(base + "/")
    await page.wait_for_selector("body[data-ready=true]")


async def tab(page, name):
    await page.click(f'#tabs a[data-tab="{name}"]')
    await expect(page.locator(f'section[data-page="{name}"]')).to_be_visible()


async def shot(page, cfg, name):
    await page.screenshot(path=str(pathlib.Path(cfg["screenshots"], f"{name}.png")))


def note_console(problems, message):
    # A refused request (401, 409) is logged by the browser itself; anything else that
    # is an error (a script error, a Content-Security-Policy violation) is a problem.
    if message.type == "error" and "Failed to load resource" not in message.text:
        problems.append(f"console error: {message.text}")


def rest_call(base, token, capability, params):
    """One call over the REST API as `token`: (status, body)."""
    req = urllib.request.Request(
        f"{base}/api/v1/capabilities/{capability}/calls",
        data=json.dumps(params).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def mcp_client(base, name):
    return Client(base + "/mcp", mode="legacy", client_info=Implementation(name=name, version="1"))


async def main():
    cfg = json.loads(sys.argv[1])
    base, token = cfg["base"], cfg["token"]
    ws = pathlib.Path(cfg["workspace"])
    problems = []

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=cfg["chromium"])
        ctx = await browser.new_context(viewport={"width": 1200, "height": 800})
        ctx.set_default_timeout(TIMEOUT_MS)
        page = await ctx.new_page()
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("console", lambda m: note_console(problems, m))

        # Log in: a wrong token gets the form again with a message and no cookie.
        await page.goto(base + "/")
        assert page.url == base + "/login", page.url
        await page.fill("#token", "not-the-token")
        await page.click("#login-button")
        await expect(page.locator(".message")).to_contain_text("not the operator token")
        assert not [c for c in await ctx.cookies() if c["name"] == "airun_session"], "a cookie after a wrong token"
        await login(page, base, token)
        cookie = next(c for c in await ctx.cookies() if c["name"] == "airun_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
        await expect(page.locator("#stream-state")).to_have_text("live")
        await expect(page.locator("#operator")).to_contain_text("operator@console")
        await expect(page.locator("#role")).to_have_text("admin")
        step("logged in as the operator, an admin; the cookie is HttpOnly and SameSite=Strict; the live feed is connected")

        async with mcp_client(base, "agent-a") as a:
            # A write over MCP appears in the live feed.
            r = await a.call_tool("io_fs_write_file", {"path": "notes.txt", "content": "first line\n"})
            assert not r.is_error, r.content
            r = await a.call_tool("io_fs_write_file", {"path": "notes.txt", "content": "second line\n"})
            assert not r.is_error, r.content
            writes = page.locator('#feed li[data-kind="finished"][data-capability="io.fs.write_file"]')
            await expect(writes).to_have_count(2)
            await expect(writes.first).to_contain_text("notes.txt")
            # An admin's feed names who made each call: here the operator.
            await expect(writes.first.locator(".user")).to_have_text("operator")
            assert await writes.first.get_attribute("data-user") == "operator"
            await shot(page, cfg, "live")
            step("two writes made over MCP appeared in the live feed, each naming its user")

            # Its diff.
            await tab(page, "history")
            newest = page.locator("li.op").first
            await expect(newest).to_contain_text("notes.txt")
            await expect(newest.locator(".user")).to_contain_text("operator")
            await newest.locator("button.diff-button").click()
            await expect(page.locator("#op-detail .diff span.del")).to_have_text("-first line")
            await expect(page.locator("#op-detail .diff span.add")).to_have_text("+second line")
            await shot(page, cfg, "history")
            step("the history shows the operation's diff")

            # Undo it from the page: the file on disk is restored; redo brings it back.
            await newest.locator("button.undo").click()
            await expect(page.locator("#history-result")).to_contain_text("Undid operation")
            assert (ws / "notes.txt").read_text() == "first line\n", (ws / "notes.txt").read_text()
            await expect(page.locator('#feed li[data-kind="undone"]')).to_have_count(1)
            await page.click("#redo")
            await expect(page.locator("#history-result")).to_contain_text("Redid")
            assert (ws / "notes.txt").read_text() == "second line\n"
            step("undo from the page restored the file on disk; redo wrote it again")

            # The drift guard: a file changed after the operation is not overwritten
            # until the operator forces it.
            r = await a.call_tool("io_fs_write_file", {"path": "drift.txt", "content": "written by the agent\n"})
            assert not r.is_error, r.content
            (ws / "drift.txt").write_text("changed by hand\n")
            await page.click("#history-refresh")
            drifted = page.locator("li.op").first
            await expect(drifted).to_contain_text("drift.txt")
            await drifted.locator("button.undo").click()
            await expect(page.locator("#history-result.error")).to_be_visible()
            assert (ws / "drift.txt").read_text() == "changed by hand\n", "a refused undo changed the file"
            await page.locator("#history-result button.force").click()
            await expect(page.locator("#history-result")).to_contain_text("Undid")
            assert not (ws / "drift.txt").exists(), "the forced undo left drift.txt"
            step("the drift guard refused the undo; the explicit force step undid it")

            # Approve a waiting call from the page: the MCP call completes.
            await tab(page, "confirmations")
            deleting = asyncio.create_task(a.call_tool("io_fs_delete", {"path": "notes.txt"}))
            pending = page.locator('.pending[data-capability="io.fs.delete"]')
            await expect(pending).to_have_count(1)
            await expect(pending).to_contain_text("notes.txt")
            await expect(pending.locator(".user")).to_have_text("by operator")
            await expect(page.locator("#pending-count")).to_have_text("1")
            await shot(page, cfg, "confirmations")
            assert (ws / "notes.txt").exists(), "the delete ran before the yes"
            await pending.locator("button.approve").click()
            r = await asyncio.wait_for(deleting, 30)
            assert not r.is_error, r.content
            assert not (ws / "notes.txt").exists(), "the approved delete did not run"
            await expect(pending).to_have_count(0)
            step("approved from the page: the MCP call completed")

            # Deny one: the call is refused and the file stays.
            (ws / "keep.txt").write_text("keep me\n")
            refusing = asyncio.create_task(a.call_tool("io_fs_delete", {"path": "keep.txt"}))
            await expect(pending).to_have_count(1)
            await pending.locator("button.deny").click()
            r = await asyncio.wait_for(refusing, 30)
            assert r.is_error, "a denied call must come back as an error"
            assert (ws / "keep.txt").read_text() == "keep me\n"
            step("denied from the page: the MCP call was refused, the file is untouched")

        # Undo a whole agent session ("undo this task").
        async with mcp_client(base, "agent-b") as b:
            for name in ("task-1.txt", "task-2.txt"):
                r = await b.call_tool("io_fs_write_file", {"path": name, "content": name + "\n"})
                assert not r.is_error, r.content
        await tab(page, "history")
        await page.click("#history-refresh")
        task = page.locator("section.session", has_text="task-1.txt")
        await expect(task).to_have_count(1)
        await expect(task.locator("header .client")).to_have_text("agent-b 1 · http")
        await expect(task.locator("li.op")).to_have_count(2)
        await task.locator("button.undo-session").click()
        await expect(page.locator("#history-result")).to_contain_text("Undid session")
        assert not (ws / "task-1.txt").exists() and not (ws / "task-2.txt").exists()
        assert (ws / "keep.txt").exists(), "another session's file was touched"
        step("undo this task reverted the agent session's two writes only")

        # The audit log: the chain is intact, filters work, the approval names who.
        await tab(page, "audit")
        await expect(page.locator("#chain.ok")).to_contain_text("intact")
        await page.fill('#audit-filters input[name="capability"]', "io.fs.delete")
        await page.click('#audit-filters button[type="submit"]')
        rows = page.locator("#audit tbody tr")
        await expect(rows).to_have_count(2)
        await expect(page.locator("#audit tbody")).to_contain_text("approved_by_console:operator@console")
        await expect(page.locator("#audit tbody")).to_contain_text("declined")
        await shot(page, cfg, "audit")
        # Paged: one record a page, the next page holds the other.
        await page.fill('#audit-filters input[name="limit"]', "1")
        await page.click('#audit-filters button[type="submit"]')
        await expect(rows).to_have_count(1)
        first = await rows.first.get_attribute("data-seq")
        await page.click("#audit-next")
        await expect(rows.first).not_to_have_attribute("data-seq", first)
        await expect(rows).to_have_count(1)
        step("the audit page shows the intact chain, filters by capability and pages")

        # The catalog: a form made from the input schema; a dry run changes nothing.
        await tab(page, "catalog")
        await page.click('#catalog button[data-id="io.fs.edit_file"]')
        await page.fill("#f-path", "keep.txt")
        await page.fill("#f-edits", '[{"old_text": "keep", "new_text": "lose"}]')
        await page.click("#cap-detail button.dry-run")
        await expect(page.locator("#call-result .diff span.add")).to_have_text("+lose me")
        assert (ws / "keep.txt").read_text() == "keep me\n", "a dry run changed the file"
        await shot(page, cfg, "catalog")
        step("the capability form made a dry run that changed nothing")

        await tab(page, "policy")
        await expect(page.locator("#policy")).to_contain_text("auto_approve")
        await expect(page.locator("#policy")).to_contain_text("io.fs.write_file")
        await shot(page, cfg, "policy")
        step("the policy page shows the effective settings")

        await page.click("#logout")
        await page.wait_for_url(base + "/login")
        await page.goto(base + "/")
        assert page.url == base + "/login", "the session outlived the logout"
        step("logout ended the session")

        # A read-only server: no button that would change anything.
        ro = await browser.new_context(viewport={"width": 1200, "height": 800})
        ro.set_default_timeout(TIMEOUT_MS)
        rpage = await ro.new_page()
        rpage.on("pageerror", lambda e: problems.append(f"read-only page error: {e}"))
        rpage.on("console", lambda m: note_console(problems, m))
        await login(rpage, cfg["read_only_base"], cfg["read_only_token"])
        await expect(rpage.locator("#mode")).to_have_text("read-only")
        await tab(rpage, "catalog")
        await rpage.click('#catalog button[data-id="io.fs.read_file"]')
        await expect(rpage.locator("#call-form")).to_be_visible()
        await tab(rpage, "confirmations")
        await tab(rpage, "history")
        # The same workspace's operations, with their diffs, and nothing to undo them.
        await expect(rpage.locator("li.op").first).to_be_visible()
        await expect(rpage.locator("li.op button.diff-button").first).to_be_visible()
        mutating = await rpage.locator("button.mut").count()
        assert mutating == 0, f"{mutating} mutating buttons on a read-only server"
        assert await rpage.locator("#redo").count() == 0
        assert await rpage.locator("button.undo, button.undo-to, button.undo-session").count() == 0
        await shot(rpage, cfg, "read-only")
        step("the read-only server's pages show no mutating button")

        # A team server: the agent ann and the viewer vic share one workspace.
        tbase, tws = cfg["team_base"], pathlib.Path(cfg["team_workspace"])
        status, body = await asyncio.to_thread(
            rest_call, tbase, cfg["agent_token"], "io.fs.write_file",
            {"path": "shared.txt", "content": "by ann\n"})
        assert status == 200, body
        (tws / "doomed.txt").write_text("doomed\n")

        # The viewer: who they are, and no button that acts anywhere.
        vctx = await browser.new_context(viewport={"width": 1200, "height": 800})
        vctx.set_default_timeout(TIMEOUT_MS)
        vpage = await vctx.new_page()
        vpage.on("pageerror", lambda e: problems.append(f"viewer page error: {e}"))
        vpage.on("console", lambda m: note_console(problems, m))
        await login(vpage, tbase, cfg["viewer_token"])
        await expect(vpage.locator("#operator")).to_have_text("vic")
        await expect(vpage.locator("#role")).to_have_text("viewer")
        await expect(vpage.locator("#mode")).to_have_text("view only")
        await tab(vpage, "catalog")
        await vpage.click('#catalog button[data-id="io.fs.read_file"]')
        await expect(vpage.locator("#call-form")).to_be_visible()
        assert await vpage.locator("#cap-detail button.run, #cap-detail button.dry-run").count() == 0, \
            "a viewer may not call capabilities"
        await tab(vpage, "history")
        await tab(vpage, "confirmations")
        assert await vpage.locator("button.mut").count() == 0
        assert await vpage.locator("#redo").count() == 0
        await shot(vpage, cfg, "viewer")
        step("a viewer's console names them and their role, and shows no button that acts")

        # The agent: their own calls in the feed (no user column: not an admin), and
        # their own waiting call to approve.
        actx = await browser.new_context(viewport={"width": 1200, "height": 800})
        actx.set_default_timeout(TIMEOUT_MS)
        apage = await actx.new_page()
        apage.on("pageerror", lambda e: problems.append(f"agent page error: {e}"))
        apage.on("console", lambda m: note_console(problems, m))
        await login(apage, tbase, cfg["agent_token"])
        await expect(apage.locator("#operator")).to_have_text("ann")
        await expect(apage.locator("#role")).to_have_text("agent")
        await expect(apage.locator("#stream-state")).to_have_text("live")
        await tab(apage, "confirmations")
        deleting = asyncio.create_task(asyncio.to_thread(
            rest_call, tbase, cfg["agent_token"], "io.fs.delete", {"path": "doomed.txt"}))
        mine = apage.locator('.pending[data-capability="io.fs.delete"]')
        await expect(mine).to_have_count(1)
        assert await mine.get_attribute("data-user") == "ann"
        assert await mine.locator(".user").count() == 0, "a user column for a non-admin"
        # The viewer is not asked: it is not their call, and they may not decide.
        await vpage.reload()
        await vpage.wait_for_selector("body[data-ready=true]")
        await tab(vpage, "confirmations")
        await expect(vpage.locator(".pending")).to_have_count(0)
        await mine.locator("button.approve").click()
        status, body = await asyncio.wait_for(deleting, 30)
        assert status == 200, body
        assert not (tws / "doomed.txt").exists(), "the approved delete did not run"
        await tab(apage, "live")
        mine_live = apage.locator('#feed li[data-kind="finished"][data-capability="io.fs.delete"]')
        await expect(mine_live).to_have_count(1)
        assert await mine_live.get_attribute("data-user") == "ann"
        assert await apage.locator("#feed li .user").count() == 0
        await shot(apage, cfg, "agent")
        step("an agent user approved their own waiting call; their feed shows their calls")

        # An admin (the operator) opens the lane of bo, who works in a workspace of his own.
        status, body = await asyncio.to_thread(
            rest_call, tbase, cfg["own_lane_token"], "io.fs.write_file",
            {"path": "bo.txt", "content": "by bo\n"})
        assert status == 200, body
        octx = await browser.new_context(viewport={"width": 1200, "height": 800})
        octx.set_default_timeout(TIMEOUT_MS)
        opage = await octx.new_page()
        opage.on("pageerror", lambda e: problems.append(f"admin page error: {e}"))
        opage.on("console", lambda m: note_console(problems, m))
        await login(opage, tbase, cfg["team_token"])
        await expect(opage.locator("#lane-picker")).to_be_visible()
        await tab(opage, "history")
        await expect(opage.locator("li.op", has_text="shared.txt")).to_have_count(1)
        assert await opage.locator("li.op", has_text="bo.txt").count() == 0, "bo's lane in the operator's"
        await opage.fill("#lane", "bo")
        await opage.locator("#lane").dispatch_event("change")
        bos = opage.locator("li.op", has_text="bo.txt")
        await expect(bos).to_have_count(1)
        assert await bos.get_attribute("data-user") == "bo"
        await expect(bos.locator(".user")).to_contain_text("bo")
        await expect(opage.locator("li.op", has_text="shared.txt")).to_have_count(0)
        await shot(opage, cfg, "admin-lane")
        step("an admin opened another user's lane: its history, naming its user")

        await browser.close()

    if problems:
        sys.exit("the browser reported problems:\n" + "\n".join(problems))
    print("every console check passed")


asyncio.run(main())
