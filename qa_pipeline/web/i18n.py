"""The review app's languages (zh-CN and en): gettext catalogues, labels and local times.

Messages are English msgids translated by the Babel/gettext catalogue
``locale/<lang>/LC_MESSAGES/messages.po`` (the ``.po`` text is compiled in memory when first
used, so no binary ``.mo`` file is kept in the repository). A user's language is the one
they picked (stored on their user record; before sign-in, cookie ``callqa_lang``), else
their tenant's first call language. Times are shown in the tenant's time zone, numbers and
percentages in the user's locale.
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LANGUAGES = {"zh_CN": "中文", "en": "English"}
"""Interface languages, by gettext locale name, with their own names for the switcher."""
LANG_COOKIE = "callqa_lang"
_LOCALE_DIR = Path(__file__).resolve().parent / "locale"
_CURRENT: ContextVar[str] = ContextVar("callqa_ui_language", default="en")


def _(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


# Labels of the values the pipeline stores (msgids; translated when rendered).
STATUS_LABELS = {"pass": _("pass"), "fail": _("fail"), "not_applicable": _("not applicable"),
                 "needs_review": _("needs review")}
SEVERITY_LABELS = {"fatal": _("fatal"), "non_fatal": _("non-fatal"), "flag": _("observation")}
GRADE_LABELS = {"A": _("A Outstanding (≥ 95)"), "B": _("B Very good (90–94)"),
                "C": _("C Good (80–89)"), "D": _("D Fair (71–79)"), "E": _("E Poor (≤ 70)")}
SENTIMENT_LABELS = {"negative": _("negative"), "neutral": _("neutral"),
                    "positive": _("positive")}
METRIC_LABELS = {
    "duration_s": _("call length (s)"),
    "talk_time_agent_s": _("agent talk time (s)"),
    "talk_time_customer_s": _("customer talk time (s)"),
    "talk_ratio_agent": _("agent talk share (0–1)"),
    "talk_ratio_customer": _("customer talk share (0–1)"),
    "silence_total_s": _("total silence (s)"),
    "silence_ratio": _("silence share (0–1)"),
    "longest_silence_s": _("longest silence (s)"),
    "dead_air_count": _("dead air (count)"),
    "dead_air_total_s": _("total dead air (s)"),
    "longest_dead_air_s": _("longest dead air (s)"),
    "hold_count": _("holds (count)"),
    "longest_hold_s": _("longest hold (s)"),
    "overtalk_total_s": _("overtalk (s)"),
    "overtalk_count": _("overtalk (count)"),
    "overtalk_started_by_agent": _("overtalk started by the agent (count)"),
    "overtalk_started_by_customer": _("overtalk started by the customer (count)"),
    "interruptions_agent": _("agent interruptions (count)"),
    "interruptions_customer": _("customer interruptions (count)"),
    "speech_rate_agent": _("agent speech rate (units/min)"),
    "speech_rate_customer": _("customer speech rate (units/min)"),
    "response_latency_mean_s": _("mean response latency (s)"),
    "response_latency_max_s": _("longest response latency (s)"),
}
ROLE_LABELS = {"agent": _("agent"), "customer": _("customer"), "unknown": _("unknown")}
USER_ROLE_LABELS = {"admin": _("administrator"), "supervisor": _("supervisor"),
                    "qa_monitor": _("QA monitor"), "trainer": _("trainer"),
                    "agent": _("agent")}
GROUPING_LABELS = {"tenant": _("whole tenant"), "team": _("per team"), "agent": _("per agent"),
                   "day": _("per day"), "agent_day": _("per agent and day"),
                   "team_day": _("per team and day")}
DIRECTION_LABELS = {"inbound": _("inbound"), "outbound": _("outbound")}
AUDIT_ACTION_LABELS = {
    "review.item": _("reviewed an item"),
    "review.confirm_remaining": _("confirmed the remaining items"),
    "review.assign": _("assigned the call"),
    "dispute.raise": _("raised a dispute"),
    "dispute.decide": _("decided a dispute"),
    "case.tag": _("tagged the call as a case"),
    "case.untag": _("removed a case tag"),
}
# What an audit entry's fields are, in the order a reader wants them.
AUDIT_FIELD_LABELS = {
    "criterion_id": _("criterion"), "status": _("decision"), "item_status": _("verdict"),
    "total_score": _("score"), "grade": _("grade"), "has_fatal": _("fatal error"),
    "utterances": _("lines pointed at"), "confirmed": _("confirmed"),
    "assignee": _("assignee"), "label": _("case label"), "reason": _("reason"),
    "note": _("note"), "comment": _("comment"),
}
DISPUTE_STATUS_LABELS = {"open": _("open"), "upheld": _("upheld"), "rejected": _("rejected")}
SERVER_MESSAGES = (
    # Messages the server hands to the page as they are (sign-in errors).
    _("wrong user name or password"), _("too many failed attempts; try again later"),
    _("unclassified"),
)


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of a language (English needs none: msgids are English)."""
    if language == "en":
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po = _LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as f:
        catalog = read_po(f, locale=language)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def gettext_now(message: str) -> str:
    """``message`` in the language of the request being rendered."""
    return translations(_CURRENT.get()).gettext(message)


