"""How a text travels as SMS: its encoding, its size and how many pages it takes.

A text made only of characters of the GSM 03.38 default alphabet (3GPP TS 23.038)
goes as GSM-7: one septet per character, two for a character of the extension table
(an escape and the character). Anything else goes as UCS-2, counted in UTF-16 code
units, so a character outside the Basic Multilingual Plane (most emoji) counts two.

One page holds 160 septets or 70 code units. A longer text is split into pages of
153 septets or 67 code units (the rest of each page is the concatenation header),
and a page never ends between the two halves of an escape or of a surrogate pair:
such a character moves whole to the next page, which can add a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["gsm7", "ucs2"]

# The default alphabet in table order, less ESC (0x1B), which is not a character.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each is sent as ESC + one septet.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
GSM7_CHARS = GSM7_BASIC | GSM7_EXTENSION

GSM7_SINGLE_PAGE = 160
GSM7_PAGE = 153
UCS2_SINGLE_PAGE = 70
UCS2_PAGE = 67


@dataclass(frozen=True, slots=True)
class MessageEncoding:
    encoding: Encoding
    units: int  # septets (gsm7) or UTF-16 code units (ucs2)
    pages: int  # 0 for an empty text


def encode_info(text: str) -> MessageEncoding:
    if GSM7_CHARS.issuperset(text):
        sizes = [2 if char in GSM7_EXTENSION else 1 for char in text]
        return MessageEncoding("gsm7", sum(sizes), _pages(sizes, GSM7_SINGLE_PAGE, GSM7_PAGE))
    sizes = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return MessageEncoding("ucs2", sum(sizes), _pages(sizes, UCS2_SINGLE_PAGE, UCS2_PAGE))


def _pages(sizes: list[int], single_page: int, page: int) -> int:
    """Pages for characters of these sizes, filling each page greedily without
    splitting a character."""
    units = sum(sizes)
    if units == 0:
        return 0
    if units <= single_page:
        return 1
    pages, used = 1, 0
    for size in sizes:
        if used + size > page:
            pages, used = pages + 1, 0
        used += size
    return pages
