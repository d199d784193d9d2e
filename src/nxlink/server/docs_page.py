"""``docs_html(document)``: the OpenAPI document as one self-contained, static HTML page (no
scripts, no external fonts or stylesheets), served at ``/docs``. It renders whatever the
document says: every operation, header, field, rule, answer and schema comes from the document,
which comes from the endpoint declarations (:mod:`nxlink.contract.endpoints`)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any, Final

Json = dict[str, Any]

#: The heading of the signature in the document's description (the page links to it).
SIGNATURE_HEADING: Final = "Authentication: the signature"


_STYLE: Final = """\
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
background:#fff}
main{max-width:1100px;margin:0 auto;padding:1.5rem 1.25rem 4rem}
h1{font-size:1.7rem;margin:.2rem 0 .8rem}h1 small{font-size:.9rem;color:#59636e;font-weight:400}
h2{font-size:1.3rem;margin:2.2rem 0 .6rem;padding-top:.6rem;border-top:2px solid #d1d9e0}
h3{font-size:1.05rem;margin:1.4rem 0 .4rem}h4{font-size:.95rem;margin:1.1rem 0 .3rem}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
code{background:#f0f3f6;padding:.05rem .3rem;border-radius:4px}
pre{background:#f6f8fa;border:1px solid #d1d9e0;border-radius:6px;padding:.7rem .9rem;
overflow-x:auto}
pre code{background:none;padding:0}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem;font-size:14px}
th,td{border:1px solid #d1d9e0;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}tr:nth-child(even) td{background:#fbfcfd}
.method{display:inline-block;min-width:3.2rem;text-align:center;border-radius:4px;color:#fff;
background:#0969da;font-size:.85rem;padding:.1rem .4rem;margin-right:.4rem}
.method.get{background:#1a7f37}
.req{color:#cf222e;font-weight:600}.muted{color:#59636e}
nav ul{columns:2;padding-left:1.2rem}a{color:#0969da}"""

_INLINE_CODE: Final = re.compile(r"`([^`]+)`")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _inline(text: str) -> str:
    """Escape ``text`` and render its `code` spans."""
    return _INLINE_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", _e(text))


def _anchor(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _markdown(text: str) -> str:
    """The small Markdown subset these descriptions use: headings, code fences, lists, tables."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            block: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                block.append(lines[i])
                i += 1
            i += 1
            out.append(f"<pre><code>{_e(chr(10).join(block))}</code></pre>")
        elif not line.strip():
            i += 1
        elif line.startswith("#"):
            level = min(max(len(line) - len(line.lstrip("#")), 3), 4)
            heading = line.lstrip("#").strip()
            out.append(f'<h{level} id="{_e(_anchor(heading))}">{_inline(heading)}</h{level}>')
            i += 1
        elif line.startswith("- "):
            items: list[str] = []
            while i < len(lines) and (lines[i].startswith("- ") or lines[i].startswith("  ")):
                if lines[i].startswith("- "):
                    items.append(lines[i][2:])
                else:
                    items[-1] += " " + lines[i].strip()
                i += 1
            out.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + "</ul>")
        elif line.startswith("|"):
            rows: list[list[str]] = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [cell.strip() for cell in lines[i].strip().strip("|").split("|")]
                if not all(set(cell) <= set("-: ") for cell in cells):
                    rows.append(cells)
                i += 1
            if rows:
                out.append(_table(rows[0], [[_inline(c) for c in row] for row in rows[1:]]))
        else:
            para: list[str] = []
            while (
                i < len(lines)
                and lines[i].strip()
                and not lines[i].startswith(("```", "#", "- ", "|"))
            ):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{_inline(' '.join(para))}</p>")
    return "\n".join(out)


def _table(head: list[str], rows: list[list[str]]) -> str:
    """A table; ``head`` is plain text, ``rows`` are already HTML."""
    th = "".join(f"<th>{_e(cell)}</th>" for cell in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _resolve(document: Json, schema: Json) -> Json:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = document
        for part in ref[2:].split("/"):
            node = node[part]
        resolved: Json = node
        return resolved
    return schema


def _type_html(schema: Json) -> str:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return f'<a href="#schema-{_e(_anchor(name))}">{_e(name)}</a>'
    for combined in ("oneOf", "anyOf"):
        if combined in schema and "type" not in schema:
            return " or ".join(_type_html(branch) for branch in schema[combined])
    if "const" in schema:
        return f"<code>{_e(json.dumps(schema['const'], ensure_ascii=False))}</code>"
    kind = schema.get("type")
    kinds: list[str] = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    parts: list[str] = []
    for name in kinds:
        if name == "array":
            parts.append("array of " + _type_html(schema.get("items", {})))
        elif name == "null":
            parts.append("null")
        else:
            text = _e(name)
            if "format" in schema:
                text += f' <span class="muted">({_e(schema["format"])})</span>'
            if name == "string" and "pattern" in schema:
                text += f" matching <code>{_e(schema['pattern'])}</code>"
            parts.append(text)
    return " | ".join(parts) or "any"


def _rule_html(schema: Json) -> str:
    if "x-rule" in schema:
        return _inline(str(schema["x-rule"]))
    rules: list[str] = []
    if "enum" in schema:
        values = ", ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
        rules.append(f"one of {values}")
    if "minimum" in schema:
        rules.append(f"≥ {schema['minimum']}")
    if "maximum" in schema:
        rules.append(f"≤ {schema['maximum']}")
    if "maxLength" in schema:
        rules.append(f"at most {schema['maxLength']} characters")
    if "default" in schema:
        rules.append(f"default {json.dumps(schema['default'])}")
    return _e(", ".join(rules))


def _fields(schema: Json, prefix: str = "") -> Iterator[tuple[str, Json, str]]:
    """(dotted name, schema, required) of an object's properties, inline objects expanded.

    ``required`` is ``yes``, ``no``, or ``one of a, b`` for properties of which at least one
    must be given (an ``anyOf`` of ``required`` lists).
    """
    required = set(schema.get("required", []))
    alternatives = [
        name for branch in schema.get("anyOf", []) for name in branch.get("required", [])
    ]
    for name, prop in schema.get("properties", {}).items():
        if name in required:
            need = "yes"
        elif name in alternatives:
            need = "one of " + ", ".join(alternatives)
        else:
            need = "no"
        yield prefix + name, prop, need
        if prop.get("type") == "object" and "properties" in prop:
            yield from _fields(prop, prefix + name + ".")


def _fields_table(schema: Json, *, rules: bool = False) -> str:
    filters = rules and any("x-filter" in prop for prop in schema.get("properties", {}).values())
    head = ["field", "type", "required"]
    head += (["rule"] if rules else []) + (["filter"] if filters else []) + ["description"]
    rows: list[list[str]] = []
    for name, prop, required in _fields(schema):
        row = [f"<code>{_e(name)}</code>", _type_html(prop), _e(required)]
        if rules:
            row.append(_rule_html(prop))
            if filters:
                row.append(_inline(str(prop.get("x-filter", ""))))
        else:
            rule = _rule_html(prop)
            row[1] += f'<br><span class="muted">{rule}</span>' if rule else ""
        row.append(_inline(str(prop.get("description", ""))))
        rows.append(row)
    return _table(head, rows)


def _parameters_html(document: Json, operation: Json) -> str:
    rows: list[list[str]] = []
    for item in operation.get("parameters", []):
        param = _resolve(document, item)
        schema: Json = param.get("schema", {})
        rows.append(
            [
                f"<code>{_e(param['name'])}</code>",
                '<span class="req">yes</span>' if param.get("required") else "no",
                _type_html(schema) + (f"<br>{_rule_html(schema)}" if _rule_html(schema) else ""),
                f"<code>{_e(param.get('example', ''))}</code>",
                _inline(str(param.get("description", ""))),
            ]
        )
    return _table(["header", "required", "type", "example", "description"], rows)


def _responses_html(document: Json, operation: Json) -> str:
    rows: list[list[str]] = []
    for status, response in operation.get("responses", {}).items():
        schemas = [media.get("schema", {}) for media in response.get("content", {}).values()]
        headers = ", ".join(f"<code>{_e(h)}</code>" for h in response.get("headers", {}))
        rows.append(
            [
                f"<strong>{_e(status)}</strong>",
                _inline(str(response.get("description", ""))),
                " ".join(_type_html(schema) for schema in schemas),
                headers,
            ]
        )
    return _table(["HTTP", "when", "body", "headers"], rows)


def _success_schema(document: Json, operation: Json) -> Json | None:
    response = operation.get("responses", {}).get("200", {})
    for media in response.get("content", {}).values():
        schema: Json = media.get("schema", {})
        if "oneOf" in schema:
            schema = schema["oneOf"][0]
        resolved = _resolve(document, schema)
        if "properties" in resolved:
            return resolved
    return None


def _success_example(operation: Json) -> Any:
    response = operation.get("responses", {}).get("200", {})
    for media in response.get("content", {}).values():
        if "example" in media:
            return media["example"]
        for example in media.get("examples", {}).values():
            return example.get("value")
    return None


def _codes_html(codes: list[Json]) -> str:
    rows = [
        [
            f"<strong>{_e(item['code'])}</strong>",
            _e(item.get("httpStatus", "")),
            _inline(str(item.get("when", ""))),
            f"<code>{_e(item.get('message', ''))}</code>",
        ]
        for item in codes
    ]
    return _table(["code", "HTTP", "when (in checking order)", "message (start)"], rows)


def _refusals_html(refusals: list[Json]) -> str:
    rows = [
        [f"<code>{_e(item.get('message', ''))}</code>", _inline(str(item.get("when", "")))]
        for item in refusals
    ]
    return _table(["message", "when"], rows)


def _callbacks_html(document: Json, callbacks: Json) -> str:
    """The callbacks an operation declares: where each goes, its headers, body and answers."""
    parts = ["<h3>Callbacks</h3>"]
    for name, path_item in callbacks.items():
        for expression, item in path_item.items():
            for method, callback in item.items():
                parts.append(
                    f'<h4 id="{_e(_anchor("callback " + name))}">{_e(name)}: '
                    f'<span class="method {_e(method)}">{_e(method.upper())}</span>'
                    f"<code>{_e(expression)}</code></h4>"
                )
                parts.append(f"<p><strong>{_inline(str(callback.get('summary', '')))}</strong></p>")
                parts.append(_markdown(str(callback.get("description", ""))))
                if callback.get("parameters"):
                    parts.append(_parameters_html(document, callback))
                body = callback.get("requestBody", {})
                for media_type, media in body.get("content", {}).items():
                    schema = media.get("schema", {})
                    parts.append(
                        f"<p>Body: <code>{_e(media_type)}</code>, {_type_html(schema)}.</p>"
                    )
                    if "example" in media:
                        parts.append(f"<pre><code>{_e(_json(media['example']))}</code></pre>")
                parts.append(_responses_html(document, callback))
    return "\n".join(parts)


def _operation_html(document: Json, path: str, method: str, operation: Json) -> str:
    anchor = _anchor(f"op {method} {path}")
    description = str(operation.get("description", ""))
    parts = [
        f'<section id="{_e(anchor)}">',
        f'<h2><span class="method {_e(method)}">{_e(method.upper())}</span>'
        f"<code>{_e(path)}</code></h2>",
        f"<p><strong>{_inline(str(operation.get('summary', '')))}</strong></p>",
        _markdown(description),
    ]
    if operation.get("security"):
        link = f"#{_anchor(SIGNATURE_HEADING)}"
        parts.append(f'<p>Signed: see <a href="{_e(link)}">the signature</a>.</p>')
    if operation.get("parameters"):
        parts += ["<h3>Headers</h3>", _parameters_html(document, operation)]
    body = operation.get("requestBody")
    if body:
        parts.append("<h3>Request body</h3>")
        parts.append(f"<p>{_inline(str(body.get('description', '')))}</p>")
        for media_type, media in body.get("content", {}).items():
            schema = _resolve(document, media.get("schema", {}))
            parts.append(f"<p>Content type <code>{_e(media_type)}</code>.</p>")
            parts.append(f"<p>{_inline(str(schema.get('description', '')))}</p>")
            parts.append(_fields_table(schema, rules=_has_rules(schema)))
            for name, example in media.get("examples", {}).items():
                parts.append(f"<h4>Example: {_e(example.get('summary', name))}</h4>")
                parts.append(f"<pre><code>{_e(_json(example.get('value')))}</code></pre>")
    parts += ["<h3>Responses</h3>", _responses_html(document, operation)]
    success = _success_schema(document, operation)
    if success is not None:
        parts.append("<h3>Response fields (HTTP 200)</h3>")
        parts.append(f"<p>{_inline(str(success.get('description', '')))}</p>")
        parts.append(_fields_table(success))
        example = _success_example(operation)
        if example is not None:
            parts += ["<h4>Example</h4>", f"<pre><code>{_e(_json(example))}</code></pre>"]
    if "x-codes" in operation and "\n|" not in description:
        parts += ["<h3>Result codes</h3>", _codes_html(operation["x-codes"])]
    if operation.get("x-refusals"):
        parts += [
            "<h3>Refusals of this endpoint (code 20000)</h3>",
            "<p>Besides the type and range rules of each field:</p>",
            _refusals_html(operation["x-refusals"]),
        ]
    if operation.get("callbacks"):
        parts.append(_callbacks_html(document, operation["callbacks"]))
    for sample in operation.get("x-codeSamples", []):
        parts.append(f"<h3>Example: {_e(sample.get('label', sample.get('lang', '')))}</h3>")
        parts.append(f"<pre><code>{_e(sample.get('source', ''))}</code></pre>")
    parts.append("</section>")
    return "\n".join(parts)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def _has_rules(schema: Json) -> bool:
    return any("x-rule" in prop for prop in schema.get("properties", {}).values())


def _schema_html(name: str, schema: Json) -> str:
    parts = [
        f'<section id="schema-{_e(_anchor(name))}">',
        f"<h3>{_e(name)}</h3>",
        f"<p>{_inline(str(schema.get('description', '')))}</p>",
        _fields_table(schema, rules=_has_rules(schema)),
    ]
    examples = schema.get("examples", [])
    if examples:
        parts += ["<h4>Example</h4>", f"<pre><code>{_e(_json(examples[0]))}</code></pre>"]
    parts.append("</section>")
    return "\n".join(parts)


def docs_html(document: dict[str, Any]) -> str:
    """A self-contained HTML page (no scripts, no external resources) rendered from ``document``."""
    info: Json = document.get("info", {})
    title = str(info.get("title", "API"))
    operations: list[tuple[str, str, Json]] = []
    for path, item in document.get("paths", {}).items():
        for method in ("get", "put", "post", "delete", "patch", "head", "options"):
            if method in item:
                operations.append((path, method, item[method]))
    schemas: Json = document.get("components", {}).get("schemas", {})
    toc = ['<li><a href="#overview">Overview</a></li>', '<li><a href="#servers">Servers</a></li>']
    for path, method, operation in operations:
        anchor = _anchor(f"op {method} {path}")
        label = f"{method.upper()} {path}: {operation.get('summary', '')}"
        toc.append(f'<li><a href="#{_e(anchor)}">{_e(label)}</a></li>')
    for name in schemas:
        toc.append(f'<li><a href="#schema-{_e(_anchor(name))}">Schema {_e(name)}</a></li>')
    servers = _table(
        ["URL", "description"],
        [
            [f"<code>{_e(s.get('url', ''))}</code>", _inline(str(s.get("description", "")))]
            for s in document.get("servers", [])
        ],
    )
    description = _markdown(str(info.get("description", "")))
    body = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>\n{_STYLE}\n</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{_e(title)} <small>version {_e(info.get('version', ''))}, OpenAPI "
        f"{_e(document.get('openapi', ''))}</small></h1>",
        f"<p>{_inline(str(info.get('summary', '')))} The machine-readable document is at "
        '<a href="openapi.json"><code>/openapi.json</code></a>.</p>',
        "<nav><ul>" + "".join(toc) + "</ul></nav>",
        f'<section id="overview"><h2>Overview</h2>\n{description}\n</section>',
        f'<section id="servers"><h2>Servers</h2>\n{servers}\n</section>',
        *(_operation_html(document, path, method, op) for path, method, op in operations),
        '<section id="schemas"><h2>Schemas</h2>',
        *(_schema_html(name, schema) for name, schema in schemas.items()),
        "</section>",
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(body) + "\n"
