"""Tiny HTML rendering (no template engine): `esc` every value, `page` for the layout."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from urllib.parse import quote

from starlette.responses import HTMLResponse


def esc(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def url_quote(value: str) -> str:
    return quote(value, safe="")


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f6f9;
color:#222}
header{background:#1f3a5f;color:#fff;padding:.6em 1.2em;display:flex;align-items:center;gap:1.5em}
header a{color:#fff;text-decoration:none}header .brand{font-weight:bold;font-size:1.15em}
header .right{margin-left:auto;font-size:.9em}
main{max-width:1100px;margin:1.5em auto;background:#fff;padding:1.2em 1.6em;border-radius:6px;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
table{border-collapse:collapse;width:100%;margin:.6em 0 1.2em}
th,td{border-bottom:1px solid #dde;padding:.4em .6em;text-align:left;vertical-align:top}
th{background:#eef2f7}tr.current{background:#e7f6e7}
.badge{display:inline-block;padding:.1em .5em;border-radius:3px;font-size:.8em;color:#fff;
background:#888}.badge.current{background:#2e8b3d}.badge.alive{background:#2a6fb0}
.badge.down{background:#b03a2e}.badge.suspect{background:#c9822b}
.error{color:#b03a2e}.ok{color:#2e8b3d}.muted{color:#777;font-size:.9em}
form.inline{display:inline}label{display:block;margin:.6em 0 .2em}
input[type=text],input[type=email],input[type=password],textarea{width:100%;max-width:32em;
padding:.35em;box-sizing:border-box}
button{padding:.35em 1em;margin-top:.8em}code{font-size:.9em}
"""


def page(
    title: str,
    body: str,
    *,
    user: str | None = None,
    node: str = "",
    context: str = "/jw",
    status_code: int = 200,
    csrf: str | None = None,
) -> HTMLResponse:
    """A complete page in the common layout."""
    if user:
        logout = (
            f'<form class="inline" method="post" action="{esc(context)}/web/logout">'
            f'<input type="hidden" name="_csrf" value="{esc(csrf or "")}">'
            '<button style="margin:0">Log out</button></form>'
        )
        right = (
            f'<span>Signed in as <b id="user">{esc(user)}</b></span> · '
            f'<a href="{esc(context)}/web/account/password">Password</a> · {logout}'
        )
    else:
        right = f'<a href="{esc(context)}/web/login">Log in</a>'
    nav = "".join(
        f'<a href="{esc(context)}{href}">{esc(label)}</a>'
        for href, label in (
            ("/web/userview", "Home"),
            ("/web/records", "Records"),
            ("/web/console/monitor/slogs", "Monitor"),
        )
    )
    html = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'  # no /favicon.ico request through the balancer
        f"<title>{esc(title)} · pytribes</title><style>{STYLE}</style></head><body>"
        f'<header><a class="brand" href="{esc(context)}/web/userview">pytribes</a>{nav}'
        f'<span class="right">{right} · <span class="muted" style="color:#cde">node '
        f'<b id="served-by">{esc(node)}</b></span></span></header>'
        f"<main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def table(
    headers: Iterable[str], rows: Iterable[Iterable[str]], *, row_classes: Iterable[str] = ()
) -> str:
    """A table; cells are raw HTML (escape them first)."""
    classes = list(row_classes)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{esc(classes[i])}"' if i < len(classes) and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
