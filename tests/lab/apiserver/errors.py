"""Kubernetes API errors and the `Status` bodies a real API server answers them with."""

from typing import List, Optional


class ApiError(Exception):
    """An API failure: `code` is the HTTP status, `reason` the Status reason (NotFound, Conflict, ...)."""

    def __init__(self, code: int, reason: str, message: str, details: Optional[dict] = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body

    def __repr__(self):
        return "ApiError(%d, %r, %r)" % (self.code, self.reason, self.message)


def _details(rtype, name: str) -> dict:
    details = {"name": name, "kind": rtype.plural}
    if rtype.group:
        details["group"] = rtype.group
    return details


def not_found(rtype, name: str) -> ApiError:
    return ApiError(404, "NotFound", '%s "%s" not found' % (rtype.group_resource, name), _details(rtype, name))


def namespace_not_found(namespace: str) -> ApiError:
    return ApiError(404, "NotFound", 'namespaces "%s" not found' % namespace, {"name": namespace, "kind": "namespaces"})


def already_exists(rtype, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (rtype.group_resource, name), _details(rtype, name))


def conflict(rtype, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        'Operation cannot be fulfilled on %s "%s": the object has been modified; please apply your changes to the latest version and try again'
        % (rtype.group_resource, name),
        _details(rtype, name),
    )


def invalid(rtype, name: str, causes: List[dict]) -> ApiError:
    """422 Invalid; each cause is {"reason": FieldValue..., "message": ..., "field": "spec.x"}."""
    summary = ", ".join("%s: %s" % (c["field"], c["message"]) if c.get("field") else c["message"] for c in causes)
    if len(causes) > 1:
        summary = "[%s]" % summary
    details = _details(rtype, name)
    details["kind"] = rtype.kind
    details["causes"] = causes
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (rtype.kind_in_group, name, summary), details)


def unsupported_dry_run(options_kind: str, values: List[str]) -> ApiError:
    """422 for a dryRun directive other than All (apimachinery's ValidateDryRun), before the request is processed."""
    shown = "[]string{%s}" % ", ".join('"%s"' % value for value in values)
    message = 'Unsupported value: %s: supported values: "All"' % shown
    return ApiError(422, "Invalid", '%s.meta.k8s.io "" is invalid: dryRun: %s' % (options_kind, message),
                    {"group": "meta.k8s.io", "kind": options_kind,
                     "causes": [{"reason": "FieldValueNotSupported", "message": message, "field": "dryRun"}]})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: "
                    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
                    if content_type else "unsupported media type")


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")
