# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render PromQL templates with escaped values.

Placeholders (all equivalent):

* ``{{ namespace }}`` / ``{{ variables.namespace }}`` -- Flagger's MetricTemplate syntax. In a
  playbook Jinja would render it first: write such a template with ``!unsafe`` or use the next form.
* ``$namespace`` / ``${namespace}`` -- ours, left alone by Jinja. ``$$`` is a literal ``$``;
  ``$1`` / ``${1}`` (label_replace groups) are not placeholders and stay as they are.

Every value is escaped for where it lands, so no value can end its string and add PromQL:

* inside ``"..."`` / ``'...'``: backslash, the quote and control characters are escaped;
* inside a regex matcher's string (``=~`` / ``!~``): regex metacharacters are escaped first, so
  the value matches literally (PromQL regexes are fully anchored);
* inside a raw ```...``` string: values with a backtick are refused (raw strings cannot escape);
* outside quotes: only a single number, duration (``1m30s``) or name (``[a-zA-Z_:][a-zA-Z0-9_:]*``).
"""

import re

BUILTIN_VARIABLES = ("name", "namespace", "target", "service", "interval")

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_PLACEHOLDER = re.compile(
    r"\{\{-?\s*\.?(?:variables\.)?(?P<jinja>" + _IDENT + r")\s*-?\}\}"
    r"|\$\{\s*(?:variables\.)?(?P<braced>" + _IDENT + r")\s*\}"
    r"|\$(?P<plain>" + _IDENT + r")"
    r"|(?P<dollar>\$\$)"
)
_DURATION = re.compile(r"^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$")
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_NAME = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")
_REGEX_META = set("\\.+*?()|[]{}^$")
_STRING_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\v": "\\v"}


class TemplateError(ValueError):
    """The template or a variable value cannot be rendered safely; the message says which and why."""


def is_duration(value):
    return isinstance(value, str) and bool(_DURATION.match(value))


def check_duration(value, field):
    """Return ``value`` if it is a Prometheus duration, else raise naming ``field``."""
    if not is_duration(value):
        raise TemplateError("%s %r is not a Prometheus duration such as 30s, 1m, 5m or 1h30m" % (field, value))
    return value


def escape_string(value, quote='"'):
    """Escape ``value`` for the inside of a PromQL string quoted with ``quote``."""
    out = []
    for char in value:
        if char == quote:
            out.append("\\" + char)
        elif char in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append("\\x%02x" % ord(char))
        else:
            out.append(char)
    return "".join(out)


def escape_regex(value):
    """Make ``value`` match itself literally in an RE2 (PromQL) regular expression."""
    return "".join("\\" + c if c in _REGEX_META else c for c in value)


def _scalar(name, value):
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list, tuple, set)):
        raise TemplateError("variable %r must be a string or a number, got %s" % (name, "null" if value is None else type(value).__name__))
    if isinstance(value, float):
        return repr(value)
    return str(value)


def uses_variable(template, name):
    """Whether ``template`` has a placeholder of ``name`` (in any of its spellings)."""
    for match in _PLACEHOLDER.finditer(template or ""):
        if name in (match.group("jinja"), match.group("braced"), match.group("plain")):
            return True
    return False


def render(template, variables):
    """Substitute ``variables`` (a dict) into ``template``; raises TemplateError.

    Unknown placeholders are an error listing the known ones, so a typo cannot silently reach
    Prometheus as literal text.
    """
    if not isinstance(template, str) or not template.strip():
        raise TemplateError("the query template is empty")
    out = []
    pos = 0
    quote = None        # the open string's quote character, or None outside strings
    regex = False       # the open string is the right-hand side of =~ or !~
    length = len(template)
    while pos < length:
        char = template[pos]
        if quote is None and char == "#":
            end = template.find("\n", pos)
            end = length if end < 0 else end
            out.append(template[pos:end])
            pos = end
            continue
        if quote is not None and quote != "`" and char == "\\":
            out.append(template[pos:pos + 2])
            pos += 2
            continue
        if char in "{$":
            match = _PLACEHOLDER.match(template, pos)
            if match:
                out.append(_substitute(match, variables, quote, regex))
                pos = match.end()
                continue
        if quote is None and char in "\"'`":
            quote = char
            regex = _after_regex_operator(template, pos)
        elif quote is not None and char == quote:
            quote = None
            regex = False
        out.append(char)
        pos += 1
    if quote is not None:
        raise TemplateError("the query template has an unterminated %s string: %s" % (quote, template))
    return "".join(out)


def _after_regex_operator(template, pos):
    before = template[:pos].rstrip()
    return before.endswith("=~") or before.endswith("!~")


def _substitute(match, variables, quote, regex):
    if match.group("dollar"):
        return "$"
    name = match.group("jinja") or match.group("braced") or match.group("plain")
    if name not in variables:
        raise TemplateError("unknown variable %r in the query template (%s); known variables: %s"
                            % (name, match.group(0), ", ".join(sorted(variables)) or "none"))
    value = _scalar(name, variables[name])
    if quote is None:
        if _NUMBER.match(value) or _DURATION.match(value) or _NAME.match(value):
            return value
        raise TemplateError(
            "variable %r is used outside quotes in the query template, where only a number, a duration or a metric/label "
            "name is safe, but its value is %r: put the placeholder inside quotes, e.g. label=\"%s\""
            % (name, value, match.group(0)))
    if regex:
        value = escape_regex(value)
    if quote == "`":
        if "`" in value:
            raise TemplateError("variable %r contains a backtick and is used inside a `raw` string, which cannot escape it: "
                                "use a \"double-quoted\" string in the template" % name)
        return value
    return escape_string(value, quote)
