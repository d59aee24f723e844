"""Files the package ships (templates, chart, CRDs) and the API groups of the custom kinds.

Both the renderer and the linter need these; neither may import the other, so they live here.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent
_REPO = _PKG.parent

# LeaderWorkerSet (sigs.k8s.io/lws): the group and served version of its CRD.
LWS_GROUP = "leaderworkerset.x-k8s.io"
LWS_API = f"{LWS_GROUP}/v1"


def resource_dir(name: str) -> Path:
    """`templates` or `charts`: the copy packaged in the wheel, else the checkout's (editable)."""
    packaged = _PKG / f"_{name}"
    if packaged.is_dir():
        return packaged
    checkout = _REPO / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"deploy-kit {name} not found (looked in {packaged} and {checkout})")
