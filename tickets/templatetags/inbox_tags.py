"""Small display helpers of the inbox templates."""

from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def smart_time(moment):
    """Today: the time; yesterday: "Yesterday"; this week: the weekday; else the short date."""
    if not moment:
        return ""
    local = timezone.localtime(moment)
    today = timezone.localdate()
    if local.date() == today:
        return date_format(local, "H:i")
    if local.date() == today - timedelta(days=1):
        return _("Yesterday")
    if today - local.date() < timedelta(days=7):
        return date_format(local, "D")
    return date_format(local, "SHORT_DATE_FORMAT")


@register.filter
def initials(name) -> str:
    words = [word for word in str(name or "").replace("+", "").split() if word]
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][:2].upper()
    return (words[0][0] + words[-1][0]).upper()


@register.filter
def hue(value) -> int:
    """A stable colour for an avatar (a number of degrees on the colour wheel)."""
    try:
        return (int(value) * 47) % 360
    except (TypeError, ValueError):
        return 210


@register.filter
def filesize(size) -> str:
    from django.template.defaultfilters import filesizeformat

    return filesizeformat(size) if size else ""


@register.filter
def reaction_author(who: str) -> str:
    return _("Customer") if who == "contact" else _("Agent")


COMMON_EMOJI = (
    "😀 😂 😊 😍 😉 😎 🤔 😅 😢 😡 🙏 👍 👎 👏 🙌 💪 👋 🤝 ❤️ 💙 🎉 ✅ ❌ ⚠️ ⏰ 📦 🚚 💰 📞 📍 📎 🔥 ⭐ 💬 👀 😴"
).split()


@register.simple_tag
def common_emoji() -> list[str]:
    """The composer's emoji menu: a short built-in list (no picker library to vendor)."""
    return COMMON_EMOJI
