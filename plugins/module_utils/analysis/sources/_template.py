# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Placeholders in the texts of the HTTP sources (a URL, a JSON body, a GraphQL query).

The same three forms as the PromQL templates (render.py): ``{{ name }}``, ``${name}`` and ``$name``;
``$$`` is a literal ``$``. Each value is escaped for where it lands, so no value can change the text's
meaning: percent-encoded in a URL, JSON-escaped inside a ``"..."`` string of a body or a GraphQL
query, and outside strings only a number or a name. In GraphQL ``$name`` is also a variable
reference (``$duration``): a ``$name`` that is no known variable stays as it is there.
"""

import json
import re
import urllib.parse

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.render import TemplateError

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_PLACEHOLDER = re.compile(
    r"\{\{-?\s*\.?(?:variables\.)?(?P<jinja>" + _IDENT + r")\s*-?\}\}"
    r"|\$\{\s*(?:variables\.)?(?P<braced>" + _IDENT + r")\s*\}"
    r"|\$(?P<plain>" + _IDENT + r")"
    r"|(?P<dollar>\$\$)"
)
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _text(name, value):
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list, tuple, set)):
        raise TemplateError("variable %r must be a string or a number, got %s" % (name, "null" if value is None else type(value).__name__))
    return repr(value) if isinstance(value, float) else str(value)


def _value(match, variables, what, keep_unknown_plain):
    """``(name, text)`` of a placeholder, or ``(None, literal)`` for ``$$`` and kept GraphQL variables."""
    if match.group("dollar"):
        return None, "$"
    name = match.group("jinja") or match.group("braced") or match.group("plain")
    if name not in variables:
        if keep_unknown_plain and match.group("plain"):
            return None, match.group(0)
        raise TemplateError("unknown variable %r in the %s (%s); known variables: %s"
                            % (name, what, match.group(0), ", ".join(sorted(variables)) or "none"))
    return name, _text(name, variables[name])


def render_url(template, variables):
    """The URL with every value percent-encoded (a value cannot add a path segment or a parameter)."""
    out, pos = [], 0
    for match in _PLACEHOLDER.finditer(template):
        out.append(template[pos:match.start()])
        name, text = _value(match, variables, "url", False)
        out.append(text if name is None else urllib.parse.quote(text, safe=""))
        pos = match.end()
    out.append(template[pos:])
    return "".join(out)


def render_quoted(template, variables, what, graphql=False):
    """A JSON or GraphQL text: inside ``"..."`` values are JSON-escaped, outside only numbers and names."""
    out, pos, length, in_string = [], 0, len(template), False
    while pos < length:
        char = template[pos]
        if in_string and char == "\\":
            out.append(template[pos:pos + 2])
            pos += 2
            continue
        if graphql and not in_string and char == "#":
            end = template.find("\n", pos)
            end = length if end < 0 else end
            out.append(template[pos:end])
            pos = end
            continue
        if char in "{$":
            match = _PLACEHOLDER.match(template, pos)
            if match:
                name, text = _value(match, variables, what, graphql)
                if name is not None:
                    if in_string:
                        text = json.dumps(text)[1:-1]
                    elif not (_NUMBER.match(text) or _NAME.match(text)):
                        raise TemplateError(
                            "variable %r is used outside quotes in the %s, where only a number or a name is safe, but its value is %r: "
                            "put the placeholder inside quotes, e.g. \"%s\"" % (name, what, text, match.group(0)))
                out.append(text)
                pos = match.end()
                continue
        if char == '"':
            in_string = not in_string
        out.append(char)
        pos += 1
    if in_string:
        raise TemplateError("the %s has an unterminated \" string" % what)
    return "".join(out)


def render_body(body, variables):
    """A request body: a dict or list is sent as JSON with placeholders in its strings (JSON encoding escapes
    them); a string is a JSON-like text rendered by ``render_quoted``."""
    if isinstance(body, str):
        return render_quoted(body, variables, "body")

    def walk(node):
        if isinstance(node, dict):
            return dict((key, walk(value)) for key, value in node.items())
        if isinstance(node, list):
            return [walk(value) for value in node]
        if isinstance(node, str):
            out, pos = [], 0
            for match in _PLACEHOLDER.finditer(node):
                out.append(node[pos:match.start()])
                out.append(_value(match, variables, "body", False)[1])
                pos = match.end()
            out.append(node[pos:])
            return "".join(out)
        return node
    return json.dumps(walk(body))
