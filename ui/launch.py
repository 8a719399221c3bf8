"""Start the Streamlit server with `app.py` as the only router: `python -m ui.launch [options]`.

Streamlit treats a `pages/` folder beside the entry script as a v1 multipage app until the
first `st.navigation` call of the process. A first visit by deep link (`/descriptions`) would
then run the page without the router: wrong sidebar, no page config. Declaring the v2 mode
before the server starts makes every link go through `app.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP_PATH = Path(__file__).resolve().parents[1] / "app.py"


def main(argv: list[str] | None = None) -> None:
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli

    PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", "run", str(APP_PATH), *(sys.argv[1:] if argv is None else argv)]
    cli.main()


if __name__ == "__main__":
    main()
