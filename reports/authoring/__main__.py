"""`python -m reports.authoring [NAME…]`: rebuild the default templates from the outlines."""

import sys

from reports.authoring.build import build_all
from reports.authoring.outline import OutlineError

if __name__ == "__main__":
    try:
        for path in build_all(names=sys.argv[1:] or None):
            print(path)
    except OutlineError as exc:
        sys.exit(f"error: {exc}")
