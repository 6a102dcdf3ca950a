"""Text the public sees (listing and bundle titles and descriptions, project names) is checked for investment
language before anything is stored: registry.wording finds the phrase, this module turns it into the refusal."""

from collections.abc import Mapping

from node.errors import InvalidRequest
from registry.wording import find_in_fields, phrases

# Read (and check) the phrase list and build the normaliser's tables when the node starts, not on the first
# listing: a broken row then stops the node at once, and no request pays the ~0.15 s.
phrases()


def check_public_text(fields: Mapping[str, str]) -> None:
    """Refuse (422 financial_wording) naming the field and the listed phrase; the text itself is not echoed."""
    found = find_in_fields(fields)
    if found is not None:
        field, wording = found
        raise InvalidRequest(
            "financial_wording", f"{field}: investment wording is not allowed: {wording.phrase!r} ({wording.why})"
        )
