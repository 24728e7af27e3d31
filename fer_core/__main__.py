"""``python -m fer_core``: see :mod:`fer_core.cli`."""

from fer_core.cli import main

raise SystemExit(main())
