"""Where the real Twitter API samples live (../shared/fixtures beside the checkout).

Outside CI a checkout without them skips those tests; under CI (CI=true) they run regardless and fail
loudly when the folder is missing, so a green CI always read the real fixtures.
"""

import os
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
SKIP_WITHOUT_FIXTURES = not FIXTURES.is_dir() and not os.environ.get("CI")
REASON = "../shared/fixtures not present"
