"""What a simulated account is allowed, and on which site: as strict as the real API.

Tencent's two sites document different limits and page sizes (``exporter.cssapi``), the China
site retired DescribeLiveForbidStreamList in 2025 (a retired action answers ``ActionOffline`` or
``InvalidAction``), CAM policies scoped to domains deny the forbid list (it has no resource-level
authorisation) and may deny one domain's calls while allowing another's, and forbid entries may
come without DomainName/AppName. A policy holds those choices; the gateway asks it once per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exporter.cssapi import (
    FORBID_LIST,
    ONLINE_LIST,
    PUSH_INFO_LIST,
    SITE_FACTS,
    STATE,
    STRICT,
)
from exporter.simulator.errors import ApiError

FORBID_OK = "ok"
FORBID_DENIED = "denied"  # CAM: AuthFailure.UnauthorizedOperation
FORBID_RETIRED = ("ActionOffline", "InvalidAction")
FORBID_LIST_MODES = (FORBID_OK, FORBID_DENIED, *FORBID_RETIRED)
DENIED = "AuthFailure.UnauthorizedOperation"
# The request field that names the push domain, for the actions CAM authorises per domain.
_DOMAIN_PARAM = {STATE: "DomainName", ONLINE_LIST: "DomainName", PUSH_INFO_LIST: "PushDomain"}


@dataclass(frozen=True)
class Policy:
    site: str = STRICT  # china, intl, or strict (the stricter of the two)
    forbid_list: str = FORBID_OK  # one of FORBID_LIST_MODES
    denied_domains: frozenset[str] = frozenset()
    forbid_without_place: bool = False  # entries without DomainName and AppName
    # Upper page-size bounds replacing the site's (tests that want large pages on a small site).
    max_page_size: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.site not in SITE_FACTS:
            raise ValueError(f"site: expected one of {', '.join(SITE_FACTS)}, got {self.site!r}")
        if self.forbid_list not in FORBID_LIST_MODES:
            raise ValueError(
                f"forbid_list: expected one of {', '.join(FORBID_LIST_MODES)},"
                f" got {self.forbid_list!r}"
            )

    @property
    def limits(self) -> Mapping[str, int]:
        return SITE_FACTS[self.site].limits

    def page_range(self, action: str) -> tuple[int, int]:
        low, high = SITE_FACTS[self.site].page_sizes[action]
        return low, self.max_page_size.get(action, high)

    def check(self, action: str, params: Mapping[str, object]) -> None:
        """Raise the error the real API answers when this account may not make this call."""
        if action == FORBID_LIST:
            if self.forbid_list == FORBID_DENIED:
                raise ApiError(DENIED, "You are not authorized to perform this operation (CAM).")
            if self.forbid_list in FORBID_RETIRED:
                raise ApiError(
                    self.forbid_list, f"The action `{FORBID_LIST}` has been taken offline."
                )
        name = _DOMAIN_PARAM.get(action)
        domain = params.get(name) if name is not None else None
        if isinstance(domain, str) and domain in self.denied_domains:
            raise ApiError(
                DENIED, f"You are not authorized to perform {action} on domain {domain} (CAM)."
            )
