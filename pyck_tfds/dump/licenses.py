"""Mushroom Observer's image licences: the export's display names, as short ids users can select by.

`images.csv` names each image's licence by its display name on the site (the `licenses` table);
pyck stores and filters by the short id beside it. A name not listed here keeps its display name as
its id, so a licence MO adds later is carried through, never dropped.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class License:
    id: str
    display_name: str
    url: str
    redistributable: bool  # may be passed on in a dataset others download (with attribution)


KNOWN_LICENSES = (
    License("CC-BY-SA-3.0", "Creative Commons Wikipedia Compatible v3.0",
            "https://creativecommons.org/licenses/by-sa/3.0/", True),
    License("CC-BY-4.0", "Creative Commons Attribution v4.0 (Wikipedia compatible)",
            "https://creativecommons.org/licenses/by/4.0/", True),
    License("CC-BY-NC-SA-3.0", "Creative Commons Non-commercial v3.0",
            "https://creativecommons.org/licenses/by-nc-sa/3.0/", False),
    License("CC-BY-NC-SA-2.5", "Creative Commons Non-commercial v2.5",
            "https://creativecommons.org/licenses/by-nc-sa/2.5/", False),
    License("CC-BY-NC-4.0", "Creative Commons Attribution Non-commercial v4.0",
            "https://creativecommons.org/licenses/by-nc/4.0/", False),
    License("CC0", "Public Domain", "https://creativecommons.org/public-domain/cc0/", True),
    License("CC0-legacy", "Public Domain (legacy)", "https://creativecommons.org/publicdomain/zero/1.0/", True),
    License("all-rights-reserved", "All Rights Reserved", "https://en.wikipedia.org/wiki/All_rights_reserved", False),
)
BY_DISPLAY_NAME = {license.display_name: license for license in KNOWN_LICENSES}
REDISTRIBUTABLE = tuple(license.id for license in KNOWN_LICENSES if license.redistributable)


def license_id(display_name: str | None) -> str | None:
    """The short id of an export display name (the name itself when pyck does not know it)."""
    if display_name is None:
        return None
    known = BY_DISPLAY_NAME.get(display_name)
    return known.id if known else display_name
