"""Content negotiation (RFC 9110 section 12.5.1): which of the media types an endpoint can give the request's
Accept header takes. No Accept header, or one that takes anything (*/*), gets the first offer (the default);
an Accept header that takes none of them is a 406 problem naming what the endpoint can give."""
from __future__ import annotations

from solver.service.problems import ProblemError


def _ranges(accept: str) -> list[tuple[str, float]]:
    """The media ranges of an Accept header with their weights (q; 1 when not given or not a number in 0..1)."""
    out = []
    for part in accept.split(","):
        kind, *params = [p.strip() for p in part.split(";")]
        if not kind:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(1.0, max(0.0, float(value.strip())))
                except ValueError:
                    q = 1.0
        out.append((kind.lower(), q))
    return out


def _weight(offer: str, ranges: list[tuple[str, float]]) -> float:
    """The weight the Accept header gives offer: that of the most specific range matching it (0: none does)."""
    major = offer.split("/")[0]
    best, specific = 0.0, -1
    for kind, q in ranges:
        level = 2 if kind == offer else 1 if kind == f"{major}/*" else 0 if kind == "*/*" else -1
        if level > specific:
            best, specific = q, level
    return best if specific >= 0 else 0.0


def choose(accept: str | None, offers: tuple[str, ...]) -> str:
    """The offer to answer with: the one the Accept header weighs highest (the first of equals)."""
    if not accept or not accept.strip():
        return offers[0]
    ranges = _ranges(accept)
    weights = [_weight(offer, ranges) for offer in offers]
    best = max(weights)
    if best <= 0:
        raise ProblemError(406, "not-acceptable", f"this endpoint cannot answer as {accept.strip()[:200]!r}; it gives "
                           f"{offers[0]} (the default){''.join(' or ' + o for o in offers[1:])}: send one of these in the Accept header, or none",
                           "Accept")
    return offers[weights.index(best)]