def ngettext_now(singular: str, plural: str, n: int) -> str:
    """Plural-aware ``gettext_now``."""
    return translations(_CURRENT.get()).ngettext(singular, plural, n)


def use_language(language: str) -> None:
    """Render what follows (in this request's context) in ``language``."""
    _CURRENT.set(language if language in LANGUAGES else "en")


def current_language() -> str:
    """The language being rendered."""
    return _CURRENT.get()


def pick_language(chosen: str | None, tenant_languages: tuple[str, ...]) -> str:
    """The user's choice if valid, else the tenant's first call language."""
    if chosen in LANGUAGES:
        return str(chosen)
    for lang in tenant_languages:
        if lang.startswith("zh"):
            return "zh_CN"
        if lang.startswith("en"):
            return "en"
    return "en"


@dataclass(frozen=True, slots=True)
class TenantDisplay:
    """How a tenant's pages are shown: its call languages and its time zone."""

    languages: tuple[str, ...] = ("en",)
    timezone: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        """The time zone object (UTC when the name is unknown)."""
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")


def local_time(value: str | dt.datetime | None, zone: ZoneInfo, *,
               naive_is_utc: bool = True) -> str:
    """``YYYY-MM-DD HH:MM`` in ``zone`` with its abbreviation, from an ISO string or a
    datetime. Naive values are UTC (how the store keeps ``started_at_utc``).
    """
    if not value:
        return ""
    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        if not naive_is_utc:
            return when.strftime("%Y-%m-%d %H:%M")
        when = when.replace(tzinfo=dt.timezone.utc)
    local = when.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def percent(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage in the current language ("96.5%")."""
    if value is None:
        return "—"
    from babel.numbers import format_percent

    pattern = "#,##0." + "0" * digits + "%" if digits else "#,##0%"
    return str(format_percent(value, format=pattern, locale=_CURRENT.get()))


def duration(seconds: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``) of a call length."""
    if seconds is None:
        return ""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def label(table: dict[str, str], value: str) -> str:
    """A stored value's translated label (the value itself when it has none)."""
    msgid = table.get(value)
    return gettext_now(msgid) if msgid else value


def audit_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """An audit entry's fields as translated lines ("verdict: fail → pass", "lines pointed
    at: #2, #5"), in a fixed order; unknown fields are left out rather than shown raw.
    """
    old = dict(before or {})
    new = dict(after or {})
    nested = new.pop("before", None)  # an upheld dispute's item as it was
    if isinstance(nested, dict):
        old = {**nested, **old}
    lines = []
    for key, msgid in AUDIT_FIELD_LABELS.items():
        if _blank(old.get(key)) and _blank(new.get(key)):
            continue
        shown = [_audit_value(key, v) for v in (old.get(key), new.get(key))]
        if key in old and old[key] != new.get(key):
            value = f"{shown[0]} → {shown[1]}"
        else:
            value = shown[1]
        lines.append(f"{gettext_now(msgid)}: {value}")
    return lines


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == []


def _audit_value(key: str, value: Any) -> str:
    if _blank(value):
        return "—"
    if key == "item_status":
        return label(STATUS_LABELS, str(value))
    if key == "status":
        return label(DISPUTE_STATUS_LABELS, str(value))
    if key == "has_fatal":
        return gettext_now(_("yes")) if value else gettext_now(_("no"))
    if key == "total_score" and isinstance(value, (int, float)):
        return f"{value:g}"
    if key == "utterances" and isinstance(value, list):
        return ", ".join(f"#{i}" for i in value)
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def template_globals() -> dict[str, Any]:
    """Helpers the templates call."""
    return {
        "status_label": lambda v: label(STATUS_LABELS, v),
        "severity_label": lambda v: label(SEVERITY_LABELS, v),
        "grade_label": lambda v: label(GRADE_LABELS, v),
        "sentiment_label": lambda v: label(SENTIMENT_LABELS, v),
        "metric_label": lambda v: label(METRIC_LABELS, v),
        "role_label": lambda v: label(ROLE_LABELS, v),
        "user_role_label": lambda v: label(USER_ROLE_LABELS, v),
        "grouping_label": lambda v: label(GROUPING_LABELS, v),
        "direction_label": lambda v: label(DIRECTION_LABELS, v),
        "audit_action_label": lambda v: label(AUDIT_ACTION_LABELS, v),
        "audit_changes": audit_changes,
        "percent": percent,
        "duration": duration,
        "languages": LANGUAGES,
        "current_language": current_language,
    }
