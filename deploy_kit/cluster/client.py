"""Kubernetes API access: which cluster (kubeconfig or in-cluster), one bounded call, its errors."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deploy_kit.cluster.objects import one_line
from deploy_kit.errors import DeployKitError, EnvironmentMissing, InputError

# (connect, read) seconds: an unreachable API server fails fast instead of hanging the CLI.
TIMEOUT = (5.0, 30.0)
_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class Connection:
    """An API client for one cluster and the namespace its context defaults to."""

    api: Any = field(repr=False)
    host: str
    context: str | None
    namespace: str


def connect(kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """A client from --kubeconfig, then $KUBECONFIG, ~/.kube/config, then in-cluster config."""
    from kubernetes import client
    from kubernetes import config as _config

    config: Any = _config  # the config loaders are untyped
    cfg = client.Configuration()
    path = _kubeconfig_path(kubeconfig)
    namespace = "default"
    try:
        if path is not None:
            config.load_kube_config(
                config_file=path, context=context, client_configuration=cfg, persist_config=False
            )
            contexts, current = config.list_kube_config_contexts(config_file=path)
            chosen = context or (current or {}).get("name")
            for ctx in contexts or []:
                if ctx.get("name") == chosen:
                    namespace = (ctx.get("context") or {}).get("namespace") or "default"
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=cfg)
            if _SA_NAMESPACE.is_file():
                namespace = _SA_NAMESPACE.read_text().strip() or "default"
            chosen = "in-cluster"
        else:
            raise EnvironmentMissing(
                "no cluster access: no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) "
                "and not running inside a cluster",
                hint="pass --kubeconfig FILE, or work offline with --from-file nodes.json",
            )
    except config.ConfigException as exc:
        where = path or "in-cluster config"
        raise EnvironmentMissing(f"cannot use {where}: {one_line(exc)}") from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError) as exc:
        where = path or "in-cluster config"
        raise EnvironmentMissing(f"cannot read {where}: {one_line(exc)}") from None
    cfg.retries = 1
    return Connection(
        api=client.ApiClient(configuration=cfg), host=cfg.host, context=chosen, namespace=namespace
    )


class HttpStatusError(Exception):
    """A non-2xx answer from the API server."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def api_call(conn: Connection, action: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """Call one client method; transport failures become EnvironmentMissing, HTTP errors
    HttpStatusError (the caller decides what a 404 or 409 means)."""
    import urllib3
    from kubernetes.client.exceptions import ApiException

    try:
        return fn(*args, _request_timeout=TIMEOUT, **kw)
    except ApiException as exc:
        if not exc.status:
            raise EnvironmentMissing(
                f"cannot {action}: TLS or transport error talking to {conn.host}: "
                f"{one_line(exc.reason)}"
            ) from None
        raise HttpStatusError(int(exc.status), _status_message(exc)) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise EnvironmentMissing(
            f"cannot reach the cluster at {conn.host} to {action}: {_transport_reason(exc)}",
            hint="check the kubeconfig context, VPN and that the API server is up",
        ) from None


def fatal_error(conn: Connection, action: str, err: HttpStatusError) -> DeployKitError:
    """The error for an HTTP failure nobody handles: access problems exit 4, the rest 2."""
    if err.status in (401, 403) or err.status >= 500:
        hint = "check your credentials and RBAC for this action" if err.status < 500 else None
        return EnvironmentMissing(f"cannot {action} on {conn.host}: {err.message}", hint=hint)
    return InputError(f"cannot {action}: {err.message}")


def json_body(response: Any) -> Any:
    """The decoded body of a `_preload_content=False` response; not JSON means a proxy answered."""
    data = response.data
    try:
        return json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except (ValueError, TypeError):
        raise EnvironmentMissing(
            "the API server answered with something that is not JSON (a proxy in the way?)"
        ) from None


def _kubeconfig_path(flag: str | None) -> str | None:
    if flag:
        if not Path(flag).expanduser().is_file():
            raise EnvironmentMissing(f"no cluster access: kubeconfig {flag} does not exist")
        return str(Path(flag).expanduser())
    env = os.environ.get("KUBECONFIG", "")
    if env.strip():
        files = [p for p in env.split(os.pathsep) if p.strip()]
        if not any(Path(p).expanduser().is_file() for p in files):
            raise EnvironmentMissing(f"no cluster access: $KUBECONFIG names no file ({env})")
        return env
    default = Path("~/.kube/config").expanduser()
    return str(default) if default.is_file() else None


def _transport_reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    errno = re.search(r"\[Errno -?\d+\][^')\"]*", text)
    return one_line(errno.group(0) if errno else f"{type(reason).__name__}: {text}", 160)


def _status_message(exc: Any) -> str:
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return one_line(f"{exc.status} {body.get('reason') or exc.reason}: {body['message']}")
    return one_line(f"{exc.status} {exc.reason}")
